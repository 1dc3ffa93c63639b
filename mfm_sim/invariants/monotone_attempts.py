"""Invariant 3, monotone attempts: attempts 0,1,2,... per state; a retry only after a
retryable failure within max_attempts; nothing after the state completed."""

from __future__ import annotations

from mfm_engine.events import EventEnvelope, RunStatus, StateFailed

from mfm_sim.invariants.derive import COMPLETED, ENTERED, FAILED, FINISHED, Out, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_monotone_attempts"]


def check_monotone_attempts(obs: Observation) -> list[Violation]:
    """Per state, attempts 0,1,2,...; a retry only after a retryable failure and below
    max_attempts; nothing after the state completed; a FAILED run gave up only when it had to."""
    out = Out(INVARIANT.name, obs)
    for log in each_run(obs):
        rid = log.run_id
        max_attempts = (
            log.run_config.retry_policy.max_attempts if log.run_config is not None else None
        )
        last_entered: dict[str, tuple[int, int]] = {}  # state -> (attempt, seq)
        # state -> its latest StateCompleted/StateFailed, and whether that was a failure
        last_terminal: dict[str, tuple[EventEnvelope, bool]] = {}
        completed_seq: dict[str, int] = {}
        # The latest StateCompleted/StateFailed of any state, and whether it was a failure.
        last_close: EventEnvelope | None = None
        last_close_failed = False
        for code, env, ev in log.kernel:
            if code == ENTERED:
                sid = ev.state_id
                if sid in completed_seq:
                    out.add(
                        rid,
                        (completed_seq[sid], env.seq),
                        f"{sid} entered (attempt {ev.attempt}) after it completed "
                        f"at seq {completed_seq[sid]}",
                    )
                prev = last_entered.get(sid)
                expected = 0 if prev is None else prev[0] + 1
                if ev.attempt != expected:
                    out.add(
                        rid,
                        (prev[1] if prev else None, env.seq),
                        f"{sid} entered at attempt {ev.attempt}, expected attempt {expected}",
                    )
                if max_attempts is not None and ev.attempt >= max_attempts:
                    out.add(
                        rid,
                        (env.seq,),
                        f"{sid} attempt {ev.attempt} is beyond max_attempts {max_attempts}",
                    )
                term = last_terminal.get(sid)
                if term is not None and term[1] and not term[0].event.error.retryable:  # type: ignore[union-attr]
                    out.add(
                        rid,
                        (term[0].seq, env.seq),
                        f"{sid} retried after a non-retryable failure ({term[0].event.error.code})",  # type: ignore[union-attr]
                    )
                last_entered[sid] = (ev.attempt, env.seq)
            elif code == COMPLETED:
                completed_seq.setdefault(ev.state_id, env.seq)
                last_terminal[ev.state_id] = (env, False)
                last_close, last_close_failed = env, False
            elif code == FAILED:
                last_terminal[ev.state_id] = (env, True)
                last_close, last_close_failed = env, True
            elif code == FINISHED and ev.status is RunStatus.FAILED:
                if last_close is None or not last_close_failed:
                    out.add(rid, (env.seq,), "RunCompleted(FAILED) without a preceding StateFailed")
                    continue
                failed = last_close.event
                assert isinstance(failed, StateFailed)
                if not failed.error.retryable or max_attempts is None:
                    continue
                attempt = last_entered.get(failed.state_id, (None, None))[0]
                if attempt is not None and attempt + 1 < max_attempts:
                    out.add(
                        rid,
                        (last_close.seq, env.seq),
                        f"run FAILED although {failed.state_id}'s retryable failure "
                        f"at attempt {attempt} "
                        f"allowed a retry (max_attempts {max_attempts})",
                    )
    return out.items


INVARIANT = Invariant(
    "monotone_attempts",
    3,
    "attempts 0,1,2,...; retry only after a retryable failure within max_attempts",
    check_monotone_attempts,
)
