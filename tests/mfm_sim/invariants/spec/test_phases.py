"""`spec.phases` names the engine's own phase for each status."""

from __future__ import annotations

from mfm_engine.events import PHASE_FOR_STATUS, RunPhase, RunStatus

from mfm_sim.invariants.spec.phases import PHASE_OF, TERMINAL


def test_phase_of_each_status_agrees_with_the_engine() -> None:
    assert dict(PHASE_OF) == dict(PHASE_FOR_STATUS)
    assert set(PHASE_OF) == set(RunStatus)
    assert set(RunPhase) - {RunPhase.RUNNING} == TERMINAL
