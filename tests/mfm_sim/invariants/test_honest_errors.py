"""honest_errors: under honest faults only, a call may raise nothing but a storage error."""

from __future__ import annotations

import attrs
from mfm_engine.events import RunPhase

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.honest_errors import check_honest_errors
from mfm_sim.run.observation import Outcome
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import RUN_ID, clean_builder, clean_observation


def _raised(obs, kind: str, code: str, number: int = 1):
    """`obs` with incarnation `number` ending in a raised error of that kind and code."""
    incs = list(obs.incarnations)
    incs[number] = attrs.evolve(
        incs[number], outcome=Outcome.ERROR, error_kind=kind, error_code=code, phase=None
    )
    return attrs.evolve(obs, incarnations=tuple(incs))


def test_a_clean_observation_passes():
    obs = clean_observation()
    assert obs.honest and any(i.outcome is Outcome.CRASH for i in obs.incarnations)
    assert check_honest_errors(obs) == []


def test_a_storage_error_under_honest_faults_passes():
    assert check_honest_errors(_raised(clean_observation(), "storage", "sim_transient")) == []


def test_a_context_error_under_honest_faults_fires():
    obs = _raised(clean_observation(), "context", "context_missing_key")
    (v,) = fired(obs, "honest_errors")
    assert v.run_id == str(RUN_ID)
    assert v.seqs == (obs.runs[RUN_ID].stream[-1].seq,)
    assert v.message == (
        "incarnation 1 (resume) raised a context error 'context_missing_key' under honest "
        "faults only"
    )


def test_every_raising_incarnation_is_named():
    obs = _raised(clean_observation(), "plan", "invalid_attempt_envelopes")
    obs = _raised(obs, "state", "x", 0)
    found = fired(obs, "honest_errors")
    assert [v.message.split(" raised")[0] for v in found] == [
        "incarnation 0 (start)",
        "incarnation 1 (resume)",
    ]


def _lie_at(step: int):
    """The clean observation with a corrupted write at `step` (incarnation 1 runs steps 9-14)."""
    b = clean_builder()
    b.fault(FaultKind.CORRUPTED_ARTIFACT)
    obs = b.observation()
    (*honest, lie) = obs.faults
    return attrs.evolve(obs, faults=(*honest, attrs.evolve(lie, step=step, incarnation=1)))


def test_a_lie_excuses_any_error_after_it():
    obs = _lie_at(9)
    assert not obs.honest
    assert check_honest_errors(_raised(obs, "plan", "manifest_corrupt")) == []


def test_a_lie_excuses_nothing_before_it():
    # Incarnation 0 (steps 0-8) ended before the lie at step 9 fired: it met honest faults only.
    obs = _raised(_raised(_lie_at(9), "context", "context_missing_key", 0), "plan", "x", 1)
    (v,) = fired(obs, "honest_errors")
    assert v.message == (
        "incarnation 0 (start) raised a context error 'context_missing_key' that no lie reached"
    )


def test_a_lie_told_to_one_read_excuses_that_incarnation_only():
    # A lying read of the log at step 2 of incarnation 0: incarnation 1 read the truth.
    obs = _raised(_raised(clean_observation(), "plan", "fact_recorded_duplicate", 0), "plan", "y")
    (crash,) = obs.faults
    lie = attrs.evolve(crash, step=2, kind=FaultKind.LIE_DUPLICATE_FACT, site="events.read_range")
    obs = attrs.evolve(obs, faults=(lie, crash))
    assert [v.message for v in fired(obs, "honest_errors")] == [
        "incarnation 1 (resume) raised a plan error 'y' that no lie reached"
    ]


def test_a_lie_after_the_last_incarnation_excuses_nothing():
    obs = _raised(_lie_at(15), "plan", "manifest_corrupt")
    assert [v.message.split(" raised")[0] for v in fired(obs, "honest_errors")] == [
        "incarnation 1 (resume)"
    ]


def test_it_fires_on_a_real_schedule_whose_engine_raised_on_its_own():
    from mfm_sim import get_scenario, simulate

    result = simulate(get_scenario("linear"), 0, keep_trace=False, keep_observation=True)
    obs = result.observation
    assert obs.final_phase is RunPhase.COMPLETED and check_honest_errors(obs) == []
    found = check_honest_errors(_raised(obs, "context", "context_serialization", 0))
    assert [v.invariant for v in found] == ["honest_errors"]
