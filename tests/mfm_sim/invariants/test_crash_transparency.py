"""Invariant 7, crash transparency: compared with the fault-free run, unless excused."""

from __future__ import annotations

import attrs
from mfm_engine.events import (
    RunPhase,
    RunStatus,
)

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.crash_transparency import check_crash_transparency
from mfm_sim.invariants.model_agreement import check_model_agreement
from mfm_sim.run.observation import Outcome, Reference
from tests.mfm_sim.invariants.support import fired, seqs_of, stream
from tests.mfm_sim.logs import (
    S1,
    S2,
    S3,
    LogBuilder,
    _Inc,
    clean_builder,
    clean_observation,
    config,
)

# ------------------------------------------------------------------- 7 crash_transparency


def test_crash_transparency_snapshot_and_status_must_match_the_fault_free_run():
    obs = clean_observation()
    rc = stream(obs)[-1].seq
    other = Reference(RunPhase.COMPLETED, {"path": [S1, S3]})
    found = fired(attrs.evolve(obs, reference=other, model=None), "crash_transparency")
    assert seqs_of(found) == [(rc,)]
    assert "path" in found[0].message
    failed = Reference(RunPhase.FAILED, None)
    found = fired(attrs.evolve(obs, reference=failed, model=None), "crash_transparency")
    assert "final status completed" in found[0].message


def test_crash_transparency_applies_only_to_honest_faults_and_deterministic_handlers():
    obs = clean_observation(reference=Reference(RunPhase.COMPLETED, {"x": 1}), model=None)
    assert check_crash_transparency(attrs.evolve(obs, transparent=False)) == []
    b = clean_builder()
    b.fault(FaultKind.DROPPED_WRITE)
    lying = b.observation(reference=Reference(RunPhase.COMPLETED, {"x": 1}))
    assert not lying.honest
    assert check_crash_transparency(lying) == []
    assert check_crash_transparency(attrs.evolve(obs, final_phase=RunPhase.RUNNING)) == []


def _failed_by(code: str) -> LogBuilder:
    b = LogBuilder(run_config=config(max_attempts=2))
    b.start()
    b.run_state(S1)
    b.enter(S2)
    if code == "orphan":
        b.crash()
        b.recover_orphan()
    elif code in ("stopped", "running"):
        # The incarnation returned RUNNING: the engine's failpoint stopped it ("stopped"),
        # or the engine stopped on its own ("running"); resume recovers the open attempt.
        if code == "stopped":
            b.fault(FaultKind.STOP_AFTER_HANDLER, "handler")
        b.incs[-1].outcome, b.incs[-1].phase = Outcome.RESULT, RunPhase.RUNNING
        b.incs.append(_Inc("resume", first_step=b.step + 1))
        b.recover_orphan()
    else:
        b.fail(code=code)
    b.enter(S2)
    b.fail(code="flaky")
    b.finish(RunStatus.FAILED)
    return b


def test_crash_transparency_excuses_attempts_consumed_by_crashes_or_injected_failures():
    completed = Reference(RunPhase.COMPLETED, {"path": [S1, S2, S3]})
    for code in ("orphan", "sim_handler_failure"):
        obs = _failed_by(code).observation(reference=completed, model=completed)
        assert check_crash_transparency(obs) == []
        assert check_model_agreement(obs) == []
    obs = _failed_by("flaky").observation(reference=completed, model=None)
    found = fired(obs, "crash_transparency")
    assert seqs_of(found) == [(stream(obs)[-1].seq,)]


def test_an_attempt_the_failpoint_stopped_is_excused_and_a_spurious_running_is_not():
    completed = Reference(RunPhase.COMPLETED, {"path": [S1, S2, S3]})
    obs = _failed_by("stopped").observation(reference=completed, model=completed)
    assert check_crash_transparency(obs) == []
    assert check_model_agreement(obs) == []
    # An engine that returns RUNNING on its own (no failpoint fired) is not excused.
    obs = _failed_by("running").observation(reference=completed, model=None)
    found = fired(obs, "crash_transparency")
    assert seqs_of(found) == [(stream(obs)[-1].seq,)]
