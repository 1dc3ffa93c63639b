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
_NO_CONFIG = (None, False)


def _minimal(profile: Any) -> bool:
    # `_name_`, not `.name`: an enum's `name` is a Python-level descriptor.
    return getattr(profile, "_name_", None) == "MINIMAL"


def _same(got: list[Any], want: list[tuple[Any, ...]]) -> bool:
    """The kept domain events are the wanted emits: same names and payloads, in order."""
    if len(got) != len(want):
        return False
    for ev, op in zip(got, want):  # noqa: B905  # lengths compared above
        if ev.name != op[1] or not strict_equal(ev.payload, op[2]):
            return False
    return True


def check_event_profile(obs: Observation) -> list[Violation]:
    """Each attempt's domain events are its accepted emits, filtered by the run's profile."""
    out = Out(INVARIANT.name, obs)
    if not obs.handler_journal:
        return out.items
    # Keyed by the id's number: a UUID's own hash is Python-level. Each run's config with
    # whether its profile is MINIMAL, judged once per run rather than once per attempt.
    configs = {
        log.run_id.int: (
            log.run_config,
            log.run_config is not None and _minimal(log.run_config.event_profile),
        )
        for log in derive(obs).logs
    }
    for (run_id, state, attempt), entries, span in matched(obs):
        terminal = span.terminal
        if terminal is None or len(entries) != 1:
            continue
        cfg, minimal = configs.get(run_id.int, _NO_CONFIG)
        if cfg is None:
            continue
        entry = entries[0]
        if entry.ended is None:
            continue
        # `span.failure_code`, inline: a recovered orphan's attempt is not the handler's.
        if getattr(getattr(terminal.event, "error", None), "code", None) == ORPHAN_CODE:
            continue
        # The accepted emits other than fact_recorded, as ops ("emit", name, payload, None).
        want = []
        if not minimal:
            for op in entry.ops:
                if op[0] == "emit" and op[3] is None and op[1] != _FACT:
                    want.append(op)
        got = []
        for env in span.domain:
            if (ev := env.event).name != _FACT:
                got.append(ev)
        if _same(got, want) or (not span.completed and not got):
            continue
        out.add(
            run_id,
            (span.entered.seq, span.terminal.seq),
            f"{state} attempt {attempt} under {cfg.event_profile.name}: kept "
            f"{[ev.name for ev in got]}, the profile keeps {[op[1] for op in want]}",
        )
    return out.items


INVARIANT = Invariant(
    "event_profile",
    None,
    "each attempt keeps exactly the domain events its profile keeps of those it emitted",
    check_event_profile,
)
