"""Invariant 4, attempt envelopes: each broken log trips it."""

from __future__ import annotations

from mfm_engine.events import (
    StateCompleted,
)

from tests.mfm_sim.invariants.support import fired, seqs_of
from tests.mfm_sim.logs import (
    S1,
    S2,
    S3,
    LogBuilder,
)

# ------------------------------------------------------------------- 4 attempt_envelopes


def test_attempt_envelopes_orphan_not_closed():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    orphan = b.enter(S2)
    b.crash()
    retry = b.enter(S2)  # the fixed engine closes the orphan first
    b.complete()
    b.run_state(S3)
    b.finish()
    found = fired(b.observation(), "attempt_envelopes")
    assert seqs_of(found) == [(orphan, retry)]


def test_attempt_envelopes_orphan_retried_from_another_base():
    b = LogBuilder()
    b.start()
    initial = b.checkpoint
    b.run_state(S1)
    b.enter(S2)
    b.crash()
    closed = b.recover_orphan()
    retry = b.enter(S2, base=initial)
    b.complete()
    found = fired(b.observation(), "attempt_envelopes")
    assert seqs_of(found) == [(closed, retry)]
    assert "orphan's base" in found[0].message


def test_attempt_envelopes_terminal_without_or_for_another_attempt():
    b = LogBuilder()
    b.start()
    stray = b.append(StateCompleted(S1, b.checkpoint))
    assert seqs_of(fired(b.observation(), "attempt_envelopes")) == [(stray,)]
    b = LogBuilder()
    b.start()
    entered = b.enter(S1)
    wrong = b.fail(S2)
    assert seqs_of(fired(b.observation(), "attempt_envelopes")) == [(entered, wrong)]


def test_attempt_envelopes_finished_run_with_open_attempt():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.run_state(S2)
    entered = b.enter(S3)
    rc = b.finish()
    assert seqs_of(fired(b.observation(), "attempt_envelopes")) == [(entered, rc)]
