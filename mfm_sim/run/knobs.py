"""Run-config knobs drawn from the seed (FoundationDB-style randomized configuration)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from mfm_engine.config import EventProfile, Exponential, Fixed, IoMode, RetryPolicy, RunConfig

from mfm_sim.world.rng import Rng

__all__ = [
    "PROFILES",
    "draw_run_config",
]

PROFILES = (EventProfile.MINIMAL, EventProfile.NORMAL, EventProfile.VERBOSE)


def draw_run_config(
    rng: Rng,
    *,
    min_attempts: int = 1,
    max_attempts: int = 5,
    io_mode: IoMode = IoMode.LIVE,
    skip_tags: Sequence[str] = (),
) -> RunConfig:
    """Attempts, backoff kind and delays, and event profile, all from `rng`."""
    attempts = rng.between(min_attempts, max_attempts)
    if rng.random() < 0.5:
        backoff: Fixed | Exponential = Fixed(
            timedelta(milliseconds=rng.choice((0, 0, 10, 250, 2000)))
        )
    else:
        base = rng.choice((1, 10, 100, 1000))
        backoff = Exponential(
            timedelta(milliseconds=base), timedelta(milliseconds=base * rng.choice((1, 4, 64)))
        )
    return RunConfig(
        io_mode=io_mode,
        retry_policy=RetryPolicy(attempts, backoff),
        event_profile=rng.choice(PROFILES),
        skip_tags=tuple(skip_tags),
    )
