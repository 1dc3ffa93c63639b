"""`mfm-sim bench --dask local:N`: how a sweep scales on Dask, one worker against N.

Both counts are measured in the same run, on the same seeds: each gets a local cluster of its
own and a short warm-up sweep (its workers import the harness and the scenarios), then the
clusters take turns at the timed sweep, whose own `wall_s` gives the schedules/s. The
efficiency is the speed-up divided by the worker count: 1.0 is perfect scaling. Nothing
measured here reaches a schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import attrs

from mfm_sim.explore.sweep import sweep
from mfm_sim.run.scenario import Scenario

__all__ = ["ScalingRow", "dask_scaling", "scaling_counts"]

WARMUP_SEEDS_PER_WORKER = 4
TIMED_FIRST_SEED = 1_000_000  # the timed seeds are not the warm-up's


@attrs.frozen
class ScalingRow:
    workers: int
    schedules: int
    wall_s: float
    schedules_per_s: float
    speedup: float  # against one worker
    efficiency: float  # speed-up per worker

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def scaling_counts(workers: int) -> tuple[int, ...]:
    """The worker counts compared: one, and `workers`."""
    return (1,) if workers == 1 else (1, workers)


def dask_scaling(
    scenarios: Sequence[Scenario], seeds: int, workers: int, version: str, rounds: int = 2
) -> list[ScalingRow]:
    """Sweep the same `seeds` seeds on a local cluster of 1 worker and one of `workers`.

    The clusters take turns, `rounds` times, and each keeps its best round: on a shared
    machine the load changes over a minute, and turns expose both sizes to it alike.
    """
    # Dask is an extra: loaded only when this measurement is asked for.
    from mfm_sim.explore.dask import Target, open_pool

    modules = sorted({sc.build.__module__ for sc in scenarios})
    timed = range(TIMED_FIRST_SEED, TIMED_FIRST_SEED + seeds)
    counts = scaling_counts(workers)
    best: dict[int, tuple[int, float]] = {}
    with ExitStack() as stack:
        pools = [
            stack.enter_context(open_pool(Target(local_workers=n), modules, version))
            for n in counts
        ]
        for n, pool in zip(counts, pools, strict=True):
            warmup = range(WARMUP_SEEDS_PER_WORKER * n)
            sweep(scenarios, warmup, jobs=pool.workers, executor=pool, coverage=False)
        for _ in range(rounds):
            for n, pool in zip(counts, pools, strict=True):
                r = sweep(scenarios, timed, jobs=pool.workers, executor=pool, coverage=False)
                if n not in best or r.schedules / r.wall_s > best[n][0] / best[n][1]:
                    best[n] = (r.schedules, r.wall_s)
    base = best[1][0] / best[1][1]
    rows = []
    for n in counts:
        schedules, wall = best[n]
        rate = schedules / wall
        rows.append(ScalingRow(n, schedules, wall, rate, rate / base, rate / base / n))
    return rows
