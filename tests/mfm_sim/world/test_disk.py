"""Tests for mfm_sim.world.disk: durable and pending bytes, the crash reset, faults, locks."""

from __future__ import annotations

import pytest

from mfm_sim.world.clock import NS_PER_MS, VirtualClock
from mfm_sim.world.disk import (
    SECTOR_SIZE,
    CrashReset,
    DeadHandle,
    DiskCrash,
    DiskFault,
    LockBusy,
    LockLevel,
    SimDisk,
)
from mfm_sim.world.rng import Rng


def _disk(seed: int = 1, decide: object = None) -> SimDisk:
    return SimDisk(VirtualClock(), Rng(seed, "disk:crash"), decide=decide)  # type: ignore[arg-type]


def test_writes_read_back_at_once_and_become_durable_only_at_sync() -> None:
    disk = _disk()
    f = disk.open("/log")
    f.append(b"hello ")
    f.append(b"world")
    assert f.read_all() == b"hello world"
    assert disk.durable_bytes("/log") == b""
    assert len(disk.pending("/log")) == 2
    f.sync()
    assert disk.durable_bytes("/log") == b"hello world"
    assert disk.pending("/log") == ()


def test_a_synced_write_survives_every_crash() -> None:
    for seed in range(20):
        disk = _disk(seed)
        f = disk.open("/log")
        f.append(b"committed")
        f.sync()
        f.append(b"-unsynced" * 200)
        disk.crash()
        data = disk.open("/log").read_all()
        assert data.startswith(b"committed")


def test_a_crash_drops_keeps_or_tears_unsynced_writes_by_sector() -> None:
    seen: set[str] = set()
    write = bytes(range(256)) * (3 * SECTOR_SIZE // 256)  # three whole sectors
    for seed in range(40):
        disk = _disk(seed)
        disk.open("/f").write(0, write)
        disk.crash()
        data = disk.durable_bytes("/f")
        sectors = [data[i : i + SECTOR_SIZE] for i in range(0, len(data), SECTOR_SIZE)]
        # Every sector that survived is the written one or zeros (a hole before a kept one).
        for i, sector in enumerate(sectors):
            assert sector in (write[i * SECTOR_SIZE : (i + 1) * SECTOR_SIZE], bytes(SECTOR_SIZE))
        if data == b"":
            seen.add("dropped")
        elif data == write:
            seen.add("kept")
        else:
            seen.add("torn")
    assert seen == {"dropped", "kept", "torn"}


def test_the_crash_reset_is_a_function_of_the_seed() -> None:
    def after(seed: int) -> bytes:
        disk = _disk(seed)
        f = disk.open("/f")
        for i in range(8):
            f.write(i * 700, bytes([i]) * 700)
        disk.crash()
        return disk.durable_bytes("/f")

    assert [after(s) for s in range(10)] == [after(s) for s in range(10)]
    assert len({after(s) for s in range(10)}) > 1


def test_with_faults_off_a_crash_keeps_every_pending_write() -> None:
    disk = _disk()
    disk.faulty = False
    f = disk.open("/f")
    f.append(b"a" * 2000)
    f.truncate(1500)
    reset = disk.crash()
    assert reset == CrashReset(dropped=0, kept=2, torn=0)
    assert reset.line() == "power loss: 2 unsynced writes kept, 0 torn, 0 dropped"
    assert disk.durable_bytes("/f") == b"a" * 1500


def test_handles_die_at_a_crash_and_a_restart_keeps_the_page_cache() -> None:
    disk = _disk()
    f = disk.open("/f")
    f.append(b"cached")
    disk.restart()
    with pytest.raises(DeadHandle):
        f.append(b"x")
    assert disk.open("/f").read_all() == b"cached"
    disk.crash()
    with pytest.raises(DeadHandle):
        f.read(0, 1)


def test_a_lost_sync_reports_success_and_persists_nothing() -> None:
    disk = _disk(decide=lambda op, path, size: (DiskFault.LOST_SYNC, 0) if op == "sync" else None)
    f = disk.open("/f")
    f.append(b"acknowledged")
    f.sync()  # no error: the disk lied
    assert disk.durable_bytes("/f") == b""
    assert disk.lies == 1


def test_a_crash_fault_at_a_write_raises_after_the_write_reached_the_cache() -> None:
    disk = _disk(decide=lambda op, path, size: (DiskFault.CRASH, 0) if op == "write" else None)
    f = disk.open("/f")
    with pytest.raises(DiskCrash):
        f.append(b"x" * 100)
    assert disk.pending("/f")[0].data == b"x" * 100


def test_a_torn_write_persists_exactly_its_first_sectors_at_the_crash() -> None:
    disk = _disk(decide=lambda op, path, size: (DiskFault.TORN, 2) if op == "write" else None)
    f = disk.open("/f")
    with pytest.raises(DiskCrash):
        f.write(0, b"\x07" * (4 * SECTOR_SIZE))
    disk.crash()
    assert disk.durable_bytes("/f") == b"\x07" * (2 * SECTOR_SIZE)


def test_a_misdirected_write_lands_elsewhere() -> None:
    disk = _disk(decide=lambda op, path, size: (DiskFault.MISDIRECT, 1) if op == "write" else None)
    f = disk.open("/f")
    f.write(0, b"z" * 10)
    assert f.read(0, 10) == bytes(10)
    assert f.read(SECTOR_SIZE, 10) == b"z" * 10
    assert disk.lies == 1


def test_a_bit_flip_changes_one_bit_of_the_durable_bytes() -> None:
    disk = _disk(decide=lambda op, path, size: (DiskFault.BIT_FLIP, 9) if op == "sync" else None)
    f = disk.open("/f")
    f.append(b"\x00\x00\x00")
    f.sync()
    assert disk.durable_bytes("/f") == b"\x00\x02\x00"
    assert f.read_all() == b"\x00\x02\x00"


def test_latency_moves_the_virtual_clock_and_changes_nothing_else() -> None:
    disk = _disk(decide=lambda op, path, size: (DiskFault.LATENCY, 7))
    f = disk.open("/f")
    f.append(b"abc")
    f.sync()
    assert f.read(0, 3) == b"abc"
    assert disk.clock.now_ns == 3 * 7 * NS_PER_MS
    assert disk.durable_bytes("/f") == b"abc"


def test_the_liveness_switch_asks_for_no_fault() -> None:
    asked: list[str] = []
    disk = _disk(decide=lambda op, path, size: asked.append(op))
    disk.faulty = False
    f = disk.open("/f")
    f.append(b"a")
    f.sync()
    assert asked == []


def test_locks_follow_sqlites_rules() -> None:
    disk = _disk()
    a, b = disk.open("/db"), disk.open("/db")
    disk.lock(a, LockLevel.SHARED)
    disk.lock(b, LockLevel.SHARED)
    disk.lock(a, LockLevel.RESERVED)
    assert disk.reserved(b)
    with pytest.raises(LockBusy):
        disk.lock(b, LockLevel.RESERVED)
    with pytest.raises(LockBusy):
        disk.lock(a, LockLevel.EXCLUSIVE)  # b still reads: a waits at PENDING
    c = disk.open("/db")
    with pytest.raises(LockBusy):
        disk.lock(c, LockLevel.SHARED)  # no new reader while a writer is pending
    disk.unlock(b, LockLevel.NONE)
    disk.lock(a, LockLevel.EXCLUSIVE)
    disk.crash()  # a dead process holds no lock
    d = disk.open("/db")
    disk.lock(d, LockLevel.EXCLUSIVE)


def test_open_without_create_and_delete() -> None:
    disk = _disk()
    with pytest.raises(FileNotFoundError):
        disk.open("/nope", create=False)
    disk.open("/f").append(b"x")
    assert disk.exists("/f")
    assert disk.names() == ["/f"]
    disk.delete("/f")
    assert not disk.exists("/f")


def test_the_disk_keeps_the_file_api_contract_of_file_backed_stores() -> None:
    """`mfm_engine.files` (issue 19's stores): `FileSystem.open(path)` creates the file durably,
    `append` reads back at once and is durable only after `sync`, `read` is short at the end,
    `truncate` never grows, `close` does not sync."""
    disk = _disk(5)
    assert not disk.exists("/log.jsonl")
    f = disk.open("/log.jsonl")
    assert disk.exists("/log.jsonl")
    f.append(b'{"seq": 1}\n')
    assert f.size() == 11 and f.read(0, 100) == b'{"seq": 1}\n' and f.read(50, 4) == b""
    f.sync()
    f.append(b'{"seq": 2')  # a torn tail, never synced
    f.truncate(100)
    assert f.size() == 20
    f.truncate(11)
    f.close()
    assert disk.durable_bytes("/log.jsonl") == b'{"seq": 1}\n'
    disk.crash()
    assert disk.exists("/log.jsonl")  # creation was durable at once
    assert disk.open("/log.jsonl").read(0, 100).startswith(b'{"seq": 1}\n')
