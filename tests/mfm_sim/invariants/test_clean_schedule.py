"""clean_schedule: with no fault and no crash, one incarnation, no orphan, the model's phase."""

from __future__ import annotations

import attrs
from mfm_engine.events import RunPhase, RunStatus

from mfm_sim.invariants.clean_schedule import check_clean_schedule
from mfm_sim.run.observation import Outcome, Reference
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import RUN_ID, S1, S2, S3, LogBuilder, clean_observation


def _clean_builder() -> LogBuilder:
    """A run with no fault: S1 fails retryably once (a handler's failure, not a fault)."""
    b = LogBuilder()
    b.start()
    b.run_state(S1, failures=1)
    b.run_state(S2)
    b.run_state(S3)
    b.finish()
    b.idempotent_resume()
    return b


def _clean():
    b = _clean_builder()
    ref = b.reference()
    return b.observation(reference=ref, model=ref)


def test_a_fault_free_run_in_one_incarnation_passes():
    obs = _clean()
    assert not obs.faults and [i.call for i in obs.incarnations] == ["start", "idempotent_resume"]
    assert check_clean_schedule(obs) == []


def test_a_schedule_with_faults_or_crashes_is_not_judged():
    obs = clean_observation()  # a crash, an orphan recovered, two incarnations
    assert obs.faults
    assert check_clean_schedule(obs) == []
    # A crash with its fault record lost is still a crash.
    assert check_clean_schedule(attrs.evolve(obs, faults=())) == []


def test_a_second_incarnation_without_a_fault_fires():
    obs = _clean()
    start = attrs.evolve(
        obs.incarnations[0], outcome=Outcome.ERROR, error_kind="state", error_code="oops"
    )
    again = attrs.evolve(obs.incarnations[1], number=1, call="resume")
    obs = attrs.evolve(obs, incarnations=(start, again))
    (v,) = fired(obs, "clean_schedule")
    assert v.run_id == str(RUN_ID)
    assert v.message == (
        "no fault fired but the run took [('start', 'error', 'oops'), ('resume', 'result', None)]"
    )


def test_an_orphan_recovery_without_a_fault_fires():
    b = LogBuilder()
    b.start()
    b.enter(S1)
    seq = b.recover_orphan()  # as if the engine left its own attempt open
    b.run_state(S1)
    b.run_state(S2)
    b.run_state(S3)
    b.finish()
    ref = b.reference()
    obs = b.observation(reference=ref, model=ref)
    (v,) = fired(obs, "clean_schedule")
    assert (v.seqs, v.message) == ((seq,), f"orphan recovery at seq {seq} without a fault")


def test_a_final_phase_other_than_the_model_fires():
    obs = attrs.evolve(_clean(), model=Reference(RunPhase.FAILED, None))
    (v,) = fired(obs, "clean_schedule")
    assert v.message == "final phase completed but the model says failed"
    unfinished = attrs.evolve(obs, final_phase=None)
    assert check_clean_schedule(unfinished)[-1].message == (
        "final phase no result but the model says failed"
    )


def test_a_failed_run_the_model_predicts_passes():
    b = LogBuilder()
    b.start()
    b.enter(S1)
    b.fail(code="bad_input", retryable=False)
    b.finish(RunStatus.FAILED)
    ref = b.reference()
    assert check_clean_schedule(b.observation(reference=ref, model=ref)) == []


def test_it_fires_on_a_real_fault_free_schedule_that_took_two_calls():
    from mfm_sim import get_scenario, simulate

    for seed in range(40):
        obs = simulate(get_scenario("linear"), seed, keep_trace=False, keep_observation=True)
        obs = obs.observation
        if not obs.faults and all(i.outcome is not Outcome.CRASH for i in obs.incarnations):
            break
    else:
        raise AssertionError("no fault-free linear seed in 0..39")
    assert check_clean_schedule(obs) == []
    extra = attrs.evolve(obs.incarnations[0], number=len(obs.incarnations), call="resume")
    found = check_clean_schedule(attrs.evolve(obs, incarnations=(*obs.incarnations, extra)))
    assert [v.invariant for v in found] == ["clean_schedule"]


def test_unrestricted_mode_judges_only_the_orphan():
    obs = attrs.evolve(_clean(), model=Reference(RunPhase.FAILED, None), recoverable=False)
    assert check_clean_schedule(obs) == []
    stuck = attrs.evolve(obs.incarnations[0], outcome=Outcome.DEADLOCK)
    assert check_clean_schedule(attrs.evolve(obs, incarnations=(stuck,))) == []
