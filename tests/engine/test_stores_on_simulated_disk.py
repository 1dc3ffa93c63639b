"""The durable stores on the simulated disk: conformance, and a bounded crash sweep per store that
the correct stores pass and each broken variant fails.

The sweep is the store-level half of issue 19's "each broken store variant is caught": seeded
power losses at disk writes and syncs (some tearing the write at sector granularity), then the
crash reset (each unsynced write dropped, kept or torn), then the store reopened. After every
reopen the log must hold every acknowledged append, event for event, and end on a batch
boundary (an append is all or nothing). `head_outside_transaction` needs two racing appends,
which a crash sweep of one writer never makes: the conformance suite's race catches it.

Needs the simulated disk (`mfm_sim.world.disk`, `mfm_sim.world.disk_vfs`) and the `sqlite`
extra; skipped where either is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

apsw = pytest.importorskip("apsw")
disk_module = pytest.importorskip("mfm_sim.world.disk")
vfs_module = pytest.importorskip("mfm_sim.world.disk_vfs")

from mfm_engine.conformance import (  # noqa: E402
    EVENT_CHECKS,
    RUN_A,
    check_artifact_store,
    check_event_store,
    make_envelope,
    run_check,
)
from mfm_engine.errors import StorageError  # noqa: E402
from mfm_engine.events import EventEnvelope  # noqa: E402
from mfm_engine.file_log import JsonlEventStore  # noqa: E402
from mfm_engine.sqlite_stores import (  # noqa: E402
    SqliteArtifactStore,
    SqliteDatabase,
    SqliteEventStore,
)

from mfm_sim.world.clock import VirtualClock  # noqa: E402
from mfm_sim.world.rng import Rng  # noqa: E402

DiskFault = disk_module.DiskFault
SimDisk = disk_module.SimDisk
SimVFS = vfs_module.SimVFS
dead_files_quiet = vfs_module.dead_files_quiet

_NAMES = itertools.count()
INCARNATIONS = 4
APPENDS_PER_INCARNATION = 4
SEEDS = 60


class _Machine:
    """One simulated disk, its VFS, and how each process opens the store on it."""

    def __init__(self, seed: int, kind: str, flaw: str | None) -> None:
        self.kind = kind
        self.flaw = flaw
        self.disk = SimDisk(VirtualClock(), Rng(seed, "disk:crash"))
        self.vfs = (
            SimVFS(f"stores-test-{next(_NAMES)}", self.disk, Rng(seed, "disk:vfs"))
            if kind == "sqlite"
            else None
        )

    def open(self) -> Any:
        if self.kind == "jsonl":
            return JsonlEventStore(
                "/log.jsonl",
                self.disk,
                inline=True,
                repair_torn_tail=self.flaw != "no_torn_tail_repair",
            )
        assert self.vfs is not None
        db = SqliteDatabase(
            "/runs.db", vfs=self.vfs.vfs_name, inline=True, exclusive=True, flaw=self.flaw
        )
        return SqliteEventStore(db)

    def close(self) -> None:
        if self.vfs is not None:
            self.vfs.unregister()


def _close_dead(store: Any) -> None:
    """The process ends: closing may fail on files a crash left dead, or lose power itself
    (SQLite checkpoints its WAL on close, and the decider may crash that write)."""
    with (
        dead_files_quiet(),
        contextlib.suppress(StorageError, OSError, apsw.Error, disk_module.DiskCrash),
    ):
        store.close()


def _crash_decider(rng: Rng) -> Callable[[str, str, int], Any]:
    """Power loss at one of the next 60 writes and syncs; half the write crashes tear it."""
    ops = itertools.count()
    at = rng.below(60)

    def decide(op: str, path: str, size: int) -> Any:
        if op not in ("write", "sync") or next(ops) != at:
            return None
        if op == "write" and rng.chance(0.5):
            return (DiskFault.TORN, rng.below(max(size, 1)))
        return (DiskFault.CRASH, 0)

    return decide


def _problem_after_reopen(
    got: list[EventEnvelope], acked: list[EventEnvelope], attempted: list[list[EventEnvelope]]
) -> str | None:
    if got[: len(acked)] != acked:
        return f"acknowledged appends lost: {len(acked)} acknowledged, {len(got)} read back"
    bounds = {0, *itertools.accumulate(len(batch) for batch in attempted)}
    if len(got) not in bounds:
        return f"a torn batch: {len(got)} events where batches end at {sorted(bounds)}"
    return None


def crash_sweep_one(seed: int, kind: str, flaw: str | None = None) -> str | None:
    """One seeded schedule of crashes under one store; what went wrong, or None."""
    rng = Rng(seed, "stores-test")
    machine = _Machine(seed, kind, flaw)
    acked: list[EventEnvelope] = []
    attempted: list[list[EventEnvelope]] = []  # since the last reopen, the first is what was
    try:
        for _ in range(INCARNATIONS):
            machine.disk.decide = _crash_decider(rng)
            store = machine.open()
            problem: list[str] = []

            async def work(store: Any = store, problem: list[str] = problem) -> None:
                got = await store.read_range(RUN_A, 1)
                found = _problem_after_reopen(got, acked, attempted)
                if found is not None:
                    problem.append(found)
                    return
                acked[:] = got  # an unacknowledged batch may have become durable: it stays
                attempted[:] = [list(got)]
                for _ in range(APPENDS_PER_INCARNATION):
                    first = len(acked) + 1
                    batch = [
                        make_envelope(RUN_A, s) for s in range(first, first + 1 + rng.below(3))
                    ]
                    attempted.append(batch)
                    await store.append(RUN_A, len(acked), batch)
                    acked.extend(batch)

            try:
                with dead_files_quiet():
                    asyncio.run(work())
            except (disk_module.DiskCrash, apsw.Error):
                pass  # the machine lost power mid-call
            except StorageError as exc:
                if not machine.disk.down and machine.disk.epoch == 0:
                    return f"a storage error with no crash: {exc}"
            _close_dead(store)
            if problem:
                return problem[0]
            machine.disk.decide = None
            machine.disk.crash()
        store = machine.open()
        try:
            got = asyncio.run(store.read_range(RUN_A, 1))
        except StorageError as exc:
            return f"the last reopen failed: {exc}"
        finally:
            _close_dead(store)
        return _problem_after_reopen(got, acked, attempted)
    finally:
        machine.close()


def crash_sweep(kind: str, flaw: str | None = None, seeds: int = SEEDS) -> dict[int, str]:
    out: dict[int, str] = {}
    for seed in range(seeds):
        try:
            problem = crash_sweep_one(seed, kind, flaw)
        except StorageError as exc:  # a store that refuses its own log
            problem = f"refused its log: {exc}"
        if problem is not None:
            out[seed] = problem
    return out


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_the_correct_stores_survive_every_crash_of_the_sweep(kind: str) -> None:
    assert crash_sweep(kind) == {}


@pytest.mark.parametrize(
    ("kind", "flaw"),
    [
        ("jsonl", "no_torn_tail_repair"),
        ("sqlite", "synchronous_off"),
        ("sqlite", "append_two_transactions"),
    ],
)
def test_the_sweep_catches_each_broken_store(kind: str, flaw: str) -> None:
    caught = crash_sweep(kind, flaw)
    assert caught, f"{kind} with {flaw}: no seed of {SEEDS} caught it"


def test_the_sweep_is_deterministic() -> None:
    assert crash_sweep("sqlite", "append_two_transactions", 20) == crash_sweep(
        "sqlite", "append_two_transactions", 20
    )


@contextlib.contextmanager
def _fresh_machines(kind: str, flaw: str | None = None) -> Iterator[Callable[[], Any]]:
    machines: list[_Machine] = []

    def make() -> Any:
        machine = _Machine(len(machines), kind, flaw)
        machines.append(machine)
        return machine.open()

    try:
        yield make
    finally:
        for machine in machines:
            machine.close()


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_the_stores_conform_on_the_simulated_disk(kind: str) -> None:
    with _fresh_machines(kind) as make:
        asyncio.run(check_event_store(make))


def test_the_artifact_store_conforms_on_the_simulated_disk() -> None:
    with _fresh_machines("sqlite") as make:
        asyncio.run(check_artifact_store(lambda: SqliteArtifactStore(make().db)))


def test_head_outside_the_transaction_loses_the_race_check_on_the_simulated_disk() -> None:
    race = dict(EVENT_CHECKS)["concurrent_appends_one_wins"]
    with (
        _fresh_machines("sqlite", "head_outside_transaction") as make,
        pytest.raises(AssertionError, match="not StorageError CONCURRENCY"),
    ):
        asyncio.run(run_check("concurrent_appends_one_wins", race, make))
