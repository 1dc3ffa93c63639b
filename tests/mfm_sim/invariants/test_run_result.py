"""run_result: results name the run, its phase and snapshot; run ids come from the id source."""

from __future__ import annotations

import uuid

import attrs
from mfm_engine.events import RunPhase, RunStarted, StateCompleted

from mfm_sim.invariants.run_result import check_run_result
from mfm_sim.run.observation import Outcome
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import RUN_ID, S1, clean_observation

OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000ff")


def _inc(obs, number: int, **changes):
    incs = list(obs.incarnations)
    incs[number] = attrs.evolve(incs[number], **changes)
    return attrs.evolve(obs, incarnations=tuple(incs))


def _last_result(obs) -> int:
    return max(i.number for i in obs.incarnations if i.outcome is Outcome.RESULT)


def test_a_clean_observation_passes():
    obs = clean_observation()
    assert any(i.outcome is Outcome.RESULT for i in obs.incarnations)
    assert check_run_result(obs) == []
    assert check_run_result(attrs.evolve(obs, issued_run_ids=(OTHER, RUN_ID))) == []


def test_a_result_for_no_run_fires():
    obs = clean_observation()
    n = _last_result(obs)
    (v,) = fired(_inc(obs, n, result_run_id=None), "run_result")
    assert v.message.endswith(f"returned a result for run None, not {RUN_ID}")


def test_a_finished_result_with_another_snapshot_or_phase_fires():
    obs = clean_observation()
    n = _last_result(obs)
    (v,) = fired(_inc(obs, n, final_snapshot_id="0" * 64), "run_result")
    assert "the log's RunCompleted says (RunPhase.COMPLETED" in v.message
    (v,) = fired(_inc(obs, n, phase=RunPhase.FAILED), "run_result")
    assert v.message.startswith(f"incarnation {n} (")


def test_a_running_result_must_name_the_checkpoint():
    obs = clean_observation()
    stream = obs.runs[RUN_ID].stream
    started = next(e.event for e in stream if isinstance(e.event, RunStarted))
    # Incarnation 0 completed S1 (after one retry) before its crash: the checkpoint it left.
    s1_done = next(e.event for e in stream if isinstance(e.event, StateCompleted))
    assert s1_done.state_id == S1 and obs.seq_step[(RUN_ID, 4)][0] == 0

    def stopped(snapshot: str):
        return _inc(
            obs,
            0,
            outcome=Outcome.RESULT,
            phase=RunPhase.RUNNING,
            result_run_id=RUN_ID,
            final_snapshot_id=snapshot,
        )

    (v,) = fired(stopped(started.initial_snapshot_id), "run_result")
    assert v.message == (
        f"incarnation 0 (start) returned RUNNING with snapshot {started.initial_snapshot_id}, "
        f"not the checkpoint {s1_done.context_snapshot_id}"
    )
    assert check_run_result(stopped(s1_done.context_snapshot_id)) == []


def test_a_run_id_the_source_never_issued_fires():
    obs = attrs.evolve(clean_observation(), issued_run_ids=(OTHER,))
    (v,) = fired(obs, "run_result")
    assert v.message == f"run {RUN_ID} was not taken from the engine's id source"
