"""Invariant 4, attempt envelopes: each attempt closed once before the next; orphans
retried from their base snapshot."""

from __future__ import annotations

from typing import Any

from mfm_engine.events import EventEnvelope

from mfm_sim.invariants.derive import (
    COMPLETED,
    ENTERED,
    FAILED,
    FINISHED,
    ORPHAN_CODE,
    STARTED,
    Out,
    each_run,
    event_kind,
)
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_attempt_envelopes"]


def check_attempt_envelopes(obs: Observation) -> list[Violation]:
    """Each StateEntered is closed by exactly one terminal of its state before the next one;
    only the last attempt of an unfinished run may stay open; a retry after
    `orphan_attempt_recovered` starts from the orphan's base snapshot."""
    out = Out(INVARIANT.name, obs)
    for log in each_run(obs):
        rid = log.run_id
        open_env: EventEnvelope | None = None
        o: Any = None  # the open attempt's StateEntered
        # state -> (seq of the closing failure, orphan's base)
        orphans: dict[str, tuple[int, str]] = {}
        for code, env, ev in log.kernel:
            if code == ENTERED:
                if open_env is not None:
                    out.add(
                        rid,
                        (open_env.seq, env.seq),
                        f"{ev.state_id} entered while attempt {o.attempt} of {o.state_id} "
                        f"(seq {open_env.seq}) is still open",
                    )
                if orphans:
                    orphan = orphans.pop(ev.state_id, None)
                    if orphan is not None and ev.base_snapshot_id != orphan[1]:
                        out.add(
                            rid,
                            (orphan[0], env.seq),
                            f"{ev.state_id} retried after orphan recovery from base "
                            f"{ev.base_snapshot_id[:12]}, "
                            f"not the orphan's base {orphan[1][:12]}",
                        )
                open_env, o = env, ev
            elif code in (COMPLETED, FAILED):
                if open_env is None:
                    out.add(
                        rid,
                        (env.seq,),
                        f"{event_kind(env)} of {ev.state_id} closes no open attempt",
                    )
                    continue
                if o.state_id != ev.state_id:
                    out.add(
                        rid,
                        (open_env.seq, env.seq),
                        f"{event_kind(env)} of {ev.state_id} closes the attempt of {o.state_id} "
                        f"(seq {open_env.seq})",
                    )
                elif code == FAILED and ev.error.code == ORPHAN_CODE:
                    orphans[ev.state_id] = (env.seq, o.base_snapshot_id)
                open_env = o = None
            elif code in (STARTED, FINISHED) and open_env is not None:
                out.add(
                    rid,
                    (open_env.seq, env.seq),
                    f"{event_kind(env)} inside the open attempt {o.attempt} of {o.state_id}",
                )
                open_env = o = None
        if open_env is not None and log.finish is not None:
            out.add(
                rid,
                (open_env.seq,),
                f"attempt {o.attempt} of {o.state_id} is open in a finished run",
            )
    return out.items


INVARIANT = Invariant(
    "attempt_envelopes",
    4,
    "each attempt closed once before the next; orphans retried from their base",
    check_attempt_envelopes,
)
