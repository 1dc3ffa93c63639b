"""The simulated disk: files of durable bytes plus pending writes, in memory, on the world's clock.

One part per file, as TigerBeetle's `src/testing/storage.zig`: the disk's fault model, its crash
reset and its liveness switch live together here.

- A write lands in the file's *current* bytes (what reads see: the page cache) and is queued as
  pending. A sync makes every pending write of the file durable.
- A crash is a power loss: each pending write is dropped, kept, or torn at sector granularity
  (each of its sectors kept or not), as the `disk:crash` stream decides; the current bytes are
  then the durable ones, every handle opened before it is dead and every lock is released.
- Faults come from a `decide` hook (the fault layer's injector): at each write, sync and read
  it may answer a `DiskFault` with an argument, which the disk applies here. With `faulty`
  off (the liveness phase) nothing is asked and a crash keeps every pending write.
- File creation and deletion are durable at once (a journalling file system's metadata), so
  only data can be lost; SQLite's own directory syncs are therefore no-ops here.

No real file, clock or random source is touched: time is the world's `VirtualClock`, chance
is a named stream, and the order of everything (files by name, writes in issue order) is fixed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from mfm_sim.world.clock import NS_PER_MS, VirtualClock
from mfm_sim.world.rng import Rng

__all__ = [
    "CRASH_STREAM",
    "SECTOR_SIZE",
    "CrashReset",
    "DeadHandle",
    "DiskCrash",
    "DiskDecide",
    "DiskFault",
    "DiskFile",
    "LockBusy",
    "LockLevel",
    "Pending",
    "SimDisk",
]

SECTOR_SIZE = 512
CRASH_STREAM = "disk:crash"


class DiskFault(enum.Enum):
    """What a disk operation may suffer; the fault layer maps its fault kinds onto these."""

    CRASH = "crash"  # the machine loses power at this write (after it) or sync (before it)
    TORN = "torn"  # a write: only its first `arg` sectors reach the platter, then power loss
    LOST_SYNC = "lost_sync"  # a sync reports success and persists nothing (a lying disk)
    MISDIRECT = "misdirect"  # a write lands `arg` sectors further on (a lying disk)
    BIT_FLIP = "bit_flip"  # after a sync, bit `arg` of the file's durable bytes flips
    LATENCY = "latency"  # the operation takes `arg` virtual milliseconds


# (operation: "write" | "sync" | "read", path, size) -> the fault to apply, or None. `size` is
# the write's sectors, the file's bits for a sync, the bytes for a read: what an argument of a
# fault at that operation ranges over.
DiskDecide = Callable[[str, str, int], "tuple[DiskFault, int] | None"]


class DiskCrash(BaseException):
    """The machine lost power at a disk operation (a BaseException, as a process death is)."""


class DeadHandle(OSError):
    """A handle opened before the last crash or restart: its process is gone."""


class LockBusy(OSError):
    """Another handle holds a conflicting lock (SQLite's SQLITE_BUSY)."""


class LockLevel(enum.IntEnum):
    """SQLite's file lock levels (https://sqlite.org/lockingv3.html)."""

    NONE = 0
    SHARED = 1
    RESERVED = 2
    PENDING = 3
    EXCLUSIVE = 4


@attrs.frozen
class CrashReset:
    """What a power loss did to the writes not yet synced."""

    dropped: int
    kept: int
    torn: int

    def line(self) -> str:
        kept, torn, dropped = self.kept, self.torn, self.dropped
        return f"power loss: {kept} unsynced writes kept, {torn} torn, {dropped} dropped"


@attrs.frozen
class Pending:
    """A write or truncate not yet synced. `keep` (a torn write's) is how many of its sectors
    a crash persists; None: the crash stream decides."""

    offset: int
    data: bytes | None  # None: a truncate to `offset`
    keep: int | None = None


def _apply(buf: bytearray, op: Pending) -> None:
    if op.data is None:
        del buf[op.offset :]
        return
    end = op.offset + len(op.data)
    if len(buf) < op.offset:
        buf.extend(bytes(op.offset - len(buf)))
    buf[op.offset : end] = op.data


def _sectors(op: Pending) -> list[Pending]:
    """A write cut at sector boundaries of the file (a partial first or last sector too)."""
    assert op.data is not None
    out, pos, end = [], op.offset, op.offset + len(op.data)
    while pos < end:
        stop = min(end, (pos // SECTOR_SIZE + 1) * SECTOR_SIZE)
        out.append(Pending(pos, op.data[pos - op.offset : stop - op.offset]))
        pos = stop
    return out


class _File:
    __slots__ = ("current", "durable", "locks", "pending")

    def __init__(self) -> None:
        self.durable = bytearray()
        self.current = bytearray()
        self.pending: list[Pending] = []
        self.locks: dict[int, LockLevel] = {}


class SimDisk:
    """Files by path. `epoch` moves at every crash or restart; handles of an older one are dead."""

    def __init__(
        self,
        clock: VirtualClock,
        crash_rng: Rng,
        *,
        decide: DiskDecide | None = None,
        crash_error: Callable[[], BaseException] = DiskCrash,
    ) -> None:
        self.clock = clock
        self._crash_rng = crash_rng
        self.decide = decide
        self.crash_error = crash_error
        self.faulty = True  # the liveness switch: off, no fault is asked for or applied
        self.epoch = 0
        self.down = False  # between a crash fault and the crash reset: nothing opens
        self.lies = 0  # syncs acknowledged without persisting, misdirected writes, bit flips
        self._files: dict[str, _File] = {}
        self._next_handle = 0
        self._temp = 0
        self.ops: list[tuple[str, str]] = []  # (operation, path) of every write and sync

    # -- the namespace -------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        return path in self._files

    def names(self) -> list[str]:
        return sorted(self._files)

    def delete(self, path: str) -> None:
        self._files.pop(path, None)

    def temp_name(self) -> str:
        self._temp += 1
        return f"/tmp/sim-{self._temp}"

    def open(self, path: str, *, create: bool = True) -> DiskFile:
        if self.down:
            raise DeadHandle(f"{path}: the machine is down")
        if path not in self._files:
            if not create:
                raise FileNotFoundError(path)
            self._files[path] = _File()
        self._next_handle += 1
        return DiskFile(self, path, self._next_handle, self.epoch)

    def durable_bytes(self, path: str) -> bytes:
        return bytes(self._files[path].durable)

    def current_bytes(self, path: str) -> bytes:
        return bytes(self._files[path].current)

    def pending(self, path: str) -> tuple[Pending, ...]:
        return tuple(self._files[path].pending)

    # -- crash and restart ---------------------------------------------------------------

    def power_off(self) -> None:
        """The machine stops: every handle is dead and nothing opens until `crash` resets the
        disk. A dead process's last calls (SQLite closing its connection) then fail."""
        self.epoch += 1
        self.down = True

    def crash(self) -> CrashReset:
        """Power loss: resolve every pending write (drop, keep or tear), kill every handle;
        return how many writes met each fate."""
        if not self.down:
            self.power_off()
        rng = self._crash_rng
        fates = [0, 0, 0]  # dropped, kept, torn
        for path in sorted(self._files):
            f = self._files[path]
            for op in f.pending:
                if op.keep is not None:  # a torn-write fault decided it already
                    fate = 2
                    for piece in _sectors(op)[: op.keep]:
                        _apply(f.durable, piece)
                elif not self.faulty or op.data is None:
                    # A truncate is metadata: all or nothing, and with faults off kept.
                    fate = 1 if not self.faulty or rng.chance(0.5) else 0
                    if fate:
                        _apply(f.durable, op)
                else:
                    fate = rng.below(3)
                    if fate == 1:
                        _apply(f.durable, op)
                    elif fate == 2:
                        for piece in _sectors(op):
                            if rng.chance(0.5):
                                _apply(f.durable, piece)
                fates[fate] += 1
            f.pending.clear()
            f.current = bytearray(f.durable)
        self._restart()
        return CrashReset(*fates)

    def restart(self) -> None:
        """The process ended, the machine did not: the page cache (pending writes) survives."""
        self._restart()

    def _restart(self) -> None:
        self.epoch += 1
        self.down = False
        for f in self._files.values():
            f.locks.clear()

    # -- what handles call -----------------------------------------------------------------

    def _file(self, handle: DiskFile) -> _File:
        if handle.epoch != self.epoch:
            raise DeadHandle(f"{handle.path}: handle from before a crash or restart")
        f = self._files.get(handle.path)
        if f is None:
            raise FileNotFoundError(handle.path)
        return f

    def _ask(self, op: str, path: str, size: int) -> tuple[DiskFault, int] | None:
        if not self.faulty or self.decide is None:
            return None
        answer = self.decide(op, path, size)
        if answer is not None and answer[0] is DiskFault.LATENCY:
            self.clock.advance_by(answer[1] * NS_PER_MS)
            return None
        return answer

    def _die(self) -> None:
        # Every handle dies with the machine at once: SQLite may swallow the exception a VFS
        # method raises and try again, and must then find the files gone, not carry on.
        self.power_off()
        raise self.crash_error()

    def read(self, handle: DiskFile, offset: int, size: int) -> bytes:
        f = self._file(handle)
        self._ask("read", handle.path, size)
        return bytes(f.current[offset : offset + size])

    def write(self, handle: DiskFile, offset: int, data: bytes) -> None:
        f = self._file(handle)
        self.ops.append(("write", handle.path))
        op = Pending(offset, bytes(data))
        sectors = len(_sectors(op)) if data else 1
        fault = self._ask("write", handle.path, sectors)
        if fault is not None and fault[0] is DiskFault.MISDIRECT:
            self.lies += 1
            op = Pending(offset + fault[1] * SECTOR_SIZE, op.data)
        if fault is not None and fault[0] is DiskFault.TORN:
            op = Pending(op.offset, op.data, keep=fault[1])
        _apply(f.current, op)
        f.pending.append(op)
        if fault is not None and fault[0] in (DiskFault.CRASH, DiskFault.TORN):
            self._die()

    def truncate(self, handle: DiskFile, size: int) -> None:
        f = self._file(handle)
        op = Pending(size, None)
        _apply(f.current, op)
        f.pending.append(op)

    def sync(self, handle: DiskFile) -> None:
        f = self._file(handle)
        self.ops.append(("sync", handle.path))
        fault = self._ask("sync", handle.path, max(1, len(f.current) * 8))
        if fault is not None and fault[0] is DiskFault.CRASH:
            self._die()
        if fault is not None and fault[0] is DiskFault.LOST_SYNC:
            self.lies += 1  # acknowledged; the writes stay pending, at the crash's mercy
            return
        for op in f.pending:
            _apply(f.durable, op)
        f.pending.clear()
        if fault is not None and fault[0] is DiskFault.BIT_FLIP and f.durable:
            self.lies += 1
            byte, bit = divmod(fault[1] % (len(f.durable) * 8), 8)
            f.durable[byte] ^= 1 << bit
            f.current[byte] ^= 1 << bit

    def size(self, handle: DiskFile) -> int:
        return len(self._file(handle).current)

    def lock(self, handle: DiskFile, level: LockLevel) -> None:
        """SQLite's lock rules; raises `LockBusy` on a conflict with another handle."""
        f = self._file(handle)
        others = [lv for h, lv in f.locks.items() if h != handle.number]
        mine = f.locks.get(handle.number, LockLevel.NONE)
        if level <= mine:
            return
        if level == LockLevel.SHARED and any(lv >= LockLevel.PENDING for lv in others):
            raise LockBusy(handle.path)
        if level == LockLevel.RESERVED and any(lv >= LockLevel.RESERVED for lv in others):
            raise LockBusy(handle.path)
        if level >= LockLevel.PENDING:
            if any(lv >= LockLevel.PENDING for lv in others):
                raise LockBusy(handle.path)
            if any(lv >= LockLevel.SHARED for lv in others):
                f.locks[handle.number] = LockLevel.PENDING  # new readers now wait for us
                raise LockBusy(handle.path)
        f.locks[handle.number] = level

    def unlock(self, handle: DiskFile, level: LockLevel) -> None:
        f = self._file(handle)
        if level == LockLevel.NONE:
            f.locks.pop(handle.number, None)
        elif f.locks.get(handle.number, LockLevel.NONE) > level:
            f.locks[handle.number] = level

    def reserved(self, handle: DiskFile) -> bool:
        f = self._file(handle)
        return any(lv >= LockLevel.RESERVED for h, lv in f.locks.items() if h != handle.number)

    def release(self, handle: DiskFile) -> None:
        f = self._files.get(handle.path)
        if f is not None and handle.epoch == self.epoch:
            f.locks.pop(handle.number, None)


class DiskFile:
    """One open handle on a simulated file: the file API a store (or the VFS) writes through."""

    __slots__ = ("disk", "epoch", "number", "path")

    def __init__(self, disk: SimDisk, path: str, number: int, epoch: int) -> None:
        self.disk = disk
        self.path = path
        self.number = number
        self.epoch = epoch

    def read(self, offset: int, size: int) -> bytes:
        return self.disk.read(self, offset, size)

    def read_all(self) -> bytes:
        return self.disk.read(self, 0, self.disk.size(self))

    def write(self, offset: int, data: bytes) -> None:
        self.disk.write(self, offset, data)

    def append(self, data: bytes) -> None:
        self.disk.write(self, self.disk.size(self), data)

    def truncate(self, size: int) -> None:
        self.disk.truncate(self, size)

    def sync(self) -> None:
        self.disk.sync(self)

    def size(self) -> int:
        return self.disk.size(self)

    def close(self) -> None:
        self.disk.release(self)
