"""Which durable stores a schedule runs the engine on: in memory, or real store code on a disk.

`memory` (the default) is what every schedule ran on before issue 19: the durable stores are
in-memory objects that outlive the incarnations. `sqlite` and `jsonl` run the engine's real
durable stores (`mfm_engine.sqlite_stores`, `mfm_engine.file_log`) on the simulated disk
(`mfm_sim.world.disk`, SQLite through its VFS), inline on the simulated loop:

- each incarnation opens fresh stores on the disk, as a restarted process would, with the
  disk's faults pointed at it (`mfm_sim.faults.disk.bind_disk`);
- when it ends, its handles die: a power loss (`SimDisk.crash`) if a disk fault took the
  machine down, else a process exit (`SimDisk.restart`: the page cache survives);
- the operator's manifest is put, and the final durable state read back, with no fault;
  before the read-back the machine loses power once more, so what the observation sees is
  what a crash at the very end would leave.

A name may carry one of the stores' deliberate flaws (`sqlite:synchronous_off`,
`jsonl:no_torn_tail_repair`, see `STORE_FLAWS`), for the self-check that shows a sweep
catches each.

The disk modules (and apsw, for `sqlite`) load only when a disk store is chosen.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from mfm_engine.events import EventEnvelope
from mfm_engine.stores import InMemoryArtifactStore, InMemoryEventStore, Stores

from mfm_sim.faults.appends import Batch
from mfm_sim.faults.stores import IncarnationHandle
from mfm_sim.run.observation import StoreAppend

__all__ = [
    "STORES",
    "STORE_FLAWS",
    "AcknowledgedLog",
    "DiskBackend",
    "MemoryBackend",
    "RecordingEventStore",
    "StoreBackend",
    "parse_store",
    "run_inline",
    "store_backend",
]

T = TypeVar("T")

STORES = ("memory", "sqlite", "jsonl")
# The flaws each disk store can be built with (mfm_engine.sqlite_stores.SQLITE_FLAWS, and the
# file log's `repair_torn_tail=False`).
STORE_FLAWS: dict[str, tuple[str, ...]] = {
    "memory": (),
    "sqlite": ("append_two_transactions", "synchronous_off", "head_outside_transaction"),
    "jsonl": ("no_torn_tail_repair",),
}
DB_PATH = "/mfm/runs.db"
_VFS_NAMES = itertools.count()
LOG_PATH = "/mfm/events.jsonl"


def parse_store(text: str) -> tuple[str, str | None]:
    """`sqlite` or `sqlite:synchronous_off` -> (store, flaw); ValueError naming what is known."""
    name, _, flaw = text.strip().partition(":")
    if name not in STORES:
        raise ValueError(f"unknown store {name!r}; known: {', '.join(STORES)}")
    if flaw and flaw not in STORE_FLAWS[name]:
        known = ", ".join(STORE_FLAWS[name]) or "none"
        raise ValueError(f"unknown flaw {flaw!r} of the {name} store; known: {known}")
    return name, flaw or None


class AcknowledgedLog:
    """The log as the appends the stores acknowledged made it (`World.appends`), shaped like
    `InMemoryEventStore.streams` for the checks that look at the log mid-run."""

    def __init__(self, appends: list[Batch]) -> None:
        self._appends = appends

    @property
    def streams(self) -> dict[uuid.UUID, list[EventEnvelope]]:
        out: dict[uuid.UUID, list[EventEnvelope]] = {}
        for _, _, _, run_id, envelopes in self._appends:
            out.setdefault(run_id, []).extend(envelopes)
        return out


class RecordingEventStore:
    """A real event store, with every append it is asked for noted in `attempts` (and whether
    it returned): what `durable_appends` needs to judge an append all or nothing."""

    def __init__(self, inner: Any, attempts: list[StoreAppend]) -> None:
        self._inner = inner
        self._attempts = attempts

    async def head_seq(self, run_id: uuid.UUID) -> int:
        return int(await self._inner.head_seq(run_id))

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        return list(await self._inner.read_range(run_id, from_seq, to_seq))

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        batch = tuple(envelopes)
        at = len(self._attempts)
        self._attempts.append(StoreAppend(run_id, batch, returned=False))
        head = await self._inner.append(run_id, expected_seq, batch)
        self._attempts[at] = StoreAppend(run_id, batch, returned=True)
        return int(head)


class MemoryBackend:
    """The in-memory stores: one pair for the whole schedule, durable by construction."""

    name = "memory"

    def __init__(self) -> None:
        self.durable = Stores(InMemoryArtifactStore(), InMemoryEventStore())
        self.log_view: Any = self.durable.events
        self.unreadable: str | None = None
        self.attempts: list[StoreAppend] = []  # the in-memory store's appends are not judged

    def put_manifest(self, artifact_id: str, data: bytes) -> None:
        self.durable.artifacts.data[artifact_id] = data  # type: ignore[attr-defined]

    def open(self, handle: IncarnationHandle) -> Stores:
        return self.durable

    def end(self) -> None:
        pass

    def durable_start(self, manifest_id: str) -> uuid.UUID | None:
        return None  # an in-memory append is durable exactly when it was acknowledged

    def settle(self) -> None:
        pass

    def close(self) -> None:
        pass


class DiskBackend:
    """Real durable stores on the simulated disk; `durable` is filled by `settle`."""

    def __init__(self, world: Any, name: str, flaw: str | None) -> None:
        from mfm_sim.world.disk import CRASH_STREAM, SimDisk

        self.name = name
        self.flaw = flaw
        self.world = world
        self.disk = SimDisk(world.clock, world.streams.stream(CRASH_STREAM))
        self.vfs: Any = None
        if name == "sqlite":
            from mfm_sim.world.disk_vfs import SimVFS

            # One VFS per schedule under a name of its own: apsw's registry is process-wide,
            # and a reference run may register one while the schedule's is still registered.
            name = f"mfm-sim-{world.seed}-{next(_VFS_NAMES)}"
            self.vfs = SimVFS(name, self.disk, world.streams.stream("disk:vfs"))
        # Artifacts of a file-log schedule stay in memory: the file log holds events only.
        self._artifacts = InMemoryArtifactStore()
        self.durable = Stores(self._artifacts, InMemoryEventStore())
        self.log_view = AcknowledgedLog(world.appends)
        self._open: list[Stores] = []
        self.settled = False
        self.unreadable: str | None = None
        self.attempts: list[StoreAppend] = []

    def _stores(self) -> Stores:
        from mfm_engine.file_log import JsonlEventStore
        from mfm_engine.sqlite_stores import sqlite_stores

        if self.name == "sqlite":
            vfs = self.vfs.vfs_name
            stores = sqlite_stores(DB_PATH, vfs=vfs, inline=True, exclusive=True, flaw=self.flaw)
        else:
            repair = self.flaw != "no_torn_tail_repair"
            events = JsonlEventStore(LOG_PATH, self.disk, inline=True, repair_torn_tail=repair)
            stores = Stores(self._artifacts, events)
        self._open.append(stores)
        return stores

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """No fault reaches the disk, and a dead file's errors stay unprinted."""
        from mfm_sim.world.disk_vfs import dead_files_quiet

        decide, self.disk.decide = self.disk.decide, None
        try:
            with dead_files_quiet():
                yield
        finally:
            self.disk.decide = decide

    def put_manifest(self, artifact_id: str, data: bytes) -> None:
        """The operator stores the manifest before the first start: no fault, synced."""
        from mfm_engine.stores import ArtifactKind

        with self._quiet():
            stores = self._stores()
            got = run_inline(stores.artifacts.put(ArtifactKind.MANIFEST, data))
            assert got == artifact_id, "the manifest's id is the hash of its bytes"
            self._abandon()
            self.disk.restart()

    def open(self, handle: IncarnationHandle) -> Stores:
        from mfm_sim.faults.disk import bind_disk

        bind_disk(self.disk, handle)
        stores = self._stores()
        return Stores(stores.artifacts, RecordingEventStore(stores.events, self.attempts))

    def _abandon(self) -> None:
        """Drop every open store without closing it: its process is gone, its files dead."""
        for stores in self._open:
            with contextlib.suppress(BaseException):  # a dead file's error, by design
                stores.events.close()  # type: ignore[attr-defined]
        self._open.clear()

    def end(self) -> None:
        """The incarnation is over: a power loss if a disk fault took the machine down, else
        a process exit; either way every handle it had is dead."""
        if self.disk.down:
            self.disk.crash()
        else:
            self.disk.restart()
        with self._quiet():
            self._abandon()

    def durable_start(self, manifest_id: str) -> uuid.UUID | None:
        """The run whose `RunStarted` (citing the operator's manifest) a start that never
        returned still made durable: the power loss kept the unacknowledged write. Read with
        no fault, as an operator's tool would, before the next incarnation starts."""
        from mfm_engine.errors import StorageError
        from mfm_engine.events import RunStarted

        firsts = [
            a.envelopes[0]
            for a in self.attempts
            if a.envelopes
            and a.envelopes[0].seq == 1
            and isinstance(a.envelopes[0].event, RunStarted)
            and a.envelopes[0].event.manifest_id == manifest_id
        ]
        if not firsts or self._open:
            return None  # (an incarnation still open: its end decides what the disk keeps)
        with self._quiet():
            stores = self._stores()
            try:
                for first in firsts:
                    if run_inline(stores.events.read_range(first.run_id, 1, 1)) == [first]:
                        return first.run_id
            except StorageError:
                pass  # a log the store refuses holds no run to resume
            finally:
                self.disk.restart()  # the tool exits without writing anything back
                self._abandon()
        return None

    def settle(self) -> None:
        """One last power loss, then read what is durable into `durable` (no fault). A log
        the store refuses to read back (a flawed store's, or one on a lying disk) is read as
        empty, and `unreadable` says why."""
        from mfm_engine.errors import StorageError

        if self.settled:
            return
        self.settled = True
        self.disk.decide = None
        self.disk.faulty = True
        self.disk.crash()
        with self._quiet():
            stores = self._stores()
            events = self.durable.events
            assert isinstance(events, InMemoryEventStore)
            try:
                events.streams = run_inline(_read_all(stores))
                if self.name == "sqlite":
                    data = stores.artifacts.all_artifacts()  # type: ignore[attr-defined]
                    self._artifacts.data.update(data)
            except StorageError as exc:
                self.unreadable = f"{exc.info.code}: {exc.info.message}"
            self._abandon()

    def close(self) -> None:
        if self.vfs is not None:
            with self._quiet():
                self._abandon()
            self.vfs.unregister()
            self.vfs = None


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine of inline store calls, which never suspends, to its result; the
    operator's own actions run so, outside any incarnation's loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("an inline store call suspended")


async def _read_all(stores: Stores) -> dict[uuid.UUID, list[EventEnvelope]]:
    events = stores.events
    await events.head_seq(uuid.UUID(int=0))  # opens (and repairs) the store
    out: dict[uuid.UUID, list[EventEnvelope]] = {}
    for run_id in events.run_ids():  # type: ignore[attr-defined]
        out[run_id] = list(await events.read_range(run_id, 1))
    return out


StoreBackend = MemoryBackend | DiskBackend


def store_backend(world: Any, store: str = "memory") -> StoreBackend:
    name, flaw = parse_store(store)
    if name == "memory":
        return MemoryBackend()
    return DiskBackend(world, name, flaw)
