"""Disk faults: the injector decides, at every operation of the simulated disk, which of the fault
table's disk kinds fires; the disk (`mfm_sim.world.disk`) applies it.

Each disk operation is a fault point (`disk.write`, `disk.sync`, `disk.read`), counted and
recorded like a store call's, so a disk fault replays and shrinks as any other. A crash kind
kills the incarnation (`SimCrash`, its handle dead); the runner then resets the disk as a power
loss (`SimDisk.crash`) before the next incarnation reopens the stores.
"""

from __future__ import annotations

from collections.abc import Mapping

from mfm_sim.faults.kinds import CRASH_KINDS, Fault, FaultKind
from mfm_sim.faults.stores import IncarnationHandle, SimCrash
from mfm_sim.world.disk import DiskFault, SimDisk

__all__ = ["DISK_EFFECTS", "DiskFaults", "bind_disk"]

K = FaultKind

# What each disk kind does to the operation it fires at.
DISK_EFFECTS: Mapping[FaultKind, DiskFault] = {
    K.DISK_CRASH_UNSYNCED: DiskFault.CRASH,
    K.DISK_TORN_WRITE: DiskFault.TORN,
    K.DISK_LOST_SYNC: DiskFault.LOST_SYNC,
    K.DISK_MISDIRECTED_WRITE: DiskFault.MISDIRECT,
    K.DISK_BIT_FLIP: DiskFault.BIT_FLIP,
    K.DISK_LATENCY: DiskFault.LATENCY,
}


class DiskFaults:
    """The disk's `decide` hook for one incarnation: one fault point per disk operation."""

    def __init__(self, handle: IncarnationHandle) -> None:
        self.handle = handle
        self.last: Fault | None = None  # the crash fault, for the SimCrash the disk raises

    def __call__(self, op: str, path: str, size: int) -> tuple[DiskFault, int] | None:
        h = self.handle
        if not h.alive:
            raise SimCrash()  # a dead process's SQLite reaching its files: nothing happens
        injector = h.injector
        if injector.quiet:
            injector.advance()
            return None
        fault = injector.decide(f"disk.{op}", target=path, size=size)
        if fault is None:
            return None
        h.world.trace.fault(fault)
        if fault.kind in CRASH_KINDS:
            self.last = fault
            h.alive = False
        return DISK_EFFECTS[fault.kind], fault.arg

    def crash_error(self) -> BaseException:
        return SimCrash(self.last)


def bind_disk(disk: SimDisk, handle: IncarnationHandle) -> DiskFaults:
    """Point the disk's faults at this incarnation. The disk's liveness switch follows the
    injector's pause (a fault-free probe), which a random run and the replay of its schedule
    share; once the budget is spent the injector itself fires nothing, while a crash still
    resets the disk from its own stream, so both modes see the same disk at every step."""
    faults = DiskFaults(handle)
    disk.decide = faults
    disk.crash_error = faults.crash_error
    disk.faulty = not handle.injector.paused
    return faults
