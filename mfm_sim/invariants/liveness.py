"""Invariant 10, liveness: no deadlock or runaway; once faults stop, the run reaches a
terminal status."""

from __future__ import annotations

from mfm_sim.invariants.derive import TERMINAL_PHASES, Out, main_log
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation, Outcome

__all__ = ["INVARIANT", "check_liveness"]


def check_liveness(obs: Observation) -> list[Violation]:
    """No incarnation deadlocks or runs away (in any mode); in recoverable mode with an honest
    store, the main run reaches a terminal status."""
    out = Out(INVARIANT.name, obs)
    rid = obs.main_run_id
    main = main_log(obs)
    head = (main.stream[-1].seq,) if main is not None and main.stream else ()
    for inc in obs.incarnations:
        if inc.outcome in (Outcome.DEADLOCK, Outcome.RUNAWAY):
            out.add(
                rid, head, f"incarnation {inc.number} ({inc.call}) ended in {inc.outcome.value}"
            )
    if out.items or not obs.recoverable or obs.store_lied:
        return out.items
    if obs.final_phase not in TERMINAL_PHASES:
        last = obs.incarnations[-1] if obs.incarnations else None
        how = ""
        if last is not None:
            code = f" {last.error_code}" if last.error_code else ""
            how = (
                f"; last incarnation {last.number} ({last.call}) "
                f"ended in {last.outcome.value}{code}"
            )
        phase = obs.final_phase.value if obs.final_phase else "no result"
        out.add(
            rid, head, f"faults stopped but the run never reached a terminal status ({phase}){how}"
        )
    return out.items


INVARIANT = Invariant(
    "liveness",
    10,
    "no deadlock or runaway; once faults stop, the run reaches a terminal status",
    check_liveness,
)
