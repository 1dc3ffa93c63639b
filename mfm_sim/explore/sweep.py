"""Sweep many seeds over a scenario mix, in worker processes, and aggregate what they found.

Only counters and the failing schedules are kept (memory does not grow with the number of
seeds); every result is keyed by (scenario, seed) so the aggregate is identical for any
`jobs` count. Traces are not kept during a sweep (`keep_trace=False`): a failure is replayed
bit for bit, with its trace, by `mfm-sim replay`.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import math
import multiprocessing
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import attrs

from mfm_sim.errors import HarnessError
from mfm_sim.explore.interrupt import StopSignals, detach_worker, signal_name
from mfm_sim.explore.seeds import SeedSpan, range_count
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants import invariant_names
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.simulate import simulate
from mfm_sim.selfcheck.variants import VARIANTS, UnknownVariant

__all__ = [
    "MAX_FAILURES",
    "MAX_LISTED_SEEDS",
    "ScenarioTally",
    "SweepResult",
    "Unrun",
    "make_executor",
    "parse_shard",
    "seed_count",
    "shard",
    "sweep",
]

MAX_FAILURES = 100  # failing schedules kept in full (the first ones by (scenario, seed))
MAX_LISTED_SEEDS = 1_000_000  # failing seeds named (bounded memory: a few dozen MB at most)
MAX_CHUNK = 32  # seeds per unit of work sent to a worker
IN_FLIGHT_PER_JOB = 4  # chunks queued per worker: enough to keep it busy, bounded memory
MAX_TRIES = 3  # a chunk whose worker dies this often is reported by seed, not run again
BUDGET_CHUNK_SCHEDULES = 64  # at most this many schedules a chunk under a time budget
POLL_S = 0.2  # how often the dispatcher looks at stop signals while it waits for workers
KILL_WAIT_S = 1.0  # how long a worker may take to die of SIGTERM before it gets SIGKILL

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
    # ASCII digits, at most 20 (a u64): `int()` of a 5,000-digit number raises another error.
    if not sep or not all(
        p.strip().isascii() and p.strip().isdigit() and len(p.strip()) <= 20 for p in (head, tail)
    ):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"shard {shown!r} is not of the form I/N (for example 1/4)")
    i, n = int(head), int(tail)
    if n < 1 or not 1 <= i <= n:
        raise ValueError(f"shard {text!r} is impossible: I must be between 1 and N (N >= 1)")
    return i, n


@attrs.frozen
class Unrun:
    """Seeds dispatched but never finished, and why (a stop signal, a worker that kept dying)."""

    seeds: tuple[int, ...]
    reason: str


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
    interrupted: int | None = None  # the stop signal (SIGINT, SIGTERM, SIGHUP) that ended it
    unrun: tuple[Unrun, ...] = ()  # seeds before `last_seed` (or lost) that never finished
    worker_deaths: int = 0  # times a worker process died and its chunks were sent again
    # Every failing (scenario, seed), in (scenario, seed) order, up to MAX_LISTED_SEEDS: the
    # seeds of the failures not kept in full are still named (`--json`).
    failing_seeds: tuple[tuple[str, int], ...] = ()

    @property
    def partial(self) -> str | None:
        """Why the sweep's counts are not those of every seed it meant to run, or None.
        (A time budget or `--maxfail` is asked for; a signal or lost seeds are not.)"""
        reasons = []
        if self.interrupted is not None:
            reasons.append(f"interrupted by {signal_name(self.interrupted)}")
        lost = sum(len(u.seeds) for u in self.unrun if "died" in u.reason)
        if lost:
            reasons.append(f"{lost} seeds not run: their worker process kept dying")
        return "; ".join(reasons) or None

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


def _init_worker(options: _Options, parent: int | None = None) -> None:
    """A worker's setup; `parent`: the pool owner's pid (None: not in a worker process)."""
    global _OPTIONS
    if parent is not None:
        detach_worker(parent)
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
        # Every failing (scenario, seed), the same way: the first MAX_LISTED_SEEDS by key.
        self._seeds: list[tuple[tuple[int, int], str, int]] = []

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
            if len(self._seeds) < MAX_LISTED_SEEDS:
                heapq.heappush(self._seeds, (neg, result.scenario, result.seed))
            elif neg > self._seeds[0][0]:
                heapq.heapreplace(self._seeds, (neg, result.scenario, result.seed))
            self._tie += 1
            if len(self._heap) < self.max_failures:
                heapq.heappush(self._heap, (neg, self._tie, result))
            elif self._heap and neg > self._heap[0][0]:
                heapq.heapreplace(self._heap, (neg, self._tie, result))

    def failing_seeds(self) -> tuple[tuple[str, int], ...]:
        return tuple((name, seed) for _, name, seed in sorted(self._seeds, reverse=True))

    def failures(self) -> list[SimResult]:
        return [r for _, _, r in sorted(self._heap, key=lambda e: (-e[0][0], -e[0][1]))]


# ------------------------------------------------------------------------------ dispatch


def seed_count(seeds: Sequence[int]) -> int:
    """`len(seeds)`, also for a range longer than `sys.maxsize` (where `len` overflows) and
    for a `SeedSpan`, whose `len` stops at `sys.maxsize`."""
    if isinstance(seeds, SeedSpan):
        return seeds.count
    if isinstance(seeds, range):
        return range_count(seeds)
    return len(seeds)


@attrs.define
class _Chunk:
    start: int  # the position of its first seed in the sweep's seeds
    seeds: tuple[int, ...]
    tries: int = 0  # times a worker died while it was in flight


class _Dispatch:
    """Which chunk goes out next, and why dispatching stopped: the time budget, `--maxfail`,
    a stop signal. Positions, not seeds, are walked, so a range is never materialised."""

    def __init__(
        self,
        seeds: Sequence[int],
        totals: _Totals,
        time_budget: float | None,
        max_failing: int | None,
    ) -> None:
        self.seeds = seeds
        self.count = seed_count(seeds)
        self.totals = totals
        self.time_budget = time_budget
        self.max_failing = max_failing
        # Wall-clock time is used for two things only: the schedules/s display and the time
        # budget, which decides how many seeds are dispatched (never what any seed does).
        self.began = time.monotonic()
        self.signals: StopSignals | None = None
        self.exhausted = False
        self.stopped = False
        self.retry: deque[_Chunk] = deque()
        self.unrun: list[Unrun] = []
        self.worker_deaths = 0
        self.reach = 0  # end position of the furthest chunk finished
        self._size = 1
        self._next = 0

    def start(self, size: int) -> None:
        self._size = size

    @property
    def interrupted(self) -> int | None:
        return self.signals.received if self.signals is not None else None

    def halted(self) -> bool:
        if self.interrupted is not None or self.exhausted or self.stopped:
            return True
        if self.max_failing is not None and self.totals.p.failing >= self.max_failing:
            self.stopped = True
        elif self.time_budget is not None and time.monotonic() - self.began >= self.time_budget:
            self.exhausted = True
        return self.exhausted or self.stopped

    def next_chunk(self) -> _Chunk | None:
        if self.halted():
            return None
        if self.retry:
            return self.retry.popleft()
        if self._next >= self.count:
            return None
        start = self._next
        self._next = min(self.count, start + self._size)
        return _Chunk(start, tuple(self.seeds[start : self._next]))

    def finish(self, chunk: _Chunk, part: _Partial) -> None:
        # Merging is order-independent (sums, and failures kept by key).
        self.totals.merge(part)
        self.reach = max(self.reach, chunk.start + len(chunk.seeds))

    def died(self, chunk: _Chunk) -> None:
        """Its worker died: run it again, or after MAX_TRIES report its seeds."""
        chunk.tries += 1
        if chunk.tries >= MAX_TRIES:
            self.unrun.append(Unrun(chunk.seeds, f"its worker died {chunk.tries} times"))
        else:
            self.retry.append(chunk)

    def abandon(self, chunks: Iterable[_Chunk]) -> None:
        """Chunks in flight or waiting for a re-run when the sweep stopped: those before the
        furthest seed run are holes, listed by seed; those after it just were not reached."""
        why = "stopped before it finished"
        if self.interrupted is not None:
            why = f"interrupted by {signal_name(self.interrupted)}"
        elif self.exhausted:
            why = "time budget spent before its re-run"
        for chunk in sorted(chunks, key=lambda c: c.start):
            if chunk.start < self.reach:
                self.unrun.append(Unrun(chunk.seeds, why))
        self.retry.clear()


def _sweep_here(state: _Dispatch, options: _Options, progress: Progress | None) -> None:
    """One seed at a time in this process (`jobs=1`)."""
    state.start(1)
    planned = state.count * len(options.scenarios)
    while (chunk := state.next_chunk()) is not None:
        state.finish(chunk, _run_chunk(chunk.start, chunk.seeds, options))
        if progress is not None:
            progress(state.totals.p.schedules, planned, state.totals.p.failing)


def make_executor(jobs: int, options: _Options) -> ProcessPoolExecutor:
    """The worker pool of a sweep: `jobs` processes, each set up by `_init_worker`."""
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=_context(),
        initializer=_init_worker,
        initargs=(options, os.getpid()),
    )


def _stop_executor(pool: Executor, *, kill: bool) -> None:
    """Shut the pool down; with `kill`, a local pool's workers first get SIGTERM (then
    SIGKILL), so none outlives the sweep and no running chunk is waited for (a Dask
    executor's shutdown cancels what it still holds)."""
    if kill and isinstance(pool, ProcessPoolExecutor):
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + KILL_WAIT_S
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(KILL_WAIT_S)
    pool.shutdown(wait=True, cancel_futures=True)


def _sweep_pool(
    state: _Dispatch,
    options: _Options,
    jobs: int,
    progress: Progress | None,
    executor: Executor | None = None,
) -> None:
    """Chunks of seeds in `jobs` worker processes, or on `executor` (a Dask cluster's, which
    recomputes a lost worker's chunks itself); a dead local worker's chunks are run again."""
    size = min(MAX_CHUNK, state.count // (jobs * 16))
    if state.time_budget is not None:  # the budget may overshoot by one chunk: keep it short
        size = min(size, BUDGET_CHUNK_SCHEDULES // len(options.scenarios))
    state.start(max(1, size))
    planned = state.count * len(options.scenarios)
    # Another machine's worker has no initializer of ours: each chunk carries the options.
    extra: tuple[_Options, ...] = (options,) if executor is not None else ()
    pool: Executor = executor if executor is not None else make_executor(jobs, options)
    pending: dict[Future[_Partial], _Chunk] = {}
    clean = False
    try:
        while state.interrupted is None:
            while len(pending) < jobs * IN_FLIGHT_PER_JOB:
                chunk = state.next_chunk()
                if chunk is None:
                    break
                pending[pool.submit(_run_chunk, chunk.start, chunk.seeds, *extra)] = chunk
            if state.halted():
                # Queued chunks never start; the running ones finish (one chunk's time).
                for fut in [f for f in pending if f.cancel()]:
                    del pending[fut]
            if not pending:
                break
            done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            if _collect(state, pending, done):
                # A worker died: every future of that pool fails; gather them, start afresh.
                _collect(state, pending, wait(pending).done)
                _stop_executor(pool, kill=True)
                pool = make_executor(jobs, options)
            if progress is not None:
                progress(state.totals.p.schedules, planned, state.totals.p.failing)
        clean = state.interrupted is None
    finally:
        _stop_executor(pool, kill=not clean)
        state.abandon([*pending.values(), *state.retry])


def _collect(
    state: _Dispatch, pending: dict[Future[_Partial], _Chunk], done: Iterable[Future[_Partial]]
) -> bool:
    """Merge the finished futures; True if one of them found its pool broken."""
    broken = False
    for fut in done:
        chunk = pending.pop(fut)
        try:
            part = fut.result()
        except BrokenProcessPool:
            broken = True
            state.died(chunk)
        else:
            state.finish(chunk, part)
    if broken:
        state.worker_deaths += 1
    return broken


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
    stop_signals: bool = False,
    executor: Executor | None = None,
    store: str = "memory",
) -> SweepResult:
    """Simulate every (scenario, seed) pair; return the counters and the failing schedules.

    Results do not depend on `jobs`. `time_budget` (seconds) stops dispatching new seeds once
    spent; the seeds run are then a prefix of `seeds`. `max_failing` (`-x`, `--maxfail N`)
    stops dispatching once that many schedules have failed; what was found is kept.
    `stop_signals` (a command's choice, not a library's): SIGINT, SIGTERM and SIGHUP stop the
    sweep within POLL_S plus a worker's death, and it returns what it found, marked
    `interrupted`; without it they act as usual (Ctrl-C raises KeyboardInterrupt). Either
    way no worker outlives the sweep.
    `executor` (a Dask cluster's, `mfm_sim.explore.dask`) runs the chunks instead of `jobs`
    local processes; `jobs` is then how many chunks it runs at once. The sweep shuts it down.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if max_failing is not None and max_failing < 1:
        raise ValueError(f"max failing must be at least 1, got {max_failing}")
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget > 0):
        raise ValueError(f"time budget must be a finite positive number, got {time_budget}")
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
    state = _Dispatch(seeds, totals, time_budget, max_failing)
    with StopSignals() if stop_signals else contextlib.nullcontext() as signals:
        state.signals = signals
        if executor is None and (jobs == 1 or state.count <= 1):
            _sweep_here(state, options, progress)
        else:
            _sweep_pool(state, options, jobs, progress, executor)
    wall = time.monotonic() - state.began

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
        seeds_planned=state.count,
        seeds_run=run,
        first_seed=seeds[0] if run else None,
        last_seed=seeds[state.reach - 1] if run else None,
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
        budget_exhausted=state.exhausted,
        stopped_on_failures=state.stopped,
        interrupted=state.interrupted,
        unrun=tuple(state.unrun),
        worker_deaths=state.worker_deaths,
        failing_seeds=totals.failing_seeds(),
    )
