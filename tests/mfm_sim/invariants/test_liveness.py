"""Invariant 10, liveness: deadlock and runaway always; a stuck run once faults stop."""

from __future__ import annotations

import attrs

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.liveness import check_liveness
from mfm_sim.run.observation import Outcome
from tests.mfm_sim.invariants.support import fired, seqs_of
from tests.mfm_sim.logs import (
    S1,
    S2,
    LogBuilder,
    clean_builder,
)

# ------------------------------------------------------------------- 10 liveness


def test_liveness_deadlock_is_always_a_violation():
    b = clean_builder()
    b.incs[-1].outcome = Outcome.DEADLOCK
    for recoverable in (True, False):
        found = fired(b.observation(recoverable=recoverable), "liveness")
        assert len(found) == 1
        assert "deadlock" in found[0].message
    b.incs[-1].outcome = Outcome.RUNAWAY
    assert "runaway" in fired(b.observation(recoverable=False), "liveness")[0].message


def test_liveness_run_must_finish_once_faults_stop():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.enter(S2)
    b.crash()
    b.recover_orphan()
    b.enter(S2)
    b.incs[-1].outcome, b.incs[-1].error_code = Outcome.ERROR, "snapshot_not_canonical"
    obs = b.observation()
    found = fired(obs, "liveness")
    assert seqs_of(found) == [(len(b.entries),)]
    assert "snapshot_not_canonical" in found[0].message
    assert check_liveness(attrs.evolve(obs, recoverable=False)) == []
    b.fault(FaultKind.CORRUPTED_ARTIFACT)
    assert check_liveness(b.observation()) == []  # the store lied: it may stay stuck
