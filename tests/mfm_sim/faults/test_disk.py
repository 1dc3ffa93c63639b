"""mfm_sim.faults.disk: the disk kinds fire at disk operations, are recorded, and replay."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mfm_sim.faults.disk import DISK_EFFECTS, bind_disk
from mfm_sim.faults.kinds import DISK_KINDS, DISK_SITES, FAULTS, Fault, FaultKind
from mfm_sim.faults.stores import IncarnationHandle, SimCrash
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.run.world import World
from mfm_sim.world.disk import CRASH_STREAM, SECTOR_SIZE, SimDisk

K = FaultKind


def _rig(
    *, config: FaultConfig | None = None, schedule: Sequence[Fault] | None = None
) -> tuple[World, SimDisk, IncarnationHandle]:
    world = World(3, config, schedule=list(schedule) if schedule is not None else None)
    disk = SimDisk(world.clock, world.streams.stream(CRASH_STREAM))
    handle = IncarnationHandle(world, 0)
    bind_disk(disk, handle)
    return world, disk, handle


def _always(kind: FaultKind) -> FaultConfig:
    return FaultConfig(((kind, 1.0),), None, activation=1.0)


def test_every_disk_kind_has_an_effect_and_only_disk_sites() -> None:
    assert set(DISK_EFFECTS) == set(DISK_KINDS)
    for kind in DISK_KINDS:
        assert set(FAULTS[kind].sites) <= set(DISK_SITES)


def test_a_lost_sync_is_recorded_and_persists_nothing() -> None:
    world, disk, _ = _rig(config=_always(K.DISK_LOST_SYNC))
    f = disk.open("/log")
    f.append(b"line\n")
    f.sync()
    assert disk.durable_bytes("/log") == b""
    [fault] = world.injector.fired
    assert (fault.kind, fault.site, fault.target, fault.step) == (
        K.DISK_LOST_SYNC,
        "disk.sync",
        "/log",
        2,  # the write was step 1
    )


def test_a_crash_kind_kills_the_incarnation_with_its_fault() -> None:
    world, disk, handle = _rig(config=_always(K.DISK_CRASH_UNSYNCED))
    f = disk.open("/log")
    with pytest.raises(SimCrash) as caught:
        f.append(b"x")
    assert caught.value.fault == world.injector.fired[0]
    assert not handle.alive
    with pytest.raises(OSError):
        f.sync()  # the machine is down: its handles are dead


def test_a_torn_write_draws_its_sectors_from_the_write_and_replays() -> None:
    world, disk, _ = _rig(config=_always(K.DISK_TORN_WRITE))
    data = b"\x01" * (4 * SECTOR_SIZE)
    with pytest.raises(SimCrash):
        disk.open("/f").write(0, data)
    [fault] = world.injector.fired
    assert 0 <= fault.arg < 4
    disk.crash()
    kept = disk.durable_bytes("/f")
    assert kept == data[: fault.arg * SECTOR_SIZE]

    replayed_world, replayed, _ = _rig(schedule=[fault])
    with pytest.raises(SimCrash):
        replayed.open("/f").write(0, data)
    replayed.crash()
    assert replayed.durable_bytes("/f") == kept
    assert replayed_world.injector.fired == [fault]


def test_latency_takes_virtual_time() -> None:
    world, disk, _ = _rig(config=_always(K.DISK_LATENCY))
    disk.open("/f").append(b"a")
    [fault] = world.injector.fired
    assert world.clock.now_ns == fault.arg * 1_000_000


def test_every_disk_operation_is_a_fault_point_and_the_liveness_switch_stops_faults() -> None:
    world, disk, _ = _rig(config=_always(K.DISK_LOST_SYNC))
    f = disk.open("/f")
    f.append(b"a")
    f.read(0, 1)
    f.sync()
    assert world.injector.step == 3
    world.injector.paused = True  # the liveness phase: the next incarnation binds faults off
    bind_disk(disk, IncarnationHandle(world, 1))
    assert not disk.faulty
    f.sync()
    assert len(world.injector.fired) == 1
