"""Sweep many seeds over a scenario mix, in worker processes, and aggregate what they found.

Only counters and the failing schedules are kept (memory does not grow with the number of
seeds); every result is keyed by (scenario, seed) so the aggregate is identical for any
`jobs` count. Traces are not kept during a sweep (`keep_trace=False`): a failure is replayed
bit for bit, with its trace, by `mfm-sim replay`.
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import attrs

from mfm_sim.errors import HarnessError
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants import invariant_names
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.simulate import simulate
from mfm_sim.selfcheck.variants import VARIANTS, UnknownVariant

__all__ = ["MAX_FAILURES", "ScenarioTally", "SweepResult", "parse_shard", "shard", "sweep"]

MAX_FAILURES = 100  # failing schedules kept in full (the first ones by (scenario, seed))
MAX_CHUNK = 32  # seeds per unit of work sent to a worker
IN_FLIGHT_PER_JOB = 4  # chunks queued per worker: enough to keep it busy, bounded memory

Progress = Callable[[int, int, int], None]  # (schedules done, schedules planned, failing)


def shard(seeds: Sequence[int], i: int, n: int) -> Sequence[int]:
    """The `i`-th of `n` interleaved shards of `seeds` (1-based, like `--shard 2/4`).

    Shards are disjoint and together cover `seeds`; a `range` stays a `range` (no list).
    """
    if n < 1:
        raise ValueError(f"shard count must be at least 1, got {n}")
    if not 1 <= i <= n:
        raise ValueError(f"shard index must be between 1 and {n}, got {i}")
    return seeds[i - 1 :: n]


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N) with 1 <= I <= N; raises ValueError with a hint."""
    head, sep, tail = text.strip().partition("/")
    if not sep or not head.strip().isdigit() or not tail.strip().isdigit():
        raise ValueError(f"shard {text!r} is not of the form I/N (for example 1/4)")
    i, n = int(head), int(tail)
    if n < 1 or not 1 <= i <= n:
        raise ValueError(f"shard {text!r} is impossible: I must be between 1 and N (N >= 1)")
    return i, n


@attrs.frozen
class ScenarioTally:
    schedules: int = 0
    failing: int = 0


@attrs.frozen
class SweepResult:
    scenarios: tuple[str, ...]
    seeds_planned: int
    seeds_run: int  # a prefix of the seed sequence (all of it unless the time budget ran out)
    first_seed: int | None
    last_seed: int | None
    schedules: int
    faults_by_kind: dict[str, int]
    crashes: int
    resumes: int
    store_calls: int
    virtual_ns: int
    incarnations: int
    violations_by_invariant: dict[str, int]  # schedules that broke each invariant
    failing: int  # schedules with at least one violation
    failures: list[SimResult]  # the first MAX_FAILURES of them, ordered by (scenario, seed)
    per_scenario: dict[str, ScenarioTally]
    coverage: dict[str, int] | None  # recovery path -> schedules it fired in; None: not measured
    wall_s: float  # display only
    budget_exhausted: bool = False
    stopped_on_failures: bool = False  # `--maxfail` reached: later seeds not dispatched

    @property
    def faults(self) -> int:
        return sum(self.faults_by_kind.values())

    @property
    def ok(self) -> bool:
        return self.failing == 0

    @property
    def schedules_per_s(self) -> float:
        return self.schedules / self.wall_s if self.wall_s > 0 else 0.0


# ------------------------------------------------------------------------------ workers


@attrs.define
class _Partial:
    """What one chunk of seeds found: counters and its failures (never all the results)."""

    seeds: int = 0
    schedules: int = 0
    faults: Counter[str] = attrs.field(factory=Counter)
    crashes: int = 0
    resumes: int = 0
    store_calls: int = 0
    virtual_ns: int = 0
    incarnations: int = 0
    violations: Counter[str] = attrs.field(factory=Counter)
    failing: int = 0
    failures: list[tuple[tuple[int, int], SimResult]] = attrs.field(factory=list)
    per_scenario: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    coverage: Counter[str] | None = None


@attrs.frozen
class _Options:
    scenarios: tuple[Scenario, ...]
    faults: tuple[FaultKind, ...] | None
    swarm: bool
    recoverable: bool
    variant: str | None
    coverage: bool
    max_failures: int
    store: str = "memory"


_OPTIONS: _Options | None = None  # a worker's options, set once by its initializer


# Young-generation threshold for the harness's own processes (CPython's default is 700).
YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Set the garbage collector up for a sweep, in a process the harness owns (a sweep
    worker, `mfm-sim run`, `mfm-sim bench`).

    A schedule allocates thousands of objects that live until it ends and are then freed by
    reference counting. At CPython's default threshold the collector runs every 700
    allocations and walks that live set again each time, for nothing; the import-time heap
    it would walk in every full collection never dies either. So: one collection, then the
    heap alive now is frozen out of the collector's view, and the young generation is
    collected every `YOUNG_THRESHOLD` allocations, which still frees the few reference
    cycles a schedule leaves. No schedule depends on this: crashed incarnations are buried
    at fixed points, never by the collector.
    """
    gc.collect()  # garbage frozen now would never be freed
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


def _init_worker(options: _Options) -> None:
    global _OPTIONS
    _OPTIONS = options
    tune_collector()


def _coverage_fn() -> Callable[[Any], frozenset[str]] | None:
    try:
        from mfm_sim.explore.coverage import coverage_of
    except ImportError:
        return None
    return coverage_of


def _run_chunk(start: int, seeds: tuple[int, ...], options: _Options | None = None) -> _Partial:
    """Run every scenario for each seed of the chunk (`start` is the first seed's position)."""
    opts = options or _OPTIONS
    if opts is None:
        raise HarnessError("sweep worker started without options")
    cover = _coverage_fn() if opts.coverage else None
    out = _Partial(coverage=Counter() if cover is not None else None)
    for offset, seed in enumerate(seeds):
        for index, scenario in enumerate(opts.scenarios):
            try:
                result = simulate(
                    scenario,
                    seed,
                    faults=opts.faults,
                    swarm=opts.swarm,
                    recoverable=opts.recoverable,
                    keep_trace=False,
                    keep_observation=cover is not None,
                    variant=opts.variant,
                    store=opts.store,
                )
            except HarnessError:
                raise
            except Exception as exc:
                raise HarnessError(
                    f"unexpected {type(exc).__name__} while simulating scenario "
                    f"{scenario.name} seed {seed}: {exc}"
                ) from exc
            _count(out, result, (index, start + offset), cover)
        out.seeds += 1
    return out


def _count(
    out: _Partial,
    result: SimResult,
    key: tuple[int, int],
    cover: Callable[[Any], frozenset[str]] | None,
) -> None:
    st = result.stats
    out.schedules += 1
    out.faults.update(dict(st.faults_by_kind))
    out.crashes += st.crashes
    out.resumes += st.resumes
    out.store_calls += st.store_calls
    out.virtual_ns += st.virtual_ns
    out.incarnations += st.incarnations
    out.per_scenario[(result.scenario, "schedules")] += 1
    if cover is not None and out.coverage is not None and result.observation is not None:
        # Only the set of paths leaves the worker, never the observation.
        out.coverage.update(sorted(cover(result.observation)))
    if result.violations:
        out.failing += 1
        out.per_scenario[(result.scenario, "failing")] += 1
        out.violations.update(sorted({v.invariant for v in result.violations}))
        out.failures.append((key, attrs.evolve(result, observation=None)))


class _Totals:
    def __init__(self, max_failures: int, coverage: bool) -> None:
        self.p = _Partial(coverage=Counter() if coverage else None)
        self.max_failures = max_failures
        # A max-heap (by negated key) of the smallest keys seen: the first failures in
        # (scenario, seed) order, whatever order the chunks finish in.
        self._heap: list[tuple[tuple[int, int], int, SimResult]] = []
        self._tie = 0

    def merge(self, part: _Partial) -> None:
        p = self.p
        p.seeds += part.seeds
        p.schedules += part.schedules
        p.faults.update(part.faults)
        p.crashes += part.crashes
        p.resumes += part.resumes
        p.store_calls += part.store_calls
        p.virtual_ns += part.virtual_ns
        p.incarnations += part.incarnations
        p.violations.update(part.violations)
        p.failing += part.failing
        p.per_scenario.update(part.per_scenario)
        if p.coverage is not None and part.coverage is not None:
            p.coverage.update(part.coverage)
        for key, result in part.failures:
            neg = (-key[0], -key[1])
            self._tie += 1
            if len(self._heap) < self.max_failures:
                heapq.heappush(self._heap, (neg, self._tie, result))
            elif self._heap and neg > self._heap[0][0]:
                heapq.heapreplace(self._heap, (neg, self._tie, result))

    def failures(self) -> list[SimResult]:
        return [r for _, _, r in sorted(self._heap, key=lambda e: (-e[0][0], -e[0][1]))]


def _chunks(seeds: Sequence[int], size: int) -> Iterator[tuple[int, tuple[int, ...]]]:
    for start in range(0, len(seeds), size):
        yield start, tuple(seeds[start : start + size])


def _context() -> Any:
    # fork: workers inherit the registry, the scenarios and the imported engine for free.
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def sweep(
    scenarios: Sequence[Scenario],
    seeds: Sequence[int],
    *,
    jobs: int = 1,
    faults: Sequence[FaultKind] | None = None,
    swarm: bool = True,
    recoverable: bool = True,
    variant: str | None = None,
    time_budget: float | None = None,
    progress: Progress | None = None,
    coverage: bool = True,
    max_failures: int = MAX_FAILURES,
    max_failing: int | None = None,
    store: str = "memory",
) -> SweepResult:
    """Simulate every (scenario, seed) pair; return the counters and the failing schedules.

    Results do not depend on `jobs`. `time_budget` (seconds) stops dispatching new seeds once
    spent; the seeds run are then a prefix of `seeds`. `max_failing` (`-x`, `--maxfail N`)
    stops dispatching once that many schedules have failed; what was found is kept.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if max_failing is not None and max_failing < 1:
        raise ValueError(f"max failing must be at least 1, got {max_failing}")
    if time_budget is not None and time_budget <= 0:
        raise ValueError(f"time budget must be positive, got {time_budget}")
    if variant is not None and variant not in VARIANTS:
        known = ", ".join(sorted(VARIANTS))
        raise UnknownVariant(f"unknown engine variant {variant!r}; known: {known}")
    scs = tuple(scenarios)
    measure = coverage and _coverage_fn() is not None
    options = _Options(
        scs,
        tuple(faults) if faults is not None else None,
        swarm,
        recoverable,
        variant,
        measure,
        max_failures,
        store,
    )
    totals = _Totals(max_failures, measure)
    planned = len(seeds) * len(scs)
    # Wall-clock time is used for two things only: the schedules/s display and the time
    # budget, which decides how many seeds are dispatched (never what any seed does).
    began = time.monotonic()

    def over_budget() -> bool:
        return time_budget is not None and time.monotonic() - began >= time_budget

    def enough_failed() -> bool:
        return max_failing is not None and totals.p.failing >= max_failing

    exhausted = False
    stopped = False
    if jobs == 1 or len(seeds) <= 1:
        for start, chunk in _chunks(seeds, 1):
            if over_budget():
                exhausted = True
                break
            if enough_failed():
                stopped = True
                break
            totals.merge(_run_chunk(start, chunk, options))
            if progress is not None:
                progress(totals.p.schedules, planned, totals.p.failing)
    else:
        size = max(1, min(MAX_CHUNK, len(seeds) // (jobs * 16)))
        work = _chunks(seeds, size)
        pool = ProcessPoolExecutor(
            max_workers=jobs, mp_context=_context(), initializer=_init_worker, initargs=(options,)
        )
        pending: set[Future[_Partial]] = set()
        try:
            while True:
                while len(pending) < jobs * IN_FLIGHT_PER_JOB and not (exhausted or stopped):
                    if over_budget():
                        exhausted = True
                        break
                    if enough_failed():
                        stopped = True
                        break
                    nxt = next(work, None)
                    if nxt is None:
                        break
                    pending.add(pool.submit(_run_chunk, nxt[0], nxt[1]))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                # Merging is order-independent (sums, and failures kept by key).
                for fut in done:
                    totals.merge(fut.result())
                if progress is not None:
                    progress(totals.p.schedules, planned, totals.p.failing)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    wall = time.monotonic() - began

    p = totals.p
    order = {name: i for i, name in enumerate(invariant_names())}
    violations = dict(sorted(p.violations.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))
    per_scenario = {
        sc.name: ScenarioTally(
            p.per_scenario[(sc.name, "schedules")], p.per_scenario[(sc.name, "failing")]
        )
        for sc in scs
    }
    run = p.seeds
    return SweepResult(
        scenarios=tuple(sc.name for sc in scs),
        seeds_planned=len(seeds),
        seeds_run=run,
        first_seed=seeds[0] if run else None,
        last_seed=seeds[run - 1] if run else None,
        schedules=p.schedules,
        faults_by_kind=dict(sorted(p.faults.items())),
        crashes=p.crashes,
        resumes=p.resumes,
        store_calls=p.store_calls,
        virtual_ns=p.virtual_ns,
        incarnations=p.incarnations,
        violations_by_invariant=violations,
        failing=p.failing,
        failures=totals.failures(),
        per_scenario=per_scenario,
        coverage=dict(sorted(p.coverage.items())) if p.coverage is not None else None,
        wall_s=wall,
        budget_exhausted=exhausted,
        stopped_on_failures=stopped,
    )
