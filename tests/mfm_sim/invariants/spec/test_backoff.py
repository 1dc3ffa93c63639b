"""`spec.backoff` agrees with the engine's `compute_backoff` on random policies and attempts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.config import Exponential, Fixed, compute_backoff

from mfm_sim.invariants.spec.backoff import backoff, retries

_DELAYS = st.one_of(
    st.integers(min_value=0, max_value=10_000).map(lambda ms: timedelta(milliseconds=ms)),
    st.integers(min_value=0, max_value=10**12).map(lambda us: timedelta(microseconds=us)),
    st.just(timedelta.max),
)
_POLICIES = st.one_of(st.builds(Fixed, _DELAYS), st.builds(Exponential, _DELAYS, _DELAYS))


@settings(max_examples=500, deadline=None)
@given(_POLICIES, st.integers(min_value=0, max_value=80))
def test_backoff_agrees_with_the_engine(policy: Fixed | Exponential, attempt: int) -> None:
    assert backoff(policy, attempt) == compute_backoff(policy, attempt)


def test_the_formula_of_engine_md() -> None:
    ms = timedelta(milliseconds=1)
    exp = Exponential(10 * ms, 1000 * ms)
    assert [backoff(exp, n) // ms for n in range(8)] == [10, 20, 40, 80, 160, 320, 640, 1000]
    assert backoff(Exponential(ms, timedelta.max), 40) == ms * 2**31  # the exponent stops at 31
    assert backoff(Fixed(5 * ms), 7) == 5 * ms
    with pytest.raises(ValueError):
        backoff(Fixed(), -1)


def test_retries_while_attempts_remain() -> None:
    assert retries(True, 0, 2)
    assert not retries(True, 1, 2)
    assert not retries(False, 0, 5)
