"""Generated-workload feature `long_backoff`: a state that fails (retryably) in its first
`FAILURES` attempts under an exponential policy whose cap lies above `2**31 * base`, so
the retry after attempt 32 shows ENGINE.md's exponent cap ("Exponential:
`min(base * 2**min(attempt, 31), max_delay)`"): it waits `2**31 * base`, as the retry
after attempt 31 did, not twice that. Invariant 12 (`retry_timing`) times every retry with
the oracle's own backoff (`mfm_sim.invariants.spec.backoff`); the reference interpreter
predicts the attempts.

Drawn from its own fork of the seed's stream, after every other draw, rarely (a run of 33
retries waits some 74 virtual days), and only for a seed with no recorded log (whose
manifest holds the run config it was drawn with).
"""

from __future__ import annotations

from datetime import timedelta

import attrs
from mfm_engine.config import Exponential, RetryPolicy, RunConfig
from mfm_scenarios.program import FAIL, Op, Program

from mfm_sim.world.rng import Rng

__all__ = ["BACKOFF_FAILURE", "BASE", "FAILURES", "LONG_BACKOFF_ODDS", "draw_long_backoff"]

LONG_BACKOFF_ODDS = 0.03
BACKOFF_FAILURE = "backoff_failure"  # the failing state's error code
FAILURES = 33  # attempts 0..32 fail: the last retry's exponent is past the cap of 31
BASE = timedelta(milliseconds=1)  # the run config's smallest unit


def draw_long_backoff(
    rng: Rng, programs: list[Program], cfg: RunConfig, *, history: object
) -> RunConfig | None:
    """With `LONG_BACKOFF_ODDS`, make one of `programs` (in place) fail its first `FAILURES`
    attempts and return the run config with room for them and an uncapped exponent; None
    otherwise (nothing changed)."""
    if history is not None or not rng.chance(LONG_BACKOFF_ODDS):
        return None
    i = rng.below(len(programs))
    sid = f"gen.s{i}.run"
    fail = Op(
        FAIL,
        name=BACKOFF_FAILURE,
        retryable=True,
        message=f"{sid} backs off",
        attempts=tuple(range(FAILURES)),
    )
    program = programs[i]
    programs[i] = Program((fail, *program.ops), program.tags)
    # Above 2**31 * base: the cap never hides the exponent's (max_delay 2**32 or 2**33 ms).
    cap = BASE * 2 ** rng.between(32, 33)
    policy = RetryPolicy(FAILURES + rng.between(1, 3), Exponential(BASE, cap))
    return attrs.evolve(cfg, retry_policy=policy)
