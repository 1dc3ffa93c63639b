"""Tests for mfm_sim.world.disk_vfs: real SQLite (apsw) in WAL mode on the simulated disk."""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

apsw = pytest.importorskip("apsw")  # the `sqlite` extra

from mfm_sim.world.clock import NS_PER_SEC, VirtualClock  # noqa: E402
from mfm_sim.world.disk import DeadHandle, DiskDecide, DiskFault, SimDisk  # noqa: E402
from mfm_sim.world.disk_vfs import EXCLUSIVE_PRAGMAS, SimVFS, dead_files_quiet  # noqa: E402
from mfm_sim.world.rng import Rng  # noqa: E402

_names = itertools.count()


@pytest.fixture
def make_vfs() -> Iterator[object]:
    made: list[SimVFS] = []

    def make(seed: int = 1, decide: DiskDecide | None = None) -> SimVFS:
        disk = SimDisk(VirtualClock(), Rng(seed, "disk:crash"), decide=decide)
        vfs = SimVFS(f"test-sim-{next(_names)}", disk, Rng(seed, "disk:vfs"))
        made.append(vfs)
        return vfs

    yield make
    for vfs in made:
        vfs.unregister()


def _connect(vfs: SimVFS, conn: apsw.Connection | None = None) -> apsw.Connection:
    conn = conn or apsw.Connection("/db", vfs=vfs.vfs_name)
    for pragma in EXCLUSIVE_PRAGMAS:
        conn.execute(pragma)
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _commit_until_crash(vfs: SimVFS, count: int) -> tuple[list[int], int | None]:
    """Commit rows 0..count-1 one transaction each; (the rows whose commit returned, the row
    whose transaction a crash interrupted)."""
    committed: list[int] = []
    inflight: int | None = None
    conn: apsw.Connection | None = None
    with dead_files_quiet():
        try:
            conn = apsw.Connection("/db", vfs=vfs.vfs_name)
            _connect(vfs, conn)
            conn.execute("CREATE TABLE IF NOT EXISTS t(x)")
            for i in range(count):
                inflight = i
                with conn:
                    conn.execute("INSERT INTO t VALUES (?)", (i,))
                committed.append(i)
                inflight = None
        except BaseException:  # the machine died: DiskCrash, or SQLite's error on a dead file
            if conn is not None:
                # Closed here, not at garbage collection: its rollback fails on the dead files.
                with contextlib.suppress(apsw.Error):
                    conn.close(True)
    return committed, inflight


def _rows_after_crash(vfs: SimVFS) -> list[int]:
    vfs.disk.decide = None
    vfs.disk.crash()
    conn = _connect(vfs)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    try:
        rows = [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")]
    except apsw.SQLError:  # the table's creation never became durable
        rows = []
    conn.close()
    return rows


def _crash_at(k: int) -> DiskDecide:
    count = itertools.count(1)

    def decide(op: str, path: str, size: int) -> tuple[DiskFault, int] | None:
        if op == "read" or next(count) != k:
            return None
        return (DiskFault.TORN, size // 2) if op == "write" and k % 2 else (DiskFault.CRASH, 0)

    return decide


def test_only_committed_transactions_survive_a_crash_at_any_write_or_sync(make_vfs) -> None:  # type: ignore[no-untyped-def]
    inflight_kept = inflight_lost = 0
    for k in range(1, 48, 2):
        for seed in range(3):
            vfs = make_vfs(seed, _crash_at(k))
            committed, inflight = _commit_until_crash(vfs, 12)
            rows = _rows_after_crash(vfs)
            extra = [r for r in rows if r not in committed]
            assert rows[: len(committed)] == committed, (k, seed, rows, committed)
            assert extra in ([], [inflight]), (k, seed, rows, committed, inflight)
            if inflight is not None:
                inflight_kept += bool(extra)
                inflight_lost += not extra
    # The crash reset decides: an interrupted commit sometimes made it, sometimes not.
    assert inflight_kept and inflight_lost


def test_without_a_crash_every_commit_is_there(make_vfs) -> None:  # type: ignore[no-untyped-def]
    vfs = make_vfs()
    committed, inflight = _commit_until_crash(vfs, 10)
    assert committed == list(range(10)) and inflight is None
    written = {path for _, path in vfs.disk.ops}
    assert "/db-wal" in written and "/db-shm" not in written  # the wal-index is in heap
    assert _rows_after_crash(vfs) == committed


def test_a_lying_sync_loses_or_corrupts_committed_transactions(make_vfs) -> None:  # type: ignore[no-untyped-def]
    def lie(op: str, path: str, size: int) -> tuple[DiskFault, int] | None:
        return (DiskFault.LOST_SYNC, 0) if op == "sync" else None

    lost = corrupt = 0
    for seed in range(10):
        vfs = make_vfs(seed, lie)
        committed, _ = _commit_until_crash(vfs, 6)
        assert committed == list(range(6))  # every commit was acknowledged
        assert vfs.disk.lies > 0
        try:
            rows = _rows_after_crash(vfs)
        except (apsw.CorruptError, apsw.NotADBError):  # SQLite saw the lie: pages half there
            corrupt += 1
            continue
        assert set(rows) <= set(committed)
        lost += rows != committed
    assert lost > 0 and lost + corrupt < 10  # the lie costs data, though not on every seed


def test_sqlite_reads_the_virtual_clock(make_vfs) -> None:  # type: ignore[no-untyped-def]
    vfs = make_vfs()
    conn = _connect(vfs)
    assert conn.execute("SELECT datetime('now')").fetchall() == [("2026-01-01 00:00:00",)]
    vfs.disk.clock.advance_by(90 * NS_PER_SEC)
    assert conn.execute("SELECT datetime('now')").fetchall() == [("2026-01-01 00:01:30",)]
    conn.close()


def test_randomness_and_sleep_come_from_the_world(make_vfs) -> None:  # type: ignore[no-untyped-def]
    a, b = make_vfs(7), make_vfs(7)
    assert a.xRandomness(16) == b.xRandomness(16) == Rng(7, "disk:vfs").sample_bytes(16)
    assert a.xSleep(2_000) == 2_000
    assert a.disk.clock.now_ns == 2_000_000


def test_a_missing_file_opened_without_create_is_refused(make_vfs) -> None:  # type: ignore[no-untyped-def]
    vfs = make_vfs()
    with pytest.raises(apsw.CantOpenError):
        apsw.Connection("/absent", vfs=vfs.vfs_name, flags=apsw.SQLITE_OPEN_READWRITE)


def test_dead_files_quiet_drops_only_the_dead_files_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_value))
    dead = apsw.IOError("dead")
    dead.__cause__ = DeadHandle("/db")
    other = apsw.IOError("real trouble")
    with dead_files_quiet():
        sys.unraisablehook(SimpleNamespace(exc_value=dead))  # type: ignore[arg-type]
        sys.unraisablehook(SimpleNamespace(exc_value=other))  # type: ignore[arg-type]
    assert seen == [other]
