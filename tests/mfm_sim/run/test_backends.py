"""mfm_sim.run.backends: the runner's seam between the memory stores and real stores on the
simulated disk, end to end with real SQLite (apsw) on the disk's VFS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("apsw")  # the `sqlite` extra

from mfm_engine.stores import ArtifactKind, Stores

from mfm_sim import get_scenario, simulate
from mfm_sim.errors import HarnessError
from mfm_sim.explore.crash_points import crash_points
from mfm_sim.faults.kinds import DISK_KINDS
from mfm_sim.faults.stores import IncarnationHandle
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.run.backends import (
    DISK_STORES,
    DiskStores,
    MemoryStores,
    make_backend,
    register_disk_store,
    run_inline,
)
from mfm_sim.run.world import World
from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.rng import Streams
from tests.mfm_sim.run.minimal_sqlite import minimal_sqlite_stores

STORE, BROKEN = "test-sqlite", "test-sqlite-sync-off"


@pytest.fixture(autouse=True)
def stores() -> Iterator[None]:
    register_disk_store(STORE, minimal_sqlite_stores())
    register_disk_store(BROKEN, minimal_sqlite_stores(synchronous="OFF"))
    yield
    DISK_STORES.pop(STORE, None)
    DISK_STORES.pop(BROKEN, None)


def test_memory_is_the_default_and_an_unknown_store_is_refused() -> None:
    assert isinstance(make_backend("memory", VirtualClock(), Streams(1)), MemoryStores)
    with pytest.raises(ValueError, match="unknown store 'nope'; known: memory, sqlite, jsonl"):
        make_backend("nope", VirtualClock(), Streams(1))
    with pytest.raises(ValueError, match="model stores"):
        register_disk_store("memory", minimal_sqlite_stores())


def test_a_store_call_that_suspends_is_a_harness_error() -> None:
    async def suspends() -> None:
        import asyncio

        await asyncio.sleep(0)

    with pytest.raises(HarnessError, match="must run inline"):
        run_inline(suspends())


def test_disk_kinds_are_drawn_only_where_there_is_a_disk() -> None:
    scenario = get_scenario("linear")
    on_memory = {k for seed in range(30) for k, _ in simulate(scenario, seed).stats.faults_by_kind}
    assert not on_memory & {k.value for k in DISK_KINDS}
    on_disk = {
        k
        for seed in range(30)
        for k, _ in simulate(scenario, seed, store=STORE).stats.faults_by_kind
    }
    assert on_disk & {k.value for k in DISK_KINDS}


def test_the_correct_store_on_the_disk_passes_every_invariant() -> None:
    crashed = 0
    for name in ("linear", "diamond_io", "child_runs"):
        scenario = get_scenario(name)
        for seed in range(25):
            result = simulate(scenario, seed, store=STORE, keep_observation=True)
            assert result.violations == (), [v.describe() for v in result.violations]
            assert result.observation is not None
            assert result.observation.durable_store == STORE
            crashed += result.stats.crashes
    assert crashed > 30  # the disk was reset at crashes, and every store reopened from it


def test_a_schedule_on_the_disk_is_a_function_of_its_seed() -> None:
    scenario = get_scenario("diamond_io")
    for seed in (3, 17):
        first = simulate(scenario, seed, store=STORE)
        again = simulate(scenario, seed, store=STORE)
        assert first.digest == again.digest
        assert first.schedule.faults == again.schedule.faults


def test_a_disk_schedule_replays_from_its_faults() -> None:
    scenario = get_scenario("diamond_io")
    replayed = 0
    for seed in range(25):
        first = simulate(scenario, seed, store=STORE)
        if any(f.kind in DISK_KINDS for f in first.schedule.faults):
            again = simulate(scenario, seed, store=STORE, schedule=first.schedule)
            assert again.digest == first.digest  # the same steps, crash resets and outcome
            replayed += 1
    assert replayed >= 5


def test_the_durability_invariant_catches_a_store_with_synchronous_off() -> None:
    scenario = get_scenario("linear")
    caught = [
        seed
        for seed in range(40)
        if any(
            v.invariant == "durability" for v in simulate(scenario, seed, store=BROKEN).violations
        )
    ]
    assert caught


def test_a_disk_schedule_is_the_same_in_another_process_with_another_hash_seed() -> None:
    script = (
        "from mfm_sim import get_scenario, simulate\n"
        "from mfm_sim.run.backends import register_disk_store\n"
        "from tests.mfm_sim.run.minimal_sqlite import minimal_sqlite_stores\n"
        f"register_disk_store({STORE!r}, minimal_sqlite_stores())\n"
        "for seed in (5, 11):\n"
        f"    print(simulate(get_scenario('diamond_io'), seed, store={STORE!r}).digest)\n"
    )
    hash_seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    here = [simulate(get_scenario("diamond_io"), s, store=STORE).digest for s in (5, 11)]
    assert done.stdout.split() == here


def test_crash_points_on_the_disk_crash_at_every_write_and_sync() -> None:
    scenario = get_scenario("linear")
    on_memory = crash_points(scenario, 0, double=False)
    on_disk = crash_points(scenario, 0, double=False, store=STORE)
    assert on_disk.ok, on_disk.describe()
    assert on_disk.by_kind.get("disk_crash_unsynced", 0) > on_memory.points


def _disk_backend(seed: int = 2) -> tuple[DiskStores, World]:
    world = World(seed, FaultConfig((), None))
    backend = make_backend(STORE, world.clock, world.streams)
    assert isinstance(backend, DiskStores)
    return backend, world


def test_a_crashed_incarnation_writes_nothing_as_its_connection_closes() -> None:
    backend, world = _disk_backend()
    handle = IncarnationHandle(world, 0)
    stores = backend.open(handle)
    run_inline(stores.artifacts.put(ArtifactKind.OTHER, b"kept"))
    handle.alive = False  # the process died (a crash fault at a store call)
    writes_before = list(backend.disk.ops)
    backend.ended(crashed=True)  # power off, then its connection closes on dead files
    assert backend.disk.ops == writes_before
    artifacts, _ = backend.contents()
    assert b"kept" in artifacts.values()  # the put was committed and synced before the crash
    backend.close()


def test_only_a_lying_disk_excuses_an_unreadable_artifact() -> None:
    backend, world = _disk_backend()
    stores = backend.open(IncarnationHandle(world, 0))
    artifact_id = run_inline(stores.artifacts.put(ArtifactKind.OTHER, b"x" * 100))
    backend.ended(crashed=False)
    backend.disk.delete("/mfm.db")  # the store's file gone: nothing it acknowledged reads back
    backend.disk.delete("/mfm.db-wal")
    artifacts, _ = backend.contents()
    assert artifact_id not in artifacts
    assert backend.lied_away() == frozenset()  # an honest disk: the loss stays the store's
    backend.disk.lies += 1
    assert backend.lied_away() == {artifact_id}
    backend.close()


class _Garbling:
    """An artifact store that reads back other bytes than were put, as one on a garbled disk."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        return str(await self.inner.put(kind, data))

    async def get(self, artifact_id: str) -> bytes:
        return bytes(await self.inner.get(artifact_id)) + b"!"

    def close(self) -> None:
        self.inner.close()


def test_only_a_lying_disk_excuses_an_artifact_read_back_changed() -> None:
    build = minimal_sqlite_stores()
    register_disk_store(
        "test-garbling",
        lambda env: (lambda s: Stores(_Garbling(s.artifacts), s.events))(build(env)),
    )
    try:
        world = World(2, FaultConfig((), None))
        backend = make_backend("test-garbling", world.clock, world.streams)
        assert isinstance(backend, DiskStores)
        stores = backend.open(IncarnationHandle(world, 0))
        artifact_id = run_inline(stores.artifacts.put(ArtifactKind.OTHER, b"x" * 100))
        backend.ended(crashed=False)
        artifacts, _ = backend.contents()
        assert artifacts[artifact_id] == b"x" * 100 + b"!"
        assert backend.lied_away() == frozenset()  # an honest disk: the change is the store's
        backend.disk.lies += 1
        backend.contents()
        assert backend.lied_away() == {artifact_id}
        backend.close()
    finally:
        DISK_STORES.pop("test-garbling", None)


class _DiesAfterPut(_Garbling):
    """An artifact store whose put commits and then never returns (the machine died)."""

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        await self.inner.put(kind, data)
        raise OSError("power lost before the put returned")

    async def get(self, artifact_id: str) -> bytes:
        return bytes(await self.inner.get(artifact_id))


def test_an_artifact_a_put_made_durable_without_returning_is_read_back() -> None:
    build = minimal_sqlite_stores()
    register_disk_store(
        "test-dies",
        lambda env: (lambda s: Stores(_DiesAfterPut(s.artifacts), s.events))(build(env)),
    )
    try:
        world = World(2, FaultConfig((), None))
        backend = make_backend("test-dies", world.clock, world.streams)
        stores = backend.open(IncarnationHandle(world, 0))
        with pytest.raises(OSError):
            run_inline(stores.artifacts.put(ArtifactKind.OTHER, b"y" * 100))
        backend.ended(crashed=False)
        artifacts, _ = backend.contents()
        assert list(artifacts.values()) == [b"y" * 100]
        backend.close()
    finally:
        DISK_STORES.pop("test-dies", None)


@pytest.mark.parametrize("store", ["sqlite", "jsonl"])
def test_every_append_a_real_store_is_asked_for_is_recorded(store: str) -> None:
    result = simulate(get_scenario("linear"), 3, faults=(), store=store, keep_observation=True)
    obs = result.observation
    assert obs is not None and obs.durable_store == store and result.violations == ()
    acked = [(b[3], b[4]) for inc in obs.incarnations for b in inc.appends]
    assert [(a.run_id, a.envelopes) for a in obs.store_appends] == acked
    assert all(a.returned for a in obs.store_appends)
    assert result.schedule.store == store  # the schedule records where it ran


def test_a_disk_store_leaves_out_the_operators_direct_writes() -> None:
    """Generated seed 0 brings a recorded log and seed 4 makes operator mistakes: both write
    straight into the memory stores, so on a disk store they are left out, not a harness
    error; on the memory store they are there."""
    sc = get_scenario("generated")
    seeded = simulate(sc, 0, keep_observation=True).observation
    mistaken = simulate(sc, 4, keep_observation=True).observation
    assert seeded is not None and seeded.seeded
    assert mistaken is not None and mistaken.operator_calls
    for store in ("sqlite", "jsonl"):
        for seed in (0, 4):
            result = simulate(sc, seed, store=store, keep_observation=True)
            obs = result.observation
            assert obs is not None and result.violations == ()
            assert not obs.seeded and obs.operator_calls == ()


def test_a_mixed_seed_runs_on_the_store_it_drew_and_memory_draws_change_nothing() -> None:
    from mfm_sim.run.store_names import draw_store

    sc = get_scenario("linear")
    seeds = {draw_store(seed): seed for seed in range(40)}
    for store, seed in seeds.items():
        mixed = simulate(sc, seed, store="mix")
        assert mixed.schedule.store == store
        assert mixed.digest == simulate(sc, seed, store=store).digest
        assert simulate(sc, seed, schedule=mixed.schedule).digest == mixed.digest
