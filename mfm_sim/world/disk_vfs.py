"""SQLite on the simulated disk: an apsw VFS whose files are `SimDisk` files.

Real SQLite code (its pager, WAL, recovery) runs unmodified; only the operating system under it
is simulated. Time (`xCurrentTime`, `xSleep`) is the world's virtual clock and randomness
(`xRandomness`) the `disk:vfs` stream.

WAL needs shared memory for its index, and apsw exposes no xShm* methods to a Python VFS, so a
connection on this VFS uses `PRAGMA locking_mode=EXCLUSIVE` (`EXCLUSIVE_PRAGMAS`): SQLite then
keeps the wal-index in heap memory and never asks for shared memory. That fits the simulation,
where one process at a time owns the database, and loses nothing the tests want: the wal-index
is never durable (SQLite rebuilds it from the WAL on open), so it has no crash behaviour to model.

Residual: SQLite's own PRNG is process-global and seeded once, from the default VFS, so the WAL
header's random salt may differ between processes. It changes bytes, never behaviour: which
frames a recovery accepts depends on their checksums, which a torn frame fails whatever the salt.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import apsw

from mfm_sim.world.disk import (
    SECTOR_SIZE,
    DeadHandle,
    DiskFile,
    LockBusy,
    LockLevel,
    SimDisk,
)
from mfm_sim.world.rng import Rng

__all__ = ["EXCLUSIVE_PRAGMAS", "SimVFS", "SimVFSFile", "dead_files_quiet"]

EXCLUSIVE_PRAGMAS = ("PRAGMA locking_mode=EXCLUSIVE", "PRAGMA journal_mode=WAL")
# The virtual clock's zero is this Julian day (2026-01-01T00:00:00Z): SQLite sees a plausible date.
_EPOCH_JULIAN_DAY = 2461041.5
_NS_PER_DAY = 86_400 * 10**9


def _io_error(exc: OSError) -> BaseException:
    # SQLite must see a busy lock as SQLITE_BUSY (it retries or reports it), anything else as
    # an I/O error; a dead handle is the latter, so its process cannot go on.
    if isinstance(exc, LockBusy):
        return apsw.BusyError(str(exc))
    return apsw.IOError(str(exc))


def _dead(evalue: BaseException | None) -> bool:
    """The error is the machine's death: a crash (a BaseException that is no Exception, as
    `DiskCrash` and the runner's own), or a call on a file it left dead."""
    seen = evalue
    while seen is not None:
        if isinstance(seen, DeadHandle) or not isinstance(seen, Exception):
            return True
        seen = seen.__cause__
    return False


@contextlib.contextmanager
def dead_files_quiet() -> Iterator[None]:
    """While SQLite unwinds from a crash, the writes and syncs it tries on the dead files fail,
    as they must; apsw cannot pass those second errors on and prints them through
    `sys.unraisablehook`. Inside this block such errors are dropped; any other goes on."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not _dead(unraisable.exc_value):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


class SimVFSFile(apsw.VFSFile):  # type: ignore[misc]
    """One SQLite file handle on a `DiskFile`: each xMethod is the disk's operation."""

    def __init__(self, handle: DiskFile, delete_on_close: bool) -> None:
        self.handle = handle
        self.delete_on_close = delete_on_close

    def xRead(self, amount: int, offset: int) -> bytes:
        try:
            data = self.handle.read(offset, amount)
        except OSError as exc:
            raise _io_error(exc) from exc
        # Fewer bytes than asked (past the end): apsw zero-fills the rest and tells SQLite
        # SQLITE_IOERR_SHORT_READ, which it expects there.
        return data

    def xWrite(self, data: bytes, offset: int) -> None:
        try:
            self.handle.write(offset, bytes(data))
        except OSError as exc:
            raise _io_error(exc) from exc

    def xTruncate(self, newsize: int) -> None:
        try:
            self.handle.truncate(newsize)
        except OSError as exc:
            raise _io_error(exc) from exc

    def xSync(self, flags: int) -> None:
        try:
            self.handle.sync()
        except OSError as exc:
            raise _io_error(exc) from exc

    def xFileSize(self) -> int:
        try:
            return self.handle.size()
        except OSError as exc:
            raise _io_error(exc) from exc

    def xLock(self, level: int) -> None:
        try:
            self.handle.disk.lock(self.handle, LockLevel(level))
        except OSError as exc:
            raise _io_error(exc) from exc

    def xUnlock(self, level: int) -> None:
        # A dead process holds no lock: the crash released it.
        with contextlib.suppress(DeadHandle):
            self.handle.disk.unlock(self.handle, LockLevel(level))

    def xCheckReservedLock(self) -> bool:
        try:
            return self.handle.disk.reserved(self.handle)
        except OSError as exc:
            raise _io_error(exc) from exc

    def xFileControl(self, op: int, ptr: int) -> bool:
        return False  # no file control is understood: SQLite falls back to its defaults

    def xSectorSize(self) -> int:
        return SECTOR_SIZE

    def xDeviceCharacteristics(self) -> int:
        # A torn write tears whole sectors and never damages bytes around the written range,
        # which is what powersafe overwrite promises.
        return int(apsw.SQLITE_IOCAP_POWERSAFE_OVERWRITE)

    def xClose(self) -> None:
        disk, path = self.handle.disk, self.handle.path
        self.handle.close()
        if self.delete_on_close and self.handle.epoch == disk.epoch:
            disk.delete(path)


class SimVFS(apsw.VFS):  # type: ignore[misc]
    """A VFS named `name` over `disk`; `unregister()` it when the schedule ends."""

    def __init__(self, name: str, disk: SimDisk, rng: Rng) -> None:
        self.disk = disk
        self.rng = rng
        self.vfs_name = name
        super().__init__(name, base=None, makedefault=False)

    def xOpen(self, name: Any, flags: list[int]) -> SimVFSFile:
        path = self.disk.temp_name() if name is None else self._path(name)
        create = bool(flags[0] & apsw.SQLITE_OPEN_CREATE)
        try:
            handle = self.disk.open(path, create=create)
        except FileNotFoundError as exc:
            raise apsw.CantOpenError(path) from exc
        except DeadHandle as exc:
            raise apsw.IOError(str(exc)) from exc
        flags[1] = flags[0]
        return SimVFSFile(handle, bool(flags[0] & apsw.SQLITE_OPEN_DELETEONCLOSE))

    @staticmethod
    def _path(name: Any) -> str:
        # A URI filename carries its path in `filename()`.
        text = name.filename() if hasattr(name, "filename") else str(name)
        return text if text.startswith("/") else "/" + text

    def xAccess(self, pathname: str, flags: int) -> bool:
        return self.disk.exists(self._path(pathname))

    def xDelete(self, filename: str, syncdir: bool) -> None:
        self.disk.delete(self._path(filename))  # durable at once: see the disk's docstring

    def xFullPathname(self, name: str) -> str:
        return self._path(name)

    def xRandomness(self, numbytes: int) -> bytes:
        return self.rng.sample_bytes(numbytes)

    def xSleep(self, microseconds: int) -> int:
        self.disk.clock.advance_by(microseconds * 1000)
        return microseconds

    def xCurrentTime(self) -> float:
        return _EPOCH_JULIAN_DAY + self.disk.clock.now_ns / _NS_PER_DAY

    def xCurrentTimeInt64(self) -> int:
        return int(_EPOCH_JULIAN_DAY * 86_400_000) + self.disk.clock.now_ns // 1_000_000

    def xGetLastError(self) -> tuple[int, str]:
        return 0, ""
