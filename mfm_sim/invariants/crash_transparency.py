"""Invariant 7, crash transparency: under honest faults, deterministic handlers reach the
fault-free status and snapshot. `needs_reference` tells the runner when a fault-free run
is worth paying for."""

from __future__ import annotations

from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.outcome import compare_outcome, faults_consumed_attempts, finished
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_crash_transparency", "needs_reference"]


def check_crash_transparency(obs: Observation) -> list[Violation]:
    """Deterministic handlers under honest faults reach the fault-free status and snapshot.

    Excused: the run ended FAILED because crashes (orphan recoveries) or injected failures
    used up a state's attempts."""
    out = Out(INVARIANT.name, obs)
    ref = obs.reference
    if ref is None or not needs_reference(obs):
        return out.items
    compare_outcome(obs, out, ref.phase, ref.final_snapshot, "the fault-free run")
    return out.items


def needs_reference(obs: Observation) -> bool:
    """Whether crash transparency would compare this run with the fault-free run.

    The runner asks before paying for a reference run; most faulty schedules are excused.
    """
    return obs.transparent and obs.honest and finished(obs) and not faults_consumed_attempts(obs)


INVARIANT = Invariant(
    "crash_transparency",
    7,
    "honest faults do not change the final status and snapshot",
    check_crash_transparency,
)
