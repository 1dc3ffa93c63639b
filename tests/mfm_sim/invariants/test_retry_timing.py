"""Invariant 12, retry timing: a retry waits exactly the policy's backoff."""

from __future__ import annotations

from datetime import timedelta

from mfm_engine.config import Exponential

from mfm_sim.invariants.registry import check
from mfm_sim.invariants.retry_timing import check_retry_timing
from tests.mfm_sim.invariants.support import fired, seqs_of
from tests.mfm_sim.logs import (
    S1,
    LogBuilder,
    clean_builder,
    config,
)

# ------------------------------------------------------------------- 12 retry_timing


def test_retry_timing_never_less_than_the_backoff():
    b = clean_builder()
    b.entries[3].ts -= 40  # S1's retry came 60 ms after the failure; backoff 100 ms
    found = fired(b.observation(), "retry_timing")
    assert seqs_of(found) == [(3, 4)]
    assert "60 ms" in found[0].message


def test_retry_timing_exact_without_latency_and_not_across_incarnations():
    b = clean_builder()
    b.entries[3].ts += 40
    obs = b.observation()
    found = fired(obs, "retry_timing")
    assert seqs_of(found) == [(3, 4)]
    # A latency fault between the two appends excuses the extra time.
    b = LogBuilder()
    b.start()
    b.enter(S1)
    b.fail()
    b.latency(40)
    b.enter(S1)
    b.complete()
    assert check_retry_timing(b.observation()) == []
    # The retry was made by a later incarnation: no sleep is owed.
    b = LogBuilder()
    b.start()
    b.enter(S1)
    b.fail()
    b.crash()
    b.enter(S1)
    b.complete()
    assert check_retry_timing(b.observation()) == []


def test_retry_timing_follows_exponential_backoff():
    cfg = config(
        max_attempts=4, backoff=Exponential(timedelta(milliseconds=10), timedelta(milliseconds=25))
    )
    b = LogBuilder(run_config=cfg)
    b.start()
    b.run_state(S1, failures=3)  # waits 10, 20, 25 ms
    ts = [e.ts for e in b.entries]
    assert [ts[3] - ts[2], ts[5] - ts[4], ts[7] - ts[6]] == [10, 20, 25]
    assert check(b.observation(recoverable=False)) == []
    b.entries[7].ts -= 5  # waited 20 ms after attempt 2: capped backoff is 25 ms
    assert seqs_of(fired(b.observation(), "retry_timing")) == [(7, 8)]
