"""mfm_sim.run.backends: the runner's seam between the memory stores and real stores on the
simulated disk, end to end with real SQLite (apsw) on the disk's VFS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("apsw")  # the `sqlite` extra

from mfm_sim import get_scenario, simulate
from mfm_sim.errors import HarnessError
from mfm_sim.faults.kinds import DISK_KINDS
from mfm_sim.run.backends import (
    DISK_STORES,
    MemoryStores,
    make_backend,
    register_disk_store,
    run_inline,
)
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
    with pytest.raises(ValueError, match="unknown store 'nope'; known stores: memory, test-sqlite"):
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
        for seed in range(40):
            result = simulate(scenario, seed, store=STORE, keep_observation=True)
            assert result.violations == (), [v.describe() for v in result.violations]
            assert result.observation is not None
            assert result.observation.durable_store == STORE
            crashed += result.stats.crashes
    assert crashed > 50  # the disk was reset at crashes, and every store reopened from it


def test_a_schedule_on_the_disk_is_a_function_of_its_seed() -> None:
    scenario = get_scenario("diamond_io")
    for seed in (3, 17):
        first = simulate(scenario, seed, store=STORE)
        again = simulate(scenario, seed, store=STORE)
        assert first.digest == again.digest
        assert first.schedule.faults == again.schedule.faults


def test_a_disk_schedule_replays_from_its_faults() -> None:
    scenario = get_scenario("linear")
    for seed in range(20):
        first = simulate(scenario, seed, store=STORE)
        if any(f.kind in DISK_KINDS for f in first.schedule.faults):
            again = simulate(scenario, seed, store=STORE, schedule=first.schedule)
            assert again.schedule.faults == first.schedule.faults
            assert again.final_phase == first.final_phase
            return
    raise AssertionError("no disk fault in 20 seeds")


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
