"""Fault-injecting wrappers around any ArtifactStore/EventStore, bound to one incarnation.

The durable truth stays in the wrapped stores. What the store lied about lives in the world:
corrupted bytes in `World.corrupted`, writes it acknowledged but dropped in the incarnation's
volatile overlay (gone with the incarnation).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from types import BuiltinFunctionType
from typing import TYPE_CHECKING, Any

import attrs
from mfm_engine.errors import StorageErrorKind, storage
from mfm_engine.events import EventEnvelope
from mfm_engine.hashing import artifact_id_for_bytes
from mfm_engine.stores import ArtifactKind, ArtifactStore, EventStore

from mfm_sim.faults.appends import appended_events
from mfm_sim.faults.kinds import LOG_LIE_KINDS, Fault, FaultKind
from mfm_sim.faults.log_lies import lie

if TYPE_CHECKING:
    from mfm_sim.run.world import World

__all__ = [
    "BadRead",
    "FaultyArtifactStore",
    "FaultyEventStore",
    "IncarnationHandle",
    "SimCrash",
    "corrupt_bytes",
    "task_name",
]

K = FaultKind


@attrs.frozen
class BadRead:
    """A read the store answered with bytes that were dropped or corrupted."""

    step: int
    artifact_id: str
    kind: FaultKind
    task: str = ""  # the simulated task that read it (runs of one process share incarnations)
    # A lying log's whole stream as the read returned it (what the engine walked), else ().
    returned: tuple[EventEnvelope, ...] = attrs.field(default=(), eq=False)


class SimCrash(BaseException):
    """The simulated process died: a BaseException, so no `except Exception` can swallow it."""

    def __init__(self, fault: Fault | None = None) -> None:
        super().__init__(fault)
        self.fault = fault

    def __str__(self) -> str:
        # Formatted when shown, not when raised: nearly every crash is caught unread.
        return f"simulated crash at {self.fault}" if self.fault else "dead incarnation"


def corrupt_bytes(data: bytes) -> bytes:
    """A deterministic bit flip that always changes the content address."""
    if not data:
        return b"\x00"
    return bytes([data[0] ^ 0x01]) + data[1:]


def _transient(site: str) -> Exception:
    return storage(
        StorageErrorKind.OTHER,
        "sim_transient_error",
        f"injected transient error at {site}",
        retryable=True,
    )


def _ambiguous(site: str) -> Exception:
    return storage(
        StorageErrorKind.OTHER,
        "sim_ambiguous_error",
        f"injected ambiguous error at {site} (the call took effect)",
        retryable=True,
    )


# loop -> the task it is running, in one C call: the store wrappers note the task of every
# append. Python 3.12+ has `current_task` in C; 3.11 wraps this table in Python.
_task_of: Callable[[Any], asyncio.Task[Any] | None] = (
    asyncio.current_task
    if isinstance(asyncio.current_task, BuiltinFunctionType)
    else asyncio.tasks._current_tasks.get  # type: ignore[attr-defined]
)
_running_loop = asyncio.events._get_running_loop


def task_name() -> str:
    """The running simulated task's name (deterministic: the loop numbers its own tasks)."""
    task = _task_of(_running_loop())
    return task.get_name() if task is not None else ""


class IncarnationHandle:
    """One simulated process's view of the world; dead after a crash."""

    def __init__(self, world: World, number: int) -> None:
        self.world = world
        self.injector = world.injector
        self.number = number
        self.alive = True
        # (run id, seq) of records this incarnation appended durably under an ambiguous error.
        self.unacknowledged: set[tuple[uuid.UUID, int]] = set()
        self.volatile: dict[str, bytes] = {}
        self.bad_reads: list[BadRead] = []
        # The run whose log a lying-log fault may lie about: the one the runner resumes. A
        # child's refusal would reach its parent as the child's failure, not as a refusal.
        self.lie_about: uuid.UUID | None = None

    @property
    def appended(self) -> list[tuple[uuid.UUID, int]]:
        """(run, seq) of every event this incarnation made durable, in order."""
        return appended_events([b for b in self.world.appends if b[0] == self.number])

    def check_alive(self) -> None:
        if not self.alive:
            raise SimCrash()

    def point(self, site: str, *, target: str | None = None, size: int = 1) -> Fault | None:
        """Count the fault point and raise crash-before/transient; return any other fault.

        Synchronous, so a store call with nothing injected (nearly all of them) costs no
        extra coroutine; a returned latency fault must be passed to `settle`.
        """
        if not self.alive:
            raise SimCrash()
        injector = self.injector
        if injector.quiet:
            injector.advance()
            return None
        fault = injector.decide(site, target=target, size=size)
        if fault is None:
            return None
        self.world.trace.fault(fault)
        kind = fault.kind
        if kind is K.CRASH_BEFORE_EFFECT:
            self.crash(fault)
        if kind is K.TRANSIENT_ERROR:
            raise _transient(site)
        return fault

    async def settle(self, fault: Fault) -> Fault | None:
        """Sleep out a latency fault (then None); any other fault is returned as it is."""
        if fault.kind is K.LATENCY:
            await asyncio.sleep(fault.arg / 1000)
            if not self.alive:
                raise SimCrash()
            return None
        return fault

    async def before(self, site: str, *, target: str | None = None, size: int = 1) -> Fault | None:
        """Count the fault point, apply latency, raise crash-before/transient; return the rest."""
        fault = self.point(site, target=target, size=size)
        return None if fault is None else await self.settle(fault)

    def crash(self, fault: Fault | None) -> None:
        self.alive = False
        raise SimCrash(fault)


class FaultyArtifactStore:
    # Each call first takes its fault point. On the busiest calls (put, get, append) a quiet
    # injector's step is counted directly, saving the call to `point` on every store call.

    def __init__(self, inner: ArtifactStore, handle: IncarnationHandle) -> None:
        self._inner = inner
        self._h = handle

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        h = self._h
        injector = h.injector
        if injector.quiet and h.alive:
            injector.advance()
            fault = None
        else:
            fault = h.point("artifacts.put")
            if fault is not None:
                fault = await h.settle(fault)
        world = h.world
        if fault is not None and fault.kind is K.DROPPED_WRITE:
            artifact_id = artifact_id_for_bytes(data)
            if not await self._inner.exists(artifact_id):
                h.volatile[artifact_id] = bytes(data)
                world.lost.add(artifact_id)
            world.trace.store(h.number, "artifacts.put", artifact_id[:12] + " (dropped)")
            return artifact_id
        artifact_id = await self._inner.put(kind, data)
        if world.lost:
            world.lost.discard(artifact_id)
        world.trace.artifact(h.number, "artifacts.put", artifact_id)
        if fault is None:
            return artifact_id
        if fault.kind is K.CORRUPTED_ARTIFACT:
            world.corrupted[artifact_id] = corrupt_bytes(data)
            return artifact_id
        if fault.kind is K.ARTIFACT_PUT_ID_MISMATCH:
            # The answer is the lie the engine must see: noted as a bad read at this step, so
            # invariant 11 wants its refusal and nothing appended after it by this task.
            h.bad_reads.append(BadRead(injector.step, artifact_id, fault.kind, task_name()))
            return artifact_id_for_bytes(corrupt_bytes(data))
        if fault.kind is K.CRASH_AFTER_EFFECT:
            h.crash(fault)
        if fault.kind is K.AMBIGUOUS_ERROR:
            raise _ambiguous("artifacts.put")
        return artifact_id

    async def get(self, artifact_id: str) -> bytes:
        h = self._h
        world = h.world
        injector = h.injector
        if injector.quiet and h.alive:
            step = injector.advance()
        else:
            fault = h.point("artifacts.get")
            step = injector.step  # the step of this call's fault point, counted by `point`
            if fault is not None:
                await h.settle(fault)
        world.trace.artifact(h.number, "artifacts.get", artifact_id)
        if world.corrupted:
            corrupted = world.corrupted.get(artifact_id)
            if corrupted is not None:
                h.bad_reads.append(BadRead(step, artifact_id, K.CORRUPTED_ARTIFACT, task_name()))
                return corrupted
        if h.volatile:
            volatile = h.volatile.get(artifact_id)
            if volatile is not None:
                return volatile
        try:
            return await self._inner.get(artifact_id)
        except Exception:
            if artifact_id in world.lost:
                h.bad_reads.append(BadRead(step, artifact_id, K.DROPPED_WRITE, task_name()))
            raise

    async def exists(self, artifact_id: str) -> bool:
        h = self._h
        fault = h.point("artifacts.exists")
        if fault is not None:
            await h.settle(fault)
        if artifact_id in h.volatile:
            return True
        return await self._inner.exists(artifact_id)


class FaultyEventStore:
    def __init__(self, inner: EventStore, handle: IncarnationHandle) -> None:
        self._inner = inner
        self._h = handle

    async def head_seq(self, run_id: uuid.UUID) -> int:
        h = self._h
        fault = h.point("events.head_seq")
        if fault is not None:
            await h.settle(fault)
        return await self._inner.head_seq(run_id)

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        h = self._h
        injector = h.injector
        if injector.quiet and h.alive:
            injector.advance()
            return await self._inner.read_range(run_id, from_seq, to_seq)
        # Only a read of a whole stream can lie (its argument is a record, drawn for the
        # stream's length); a partial read offers a lie no argument that fits.
        whole = from_seq <= 1 and to_seq is None and run_id == h.lie_about
        size = await self._inner.head_seq(run_id) if whole else 0
        fault = h.point("events.read_range", size=size)
        step = injector.step
        if fault is not None:
            fault = await h.settle(fault)
        stream = await self._inner.read_range(run_id, from_seq, to_seq)
        # `whole` again: a replayed schedule names the lie without drawing its argument.
        if fault is None or fault.kind not in LOG_LIE_KINDS or not whole or not stream:
            return stream
        lied = lie(fault.kind, fault.arg, stream)
        h.bad_reads.append(BadRead(step, f"log:{run_id}", fault.kind, task_name(), tuple(lied)))
        h.world.trace.store(
            h.number, "events.read_range", f"{str(run_id)[:8]} ({fault.kind.value})"
        )
        return lied

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        h = self._h
        injector = h.injector
        # The step of the call, not of its completion: latency on this very append (and
        # other tasks' calls while it sleeps) then falls after it, where retry timing looks.
        if injector.quiet and h.alive:
            step = injector.advance()
            fault = None
        else:
            fault = h.point("events.append", size=len(envelopes))
            step = injector.step
            if fault is not None:
                fault = await h.settle(fault)
            if fault is not None and fault.kind is K.CRASH_MID_APPEND:
                prefix = tuple(envelopes[: fault.arg])
                await self._inner.append(run_id, expected_seq, prefix)
                self._record(run_id, prefix, step)
                h.crash(fault)
        head = await self._inner.append(run_id, expected_seq, envelopes)
        # `_record`, inlined: this runs for every append of every schedule.
        envelopes = tuple(envelopes)
        task = _task_of(_running_loop())
        batch = (h.number, step, task.get_name() if task is not None else "", run_id, envelopes)
        h.world.appends.append(batch)
        h.world.trace.events(h.number, envelopes)
        if fault is not None:
            if fault.kind is K.CRASH_AFTER_EFFECT:
                h.crash(fault)
            if fault.kind is K.AMBIGUOUS_ERROR:
                # Durable, but the engine was told it failed: not a record it knows of.
                h.unacknowledged.update((run_id, env.seq) for env in envelopes)
                raise _ambiguous("events.append")
        return head

    def _record(self, run_id: uuid.UUID, envelopes: tuple[EventEnvelope, ...], step: int) -> None:
        # One record per call, not per event: the per-event indexes are built when read.
        h = self._h
        task = _task_of(_running_loop())
        batch = (h.number, step, task.get_name() if task is not None else "", run_id, envelopes)
        h.world.appends.append(batch)
        h.world.trace.events(h.number, envelopes)
