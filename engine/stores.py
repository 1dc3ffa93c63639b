"""Store protocols and the in-memory implementations."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs
from mfm_engine.errors import StorageErrorKind, storage
from mfm_engine.events import EventEnvelope
from mfm_engine.hashing import artifact_id_for_bytes


class ArtifactKind(enum.Enum):
    MANIFEST = "manifest"
    CONTEXT_SNAPSHOT = "context_snapshot"
    FACT_PAYLOAD = "fact_payload"
    OUTPUT = "output"
    OTHER = "other"


@runtime_checkable
class ArtifactStore(Protocol):
    async def put(self, kind: ArtifactKind, data: bytes) -> str: ...

    async def get(self, artifact_id: str) -> bytes: ...

    async def exists(self, artifact_id: str) -> bool: ...


@runtime_checkable
class EventStore(Protocol):
    async def head_seq(self, run_id: uuid.UUID) -> int: ...

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int: ...

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]: ...


@attrs.frozen
class Stores:
    artifacts: ArtifactStore
    events: EventStore


def artifact_not_found(artifact_id: str):
    return storage(
        StorageErrorKind.NOT_FOUND, "artifact_not_found", f"artifact {artifact_id} not found"
    )


class InMemoryArtifactStore:
    """Content-addressed bytes in a dict; the id is the SHA-256 of the bytes only."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.kinds: dict[str, ArtifactKind] = {}

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        artifact_id = artifact_id_for_bytes(data)
        self.data.setdefault(artifact_id, bytes(data))
        self.kinds.setdefault(artifact_id, kind)
        return artifact_id

    async def get(self, artifact_id: str) -> bytes:
        try:
            return self.data[artifact_id]
        except KeyError:
            raise artifact_not_found(artifact_id) from None

    async def exists(self, artifact_id: str) -> bool:
        return artifact_id in self.data


def check_append(
    run_id: uuid.UUID, head: int, expected_seq: int, envelopes: Sequence[EventEnvelope]
) -> None:
    """The atomic-append contract every event store enforces before it changes anything."""
    if head != expected_seq:
        raise storage(
            StorageErrorKind.CONCURRENCY,
            "event_store_concurrency",
            f"expected head {expected_seq}, found {head}",
        )
    for offset, env in enumerate(envelopes, start=1):
        if env.run_id is not run_id and env.run_id != run_id:  # `is` first: UUID eq is slow
            raise storage(
                StorageErrorKind.OTHER, "event_run_id_mismatch", "envelope run id mismatch"
            )
        if env.seq != expected_seq + offset:
            raise storage(
                StorageErrorKind.OTHER,
                "event_seq_not_contiguous",
                f"envelope seq {env.seq} where {expected_seq + offset} was expected",
            )


def seq_window(
    stream: list[EventEnvelope] | None, from_seq: int, to_seq: int | None
) -> list[EventEnvelope]:
    """`read_range`'s answer from a stream held in memory (seq n at index n - 1): a new list
    of the envelopes with from_seq <= seq <= to_seq (to the end when to_seq is None)."""
    if not stream:
        return []
    start = max(from_seq, 1) - 1
    end = len(stream) if to_seq is None else max(min(to_seq, len(stream)), 0)
    return stream[start:end]


class InMemoryEventStore:
    """One list of envelopes per run; appends are atomic and optimistic."""

    def __init__(self) -> None:
        self.streams: dict[uuid.UUID, list[EventEnvelope]] = {}

    async def head_seq(self, run_id: uuid.UUID) -> int:
        stream = self.streams.get(run_id)
        return len(stream) if stream else 0

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        stream = self.streams.get(run_id)
        head = len(stream) if stream else 0
        check_append(run_id, head, expected_seq, envelopes)
        if not envelopes:
            return head
        if stream is None:
            stream = self.streams[run_id] = []
        stream.extend(envelopes)
        return len(stream)

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        return seq_window(self.streams.get(run_id), from_seq, to_seq)

    def run_ids(self) -> list[uuid.UUID]:
        return list(self.streams)


def in_memory_stores() -> Stores:
    return Stores(InMemoryArtifactStore(), InMemoryEventStore())
