"""Invariant 2, exactly-once completion: each broken log trips it."""

from __future__ import annotations

from mfm_engine.events import (
    DomainEvent,
    RunCompleted,
    RunStatus,
    StateCompleted,
)

from tests.mfm_sim.invariants.support import fired, seqs_of
from tests.mfm_sim.logs import (
    S1,
    S2,
    S3,
    LogBuilder,
    clean_builder,
)

# ------------------------------------------------------------------- 2 exactly_once


def test_exactly_once_state_completed_twice():
    b = clean_builder()
    first = next(i for i, e in enumerate(b.entries) if isinstance(e.event, StateCompleted))
    b.entries.insert(first + 1, b.entries[first])
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(first + 1, first + 2)]


def test_exactly_once_completed_run_missing_a_state():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.run_state(S2)
    rc = b.finish()
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(rc,)]
    assert S3 in found[0].message


def test_exactly_once_two_run_completed_and_not_last():
    b = clean_builder()
    b.append(RunCompleted(RunStatus.COMPLETED, b.checkpoint))
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(13, 14), (13, 14)]
    b = clean_builder()
    b.append(DomainEvent("artifact_written", {}))
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(13, 14)]
    assert "not the last event" in found[0].message


def test_exactly_once_result_not_in_log():
    b = clean_builder()
    b.entries.pop(12)  # RunCompleted lost, yet the engine returned COMPLETED
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(12,)]
    assert "no RunCompleted" in found[0].message
