"""Invariant 3, monotone attempts: each broken log trips it."""

from __future__ import annotations

import attrs
from mfm_engine.events import (
    RunStatus,
)

from tests.mfm_sim.invariants.support import fired, seqs_of
from tests.mfm_sim.logs import (
    S1,
    LogBuilder,
    clean_builder,
    config,
)

# ------------------------------------------------------------------- 3 monotone_attempts


def test_monotone_attempts_must_start_at_zero_and_rise_by_one():
    b = LogBuilder()
    b.start()
    b.enter(S1, attempt=1)
    b.complete()
    assert seqs_of(fired(b.observation(), "monotone_attempts")) == [(2,)]
    b = clean_builder()
    b.entries[3] = attrs.evolve(b.entries[3], event=attrs.evolve(b.entries[3].event, attempt=2))
    found = fired(b.observation(), "monotone_attempts")
    assert seqs_of(found) == [(2, 4)]
    assert "expected attempt 1" in found[0].message


def test_monotone_attempts_no_retry_after_non_retryable_failure():
    b = LogBuilder()
    b.start()
    b.enter(S1)
    fail = b.fail(retryable=False)
    retry = b.enter(S1)
    b.complete()
    found = fired(b.observation(), "monotone_attempts")
    assert seqs_of(found) == [(fail, retry)]
    assert "non-retryable" in found[0].message


def test_monotone_attempts_bounded_by_max_attempts():
    b = LogBuilder(run_config=config(max_attempts=2))
    b.start()
    b.enter(S1)
    b.fail()
    b.enter(S1)
    b.fail()
    third = b.enter(S1)
    b.complete()
    found = fired(b.observation(), "monotone_attempts")
    assert seqs_of(found) == [(third,)]
    assert "max_attempts 2" in found[0].message


def test_monotone_attempts_nothing_after_completion():
    b = LogBuilder()
    b.start()
    b.enter(S1)
    done = b.complete()
    again = b.enter(S1)
    b.complete()
    assert (done, again) in seqs_of(fired(b.observation(), "monotone_attempts"))


def test_monotone_attempts_run_failed_while_a_retry_was_allowed():
    b = LogBuilder()
    b.start()
    b.enter(S1)
    fail = b.fail()
    rc = b.finish(RunStatus.FAILED)
    found = fired(b.observation(), "monotone_attempts")
    assert seqs_of(found) == [(fail, rc)]
