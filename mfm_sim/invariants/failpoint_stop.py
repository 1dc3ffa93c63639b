"""Failpoint stop: the engine's `stop_after_handler_once` failpoint does what ENGINE.md says.

ENGINE.md "One attempt" 4: after a handler returns (ok or error), if the failpoint is set it
is cleared, nothing terminal is written and the run returns `RunResult(phase=RUNNING, ...)`.
The runner arms it as a `stop_after_handler` fault's handler returns, with nothing awaited
before the engine's check (`Incarnation.failpoint_armed`). So an incarnation that armed it
and returned a result returned RUNNING with the flag cleared (`False`, the field's type); and
RUNNING is returned for nothing else.
"""

from __future__ import annotations

from mfm_engine.events import RunPhase

from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation, Outcome

__all__ = ["INVARIANT", "check_failpoint_stop"]


def check_failpoint_stop(obs: Observation) -> list[Violation]:
    """One violation per incarnation whose result disagrees with its failpoint."""
    out = Out(INVARIANT.name, obs)
    for inc in obs.incarnations:
        if inc.outcome is not Outcome.RESULT:
            continue  # a crash or an engine error ended it before any result
        where = f"incarnation {inc.number} ({inc.call})"
        if inc.failpoint_armed:
            if inc.phase is not RunPhase.RUNNING:
                out.add(
                    obs.main_run_id,
                    (),
                    f"{where} armed the stop_after_handler failpoint and returned "
                    f"{inc.phase}, not RUNNING",
                )
            if inc.failpoint_after is not False:
                out.add(
                    obs.main_run_id,
                    (),
                    f"{where}: the failpoint was left {inc.failpoint_after!r}, not cleared",
                )
        elif inc.phase is RunPhase.RUNNING:
            out.add(obs.main_run_id, (), f"{where} returned RUNNING with no failpoint armed")
    return out.items


INVARIANT = Invariant(
    "failpoint_stop",
    None,
    "the stop_after_handler failpoint stops the run with RUNNING, cleared, and nothing else does",
    check_failpoint_stop,
)
