"""failpoint_stop: an armed failpoint stops the run with RUNNING, cleared; nothing else does."""

from __future__ import annotations

import attrs
from mfm_engine.events import RunPhase

from mfm_sim.invariants.failpoint_stop import check_failpoint_stop
from mfm_sim.run.observation import Outcome
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import clean_observation


def _inc(obs, number: int, **changes):
    incs = list(obs.incarnations)
    incs[number] = attrs.evolve(incs[number], **changes)
    return attrs.evolve(obs, incarnations=tuple(incs))


def _armed(phase: RunPhase, after: object = False):
    """The clean run's first incarnation, armed, returning a result in `phase`."""
    return _inc(
        clean_observation(),
        0,
        outcome=Outcome.RESULT,
        phase=phase,
        failpoint_armed=True,
        failpoint_after=after,
    )


def test_a_clean_observation_passes():
    assert check_failpoint_stop(clean_observation()) == []


def test_an_armed_stop_that_returned_running_cleared_passes():
    assert check_failpoint_stop(_armed(RunPhase.RUNNING)) == []


def test_an_armed_incarnation_that_finished_the_run_fires():
    found = fired(_armed(RunPhase.COMPLETED, after=True), "failpoint_stop")
    assert [v.message for v in found] == [
        "incarnation 0 (start) armed the stop_after_handler failpoint and returned "
        "RunPhase.COMPLETED, not RUNNING",
        "incarnation 0 (start): the failpoint was left True, not cleared",
    ]


def test_a_flag_cleared_to_something_else_than_false_fires():
    (v,) = fired(_armed(RunPhase.RUNNING, after=None), "failpoint_stop")
    assert v.message == "incarnation 0 (start): the failpoint was left None, not cleared"


def test_running_without_a_failpoint_fires():
    obs = _inc(clean_observation(), 0, outcome=Outcome.RESULT, phase=RunPhase.RUNNING)
    (v,) = fired(obs, "failpoint_stop")
    assert v.message == "incarnation 0 (start) returned RUNNING with no failpoint armed"


def test_an_armed_incarnation_that_crashed_is_not_judged():
    obs = _inc(clean_observation(), 0, outcome=Outcome.CRASH, failpoint_armed=True)
    assert check_failpoint_stop(obs) == []
