"""Promise: the event profile keeps exactly what it should (ENGINE.md, "Events": MINIMAL keeps
only `fact_recorded` of the domain events and drops the rest silently; NORMAL, VERBOSE and
CUSTOM keep them; "One attempt", 3: the recorder is filtered by the profile).

For every handler invocation that returned and whose attempt the durable log closes itself
(not as a recovered orphan), the domain events in the attempt's span, other than
`fact_recorded`, are exactly the events the handler emitted and the engine accepted, in
order, filtered by the run's profile. A failed attempt may keep them or drop them all
(ENGINE.md does not say which), but never keep some or others.
"""

from __future__ import annotations

from typing import Any

from mfm_sim.invariants.attempt_spans import matched, strict_equal
from mfm_sim.invariants.derive import ORPHAN_CODE, Out, derive
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_event_profile"]

_FACT = "fact_recorded"


def _kept(profile: Any, emitted: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    if getattr(profile, "name", None) == "MINIMAL":
        return []  # only fact_recorded, which is left out of both sides
    return emitted


def check_event_profile(obs: Observation) -> list[Violation]:
    """Each attempt's domain events are its accepted emits, filtered by the run's profile."""
    out = Out(INVARIANT.name, obs)
    if not obs.handler_journal:
        return out.items
    configs = {log.run_id: log.run_config for log in derive(obs).logs}
    for (run_id, state, attempt), entries, span in matched(obs):
        cfg = configs.get(run_id)
        if span.terminal is None or cfg is None or len(entries) != 1:
            continue
        entry = entries[0]
        if entry.ended is None or span.failure_code == ORPHAN_CODE:
            continue
        emitted = [(op[1], op[2]) for op in entry.ops if op[0] == "emit" and op[3] is None]
        want = _kept(cfg.event_profile, [e for e in emitted if e[0] != _FACT])
        got = [
            (env.event.name, env.event.payload) for env in span.domain if env.event.name != _FACT
        ]
        same = len(got) == len(want) and all(
            g[0] == w[0] and strict_equal(g[1], w[1]) for g, w in zip(got, want, strict=True)
        )
        if same or (not span.completed and not got):
            continue
        out.add(
            run_id,
            (span.entered.seq, span.terminal.seq),
            f"{state} attempt {attempt} under {cfg.event_profile.name}: kept "
            f"{[g[0] for g in got]}, the profile keeps {[w[0] for w in want]}",
        )
    return out.items


INVARIANT = Invariant(
    "event_profile",
    None,
    "each attempt keeps exactly the domain events its profile keeps of those it emitted",
    check_event_profile,
)
