"""Invariant 8, idempotent resume: resuming a finished run appends nothing, returns the same."""

from __future__ import annotations

from mfm_sim.run.observation import Outcome
from tests.mfm_sim.invariants.support import fired, seqs_of
from tests.mfm_sim.logs import (
    RUN_ID,
    clean_builder,
)

# ------------------------------------------------------------------- 8 idempotent_resume


def test_idempotent_resume_appends_nothing():
    b = clean_builder()
    b.incs[-1].appended = ((RUN_ID, 14),)
    found = fired(b.observation(), "idempotent_resume")
    assert seqs_of(found) == [(14,)]
    assert "appended 1 event" in found[0].message


def test_idempotent_resume_returns_the_same_result():
    b = clean_builder()
    b.incs[-1].final_snapshot_id = b.entries[0].event.initial_snapshot_id
    found = fired(b.observation(), "idempotent_resume")
    assert seqs_of(found) == [(13,)]
    b = clean_builder()
    b.incs[-1].outcome, b.incs[-1].phase, b.incs[-1].error_code = (
        Outcome.ERROR,
        None,
        "manifest_corrupt",
    )
    found = fired(b.observation(), "idempotent_resume")
    assert "manifest_corrupt" in found[0].message
