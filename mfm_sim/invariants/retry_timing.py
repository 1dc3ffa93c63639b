"""Invariant 12, retry timing: within an incarnation, a retry waits exactly the policy's
backoff (never less; more only with injected latency in between)."""

from __future__ import annotations

import bisect
from datetime import timedelta

from mfm_engine.events import EventEnvelope

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.derive import COMPLETED, ENTERED, FAILED, Out, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.spec.backoff import backoff as policy_backoff
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_retry_timing"]


_MS = timedelta(milliseconds=1)
# A store call's latency, or a disk operation's under a real store: either delays a retry.
_LATENCY = (FaultKind.LATENCY, FaultKind.DISK_LATENCY)


def check_retry_timing(obs: Observation) -> list[Violation]:
    """Within one incarnation, a retryable StateFailed and the next StateEntered of that state
    are the policy's backoff apart: never less, and exactly that without latency in between."""
    out = Out(INVARIANT.name, obs)
    latency: list[int] | None = None  # steps of latency faults, sorted; made when needed
    seq_step = obs.seq_step
    for log in each_run(obs):
        if log.run_config is None or not log.failed:
            continue  # no failure, no retry to time
        rid = log.run_id
        policy = log.run_config.retry_policy.backoff
        attempt_of: dict[str, int] = {}
        pending: dict[str, tuple[EventEnvelope, int]] = {}
        for code, env, ev in log.kernel:
            if code == ENTERED:
                attempt_of[ev.state_id] = ev.attempt
                if not pending:
                    continue
                failed = pending.pop(ev.state_id, None)
                if failed is None:
                    continue
                fenv, attempt = failed
                a, b = seq_step.get((rid, fenv.seq)), seq_step.get((rid, env.seq))
                if (
                    a is None
                    or b is None
                    or a[0] != b[0]
                    or fenv.ts_millis is None
                    or env.ts_millis is None
                ):
                    continue
                gap = env.ts_millis - fenv.ts_millis
                backoff = policy_backoff(policy, attempt)
                low = backoff // _MS
                high = low if backoff % _MS == timedelta(0) else low + 1
                if gap < low:
                    out.add(
                        rid,
                        (fenv.seq, env.seq),
                        f"{ev.state_id} retried {gap} ms after failing attempt {attempt}; "
                        f"the backoff is {low} ms",
                    )
                elif gap > high:
                    lo_step, hi_step = min(a[1], b[1]), max(a[1], b[1])
                    if latency is None:
                        latency = sorted(f.step for f in obs.faults if f.kind in _LATENCY)
                    i = bisect.bisect_left(latency, lo_step)
                    if i >= len(latency) or latency[i] > hi_step:
                        out.add(
                            rid,
                            (fenv.seq, env.seq),
                            f"{ev.state_id} retried {gap} ms after failing attempt {attempt} "
                            f"with no "
                            f"latency in between; the backoff is exactly {low} ms",
                        )
            elif code == FAILED:
                attempt = attempt_of.get(ev.state_id)
                if ev.error.retryable and attempt is not None:
                    pending[ev.state_id] = (env, attempt)
                elif pending:
                    pending.pop(ev.state_id, None)
            elif code == COMPLETED and pending:
                pending.pop(ev.state_id, None)
    return out.items


INVARIANT = Invariant(
    "retry_timing",
    12,
    "within an incarnation, a retry waits exactly the policy's backoff",
    check_retry_timing,
)
