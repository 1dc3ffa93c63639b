"""Honest errors: under honest faults only, a call that raised raised a storage error.

Crashes, transient and ambiguous errors and latency reach the engine through its stores and
transports; a transport error is a state failure the engine logs, never a raised one. So
when every fault of a schedule was honest, the only error a `start` or `resume` may raise is
a storage error. A context, plan or state error from the engine's own bookkeeping is a bug
even when a later resume "recovers" it: crash transparency and the model excuse a FAILED
run whose attempts were used up by `orphan_attempt_recovered` failures, and cannot tell an
orphan a simulated crash left from one the engine left by raising on its own.
"""

from __future__ import annotations

from mfm_sim.invariants.derive import Out, main_log
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation, Outcome

__all__ = ["INVARIANT", "check_honest_errors"]

STORAGE = "storage"  # `RunError` kind STORAGE, as the runner records `error_kind`


def check_honest_errors(obs: Observation) -> list[Violation]:
    """One violation per incarnation that raised a non-storage error under honest faults."""
    out = Out(INVARIANT.name, obs)
    if not obs.honest:
        return out.items
    main = main_log(obs)
    head = (main.stream[-1].seq,) if main is not None and main.stream else ()
    for inc in obs.incarnations:
        if inc.outcome is Outcome.ERROR and inc.error_kind != STORAGE:
            out.add(
                obs.main_run_id,
                head,
                f"incarnation {inc.number} ({inc.call}) raised a {inc.error_kind} error "
                f"{inc.error_code!r} under honest faults only",
            )
    return out.items


INVARIANT = Invariant(
    "honest_errors",
    None,
    "under honest faults only, start and resume raise nothing but storage errors",
    check_honest_errors,
)
