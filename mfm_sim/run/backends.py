"""Where a schedule's durable stores live: the memory stores (the model), or a real store on the
simulated disk, rebuilt from the disk at every incarnation.

The runner asks its backend for each incarnation's durable stores (`open`), tells it how the
incarnation ended (`ended`: a crash is a power loss, the disk drops, keeps or tears what was not
synced), and reads what the stores hold at the end (`contents`). A disk backend builds its stores
with a `DiskStoreFactory`, given the disk (a `FileSystem` for a file log) and, on first use, the
name of an apsw VFS over it (for SQLite); `register_disk_store` names a factory for `store=`.
Store calls run inline on the simulated loop: no threads.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from mfm_engine.errors import StorageError
from mfm_engine.events import EventEnvelope, RunStarted
from mfm_engine.hashing import artifact_id_for_bytes
from mfm_engine.stores import (
    ArtifactKind,
    InMemoryArtifactStore,
    InMemoryEventStore,
    Stores,
)

from mfm_sim.errors import HarnessError
from mfm_sim.faults.appends import Batch
from mfm_sim.faults.disk import bind_disk
from mfm_sim.faults.stores import IncarnationHandle, SimCrash
from mfm_sim.run.observation import StoreAppend
from mfm_sim.run.real_stores import REAL_STORES
from mfm_sim.run.store_names import MEMORY, parse_store
from mfm_sim.run.trace import Trace
from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.disk import CRASH_STREAM, SimDisk
from mfm_sim.world.rng import Streams

__all__ = [
    "DISK_STORES",
    "AckedLog",
    "DiskEnv",
    "DiskStoreFactory",
    "DiskStores",
    "MemoryStores",
    "StoreBackend",
    "make_backend",
    "register_disk_store",
    "run_inline",
]

T = TypeVar("T")
_vfs_names = itertools.count()


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Run a store coroutine that never suspends (a store on the simulated disk) to its end."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise HarnessError("a store call on the simulated disk suspended; it must run inline")


class StoreBackend(Protocol):
    """One schedule's durable stores, across its incarnations."""

    name: str

    def open(self, handle: IncarnationHandle) -> Stores:
        """The durable stores the incarnation `handle` works on (under the fault wrappers)."""
        ...

    def ended(self, crashed: bool) -> None:
        """The incarnation is over; `crashed`: the machine lost power."""
        ...

    def seed_artifact(self, artifact_id: str, data: bytes) -> None:
        """Store bytes before the first start, as the operator does (not under test)."""
        ...

    def contents(self) -> tuple[Mapping[str, bytes], Mapping[uuid.UUID, Sequence[EventEnvelope]]]:
        """What the durable stores hold now: artifacts by id, each run's events."""
        ...

    def close(self) -> None:
        """The schedule is over: release what the backend holds outside the world."""
        ...

    def log_view(self, appends: Sequence[Batch]) -> Any:
        """What the transports' check of recorded facts reads (`.streams`: run -> events)."""
        ...

    def lied_away(self) -> frozenset[str]:
        """Artifacts a lying disk cost: put and acknowledged, unreadable at the end."""
        ...

    def durable_start(self, manifest_id: str) -> uuid.UUID | None:
        """The run a start that never returned made durable anyway, if any."""
        ...

    @property
    def attempts(self) -> Sequence[StoreAppend]:
        """Every append a real store was asked for, in order (none for the memory stores)."""
        ...


class MemoryStores:
    """The memory stores, one pair for the whole schedule: they are the durable state."""

    name = MEMORY

    def __init__(self) -> None:
        self.artifacts = InMemoryArtifactStore()
        self.events = InMemoryEventStore()
        self._stores = Stores(self.artifacts, self.events)

    @property
    def attempts(self) -> Sequence[StoreAppend]:
        return ()  # an in-memory append is atomic and durable by construction: not judged

    def durable_start(self, manifest_id: str) -> uuid.UUID | None:
        return None  # an in-memory append is durable exactly when it was acknowledged

    def open(self, handle: IncarnationHandle) -> Stores:
        return self._stores

    def ended(self, crashed: bool) -> None:
        pass  # memory survives a crash: it is the model of what was made durable

    def seed_artifact(self, artifact_id: str, data: bytes) -> None:
        self.artifacts.data[artifact_id] = data

    def contents(self) -> tuple[Mapping[str, bytes], Mapping[uuid.UUID, Sequence[EventEnvelope]]]:
        return self.artifacts.data, self.events.streams

    def close(self) -> None:
        pass

    def log_view(self, appends: Sequence[Batch]) -> Any:
        return self.events

    def lied_away(self) -> frozenset[str]:
        return frozenset()


class DiskEnv:
    """What a disk store factory builds on: the disk, and an apsw VFS over it made on first use
    (so a file-log schedule never loads apsw)."""

    def __init__(self, disk: SimDisk, streams: Streams) -> None:
        self.disk = disk
        self._streams = streams
        self._vfs: Any = None
        self._quiet = contextlib.ExitStack()
        # What a factory keeps across incarnations (the file log's artifacts live in memory).
        self.kept: dict[str, Any] = {}

    @property
    def vfs_name(self) -> str:
        if self._vfs is None:
            from mfm_sim.world.disk_vfs import SimVFS, dead_files_quiet

            # Unique in the process; the name reaches no schedule.
            name = f"mfm-sim-disk-{next(_vfs_names)}"
            self._vfs = SimVFS(name, self.disk, self._streams.stream("disk:vfs"))
            # For the VFS's life: SQLite's errors on files a crash left dead, which apsw can
            # only print (a connection dropped unclosed), are the crash's and not shown.
            self._quiet.enter_context(dead_files_quiet())
        return str(self._vfs.vfs_name)

    def close(self) -> None:
        if self._vfs is not None:
            self._vfs.unregister()
            self._vfs = None
            self._quiet.close()


# Builds one incarnation's stores over the disk; the stores may have a `close()`.
DiskStoreFactory = Callable[[DiskEnv], Stores]


class _Ids:
    """The artifact ids put and the runs appended to, in first-seen order: the store API has no
    listing, and the end of the schedule reads each back."""

    def __init__(self) -> None:
        self.artifacts: dict[str, None] = {}
        self.runs: dict[uuid.UUID, None] = {}
        # Every append a store was asked for and whether it returned: `durability` judges an
        # append that never returned all or nothing.
        self.attempts: list[StoreAppend] = []


class _Opened:
    """One incarnation's real stores, opened on their first call, inside the engine's call: a
    store that cannot open (a database the disk left corrupt) fails as a store call does."""

    def __init__(self, backend: DiskStores, handle: IncarnationHandle) -> None:
        self.backend = backend
        self.handle = handle
        self.stores: Stores | None = None

    def get(self) -> Stores:
        if self.stores is None:
            self.stores = self.backend.factory(self.backend.env)
        return self.stores

    async def call(self, which: str, method: str, *args: Any) -> Any:
        """`which` store's `method`: when the machine died under it (a disk fault), whatever
        error the store raised (SQLite's I/O error on a dead file) is the crash."""
        try:
            store = getattr(self.get(), which)
            return await getattr(store, method)(*args)
        except Exception:
            if not self.handle.alive:
                raise SimCrash() from None
            raise


class _NotedArtifacts:
    def __init__(self, opened: _Opened, ids: _Ids) -> None:
        self._opened = opened
        self._ids = ids

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        # Noted before the call: a put the machine died in may still have made the bytes
        # durable, and a later put of the same bytes may then be dropped as already there.
        self._ids.artifacts[artifact_id_for_bytes(data)] = None
        artifact_id: str = await self._opened.call("artifacts", "put", kind, data)
        self._ids.artifacts[artifact_id] = None
        return artifact_id

    async def get(self, artifact_id: str) -> bytes:
        data: bytes = await self._opened.call("artifacts", "get", artifact_id)
        return data

    async def exists(self, artifact_id: str) -> bool:
        found: bool = await self._opened.call("artifacts", "exists", artifact_id)
        return found


class _NotedEvents:
    def __init__(self, opened: _Opened, ids: _Ids) -> None:
        self._opened = opened
        self._ids = ids

    async def head_seq(self, run_id: uuid.UUID) -> int:
        head: int = await self._opened.call("events", "head_seq", run_id)
        return head

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        self._ids.runs[run_id] = None  # before: a crash may still have made it durable
        batch = tuple(envelopes)
        attempts = self._ids.attempts
        at = len(attempts)
        attempts.append(StoreAppend(run_id, batch, returned=False))
        head: int = await self._opened.call("events", "append", run_id, expected_seq, batch)
        attempts[at] = StoreAppend(run_id, batch, returned=True)
        return head

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        got: list[EventEnvelope] = await self._opened.call(
            "events", "read_range", run_id, from_seq, to_seq
        )
        return got


def _close(stores: Stores | None) -> None:
    if stores is None:
        return
    for store in (stores.artifacts, stores.events):
        close = getattr(store, "close", None)
        if callable(close):
            close()


class DiskStores:
    """A real store on the simulated disk, reopened from the disk at every incarnation."""

    def __init__(
        self,
        name: str,
        factory: DiskStoreFactory,
        clock: VirtualClock,
        streams: Streams,
        trace: Trace | None = None,
    ) -> None:
        self.name = name
        self.factory = factory
        self.disk = SimDisk(clock, streams.stream(CRASH_STREAM))
        self.trace = trace
        self.env = DiskEnv(self.disk, streams)
        self._ids = _Ids()
        self._open: _Opened | None = None
        self._unreadable: set[str] = set()

    def open(self, handle: IncarnationHandle) -> Stores:
        bind_disk(self.disk, handle)
        opened = self._open = _Opened(self, handle)
        return Stores(_NotedArtifacts(opened, self._ids), _NotedEvents(opened, self._ids))

    def ended(self, crashed: bool) -> None:
        opened, self._open = self._open, None
        stores = opened.stores if opened is not None else None
        if crashed:
            # Power off first: the dead process's connection is closed now, at a fixed point,
            # and its rollback or checkpoint meets dead files, so it can write nothing.
            self.disk.power_off()
            with contextlib.suppress(Exception):
                _close(stores)
            reset = self.disk.crash()
            if self.trace is not None and opened is not None:
                self.trace.add(opened.handle.number, "disk", reset.line())
        else:
            # The process exits in order once its call returned: its close (a checkpoint) is
            # no fault point, as the incarnation's steps are over.
            self.disk.decide = None
            # What it committed is on the disk already; a close that fails (on a database a
            # lying disk garbled) changes nothing the next incarnation reads.
            with contextlib.suppress(Exception):
                _close(stores)
            self.disk.restart()

    def _fault_free(self) -> Stores:
        self.disk.decide = None
        self.disk.faulty = False
        return self.factory(self.env)

    def seed_artifact(self, artifact_id: str, data: bytes) -> None:
        stores = self._fault_free()
        stored = run_inline(stores.artifacts.put(ArtifactKind.MANIFEST, data))
        if stored != artifact_id:
            raise HarnessError(f"the {self.name} store keyed the operator's manifest {stored}")
        self._ids.artifacts[artifact_id] = None
        _close(stores)
        self.disk.restart()

    @property
    def attempts(self) -> Sequence[StoreAppend]:
        return self._ids.attempts

    def durable_start(self, manifest_id: str) -> uuid.UUID | None:
        """The run whose `RunStarted` (citing the operator's manifest) a start that never
        returned still made durable: the power loss kept the unacknowledged write. Read with
        no fault, as an operator's tool would, before the next incarnation starts."""
        firsts = [
            a.envelopes[0]
            for a in self._ids.attempts
            if not a.returned
            and a.envelopes
            and a.envelopes[0].seq == 1
            and isinstance(a.envelopes[0].event, RunStarted)
            and a.envelopes[0].event.manifest_id == manifest_id
        ]
        if not firsts or self._open is not None:
            return None  # (an incarnation still open: its end decides what the disk keeps)
        try:
            stores = self._fault_free()
        except HarnessError:
            raise
        except Exception:
            self.disk.restart()
            return None  # a store that cannot open holds no run to resume
        found: uuid.UUID | None = None
        try:
            for first in firsts:
                if run_inline(stores.events.read_range(first.run_id, 1, 1)) == [first]:
                    found = first.run_id
                    break
        except StorageError:
            pass  # a log the store refuses holds no run to resume
        finally:
            with contextlib.suppress(Exception):
                _close(stores)
            self.disk.restart()  # the tool exits; its page cache stays the machine's
        return found

    def contents(self) -> tuple[Mapping[str, bytes], Mapping[uuid.UUID, Sequence[EventEnvelope]]]:
        """After one last power loss (what a crash at the very end would leave: an
        acknowledged append must survive it), read back, fault-free, every artifact put and
        every run appended to; what a store refuses to read (lost, corrupt) is absent, as the
        engine would find it."""
        self.disk.decide = None
        self.disk.faulty = True  # the disk drops, keeps or tears what was never synced
        reset = self.disk.crash()
        if self.trace is not None:
            self.trace.add(0, "disk", f"final power loss: {reset.line()}")
        # Whatever a store raises reading back (a storage error, or its own failure on bytes
        # a lying disk garbled) makes that item unreadable: missing, for the invariants.
        try:
            stores = self._fault_free()
        except HarnessError:
            raise
        except Exception:  # the store cannot open what the disk left: nothing is readable
            self._unreadable.update(self._ids.artifacts)
            self.disk.restart()
            return {}, {}
        artifacts: dict[str, bytes] = {}
        for artifact_id in self._ids.artifacts:
            try:
                artifacts[artifact_id] = run_inline(stores.artifacts.get(artifact_id))
            except HarnessError:
                raise
            except Exception:
                self._unreadable.add(artifact_id)
                continue
            if self.disk.lies and artifact_id_for_bytes(artifacts[artifact_id]) != artifact_id:
                # A store may hand back what a lying disk garbled (SQLite checks no bytes):
                # the artifact is lost to the lie as surely as an unreadable one.
                self._unreadable.add(artifact_id)
        runs: dict[uuid.UUID, Sequence[EventEnvelope]] = {}
        for run_id in self._ids.runs:
            try:
                stream = run_inline(stores.events.read_range(run_id, 1))
            except HarnessError:
                raise
            except Exception:
                continue
            if stream:
                runs[run_id] = stream
        with contextlib.suppress(Exception):
            _close(stores)
        self.disk.restart()
        return artifacts, runs

    def close(self) -> None:
        self.env.close()

    def lied_away(self) -> frozenset[str]:
        # Only a disk that lied excuses a loss: on an honest disk a lost or changed artifact
        # is the store's, and stays for the invariants to see.
        return frozenset(self._unreadable) if self.disk.lies else frozenset()

    def log_view(self, appends: Sequence[Batch]) -> Any:
        # Reading the store from a transport would move the disk's fault points; what the store
        # acknowledged is what an honest disk holds.
        return AckedLog(appends, self.disk)


class AckedLog:
    """Each run's acknowledged events, from the record of append calls, as `.streams`; none
    once the disk lied, as what it acknowledged may then be gone."""

    def __init__(self, appends: Sequence[Batch], disk: SimDisk) -> None:
        self._appends = appends
        self._disk = disk

    @property
    def streams(self) -> dict[uuid.UUID, list[EventEnvelope]]:
        out: dict[uuid.UUID, list[EventEnvelope]] = {}
        if self._disk.lies:
            return out
        for _, _, _, run_id, envelopes in self._appends:
            out.setdefault(run_id, []).extend(envelopes)
        return out


# Disk store factories by the name `store=` takes: the real stores, each flaw too.
DISK_STORES: dict[str, DiskStoreFactory] = dict(REAL_STORES)


def register_disk_store(name: str, factory: DiskStoreFactory) -> None:
    """Name a real store's factory, so `simulate(..., store=name)` runs on the simulated disk."""
    if name == MemoryStores.name:
        raise ValueError("'memory' is the model stores' name")
    DISK_STORES[name] = factory


def make_backend(
    store: str, clock: VirtualClock, streams: Streams, trace: Trace | None = None
) -> StoreBackend:
    """The backend `store` names (`trace`: where a disk's power losses are told); raises
    ValueError naming the known stores."""
    if store == MemoryStores.name:
        return MemoryStores()
    factory = DISK_STORES.get(store)
    if factory is None:
        parse_store(store)  # names the known stores and flaws, if that is what is wrong
        known = ", ".join([MemoryStores.name, *sorted(DISK_STORES)])
        raise ValueError(f"unknown store {store!r}; known stores: {known}")
    return DiskStores(store, factory, clock, streams, trace)
