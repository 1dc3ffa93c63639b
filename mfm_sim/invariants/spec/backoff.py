"""A retry policy's backoff before the retry of attempt n, and whether that retry happens, as
ENGINE.md ("One attempt", step 5) says: Fixed gives its delay; Exponential gives
`min(base * 2**min(attempt, 31), max_delay)`; retry iff retryable and attempt + 1 < max
attempts."""

from __future__ import annotations

from datetime import timedelta

from mfm_engine.config import Exponential, Fixed

__all__ = ["backoff", "retries"]

_US = timedelta(microseconds=1)


def backoff(policy: Fixed | Exponential, attempt: int) -> timedelta:
    """The delay before retrying after attempt `attempt` (0-based) failed."""
    if attempt < 0:
        raise ValueError(f"attempt {attempt} is negative")
    if isinstance(policy, Fixed):
        return policy.delay
    # In whole microseconds (a timedelta's unit): Python integers never overflow, so a huge
    # product is simply above any cap, as the original's saturating arithmetic is.
    scaled = (policy.base_delay // _US) * 2 ** min(attempt, 31)
    cap = policy.max_delay // _US
    return policy.max_delay if scaled > cap else timedelta(microseconds=scaled)


def retries(retryable: bool, attempt: int, max_attempts: int) -> bool:
    """A failed attempt is retried iff its error is retryable and attempts remain."""
    return retryable and attempt + 1 < max_attempts
