"""The store conformance suite, run against the in-memory stores and against broken ones."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from mfm_engine import conformance
from mfm_engine.conformance import (
    ARTIFACT_CHECKS,
    EVENT_CHECKS,
    check_artifact_store,
    check_event_store,
    run_check,
)
from mfm_engine.errors import StorageError, StorageErrorKind, storage
from mfm_engine.events import EventEnvelope, envelope_from_json_line, envelope_to_json_line
from mfm_engine.stores import (
    ArtifactKind,
    ArtifactStore,
    EventStore,
    InMemoryArtifactStore,
    InMemoryEventStore,
    Stores,
    check_append,
    in_memory_stores,
)

# ------------------------------------------------------------------- the real stores


@pytest.mark.parametrize(("name", "check"), ARTIFACT_CHECKS, ids=[n for n, _ in ARTIFACT_CHECKS])
def test_in_memory_artifact_store_conforms(name: str, check: Callable[..., Any]) -> None:
    asyncio.run(run_check(name, check, InMemoryArtifactStore))


@pytest.mark.parametrize(("name", "check"), EVENT_CHECKS, ids=[n for n, _ in EVENT_CHECKS])
def test_in_memory_event_store_conforms(name: str, check: Callable[..., Any]) -> None:
    asyncio.run(run_check(name, check, InMemoryEventStore))


def test_whole_suites_pass_on_in_memory_stores() -> None:
    asyncio.run(check_artifact_store(InMemoryArtifactStore))
    asyncio.run(check_event_store(InMemoryEventStore))


def test_check_names_are_unique_and_cover_the_contract() -> None:
    artifact = [n for n, _ in ARTIFACT_CHECKS]
    event = [n for n, _ in EVENT_CHECKS]
    assert len(set(artifact)) == len(artifact)
    assert len(set(event)) == len(event)
    assert {
        "put_get_round_trip",
        "content_addressing",
        "id_ignores_kind",
        "exists",
        "get_missing_not_found",
    } <= set(artifact)
    assert {
        "head_zero_for_unknown_run",
        "append_and_read",
        "append_returns_new_head",
        "expected_seq_concurrency",
        "wrong_run_id_refused",
        "non_contiguous_seqs_refused",
        "read_range_inclusive",
        "read_range_from_below_one",
        "read_range_to_beyond_head",
        "read_range_unknown_run",
        "runs_independent",
    } <= set(event)


def test_protocols_and_stores_bundle() -> None:
    stores = in_memory_stores()
    assert isinstance(stores, Stores)
    assert isinstance(stores.artifacts, ArtifactStore)
    assert isinstance(stores.events, EventStore)


class JsonLinesEventStore:
    """An event store that persists only the stable JSON form, as a durable store would."""

    def __init__(self) -> None:
        self.lines: dict[uuid.UUID, list[str]] = {}
        self.closed = False

    async def head_seq(self, run_id: uuid.UUID) -> int:
        return len(self.lines.get(run_id, ()))

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        lines = self.lines.get(run_id, [])
        check_append(run_id, len(lines), expected_seq, envelopes)
        if envelopes:
            self.lines[run_id] = lines + [envelope_to_json_line(e) for e in envelopes]
        return len(self.lines.get(run_id, ()))

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        lines = self.lines.get(run_id, [])
        hi = len(lines) if to_seq is None else to_seq
        return [envelope_from_json_line(x) for x in lines[max(from_seq, 1) - 1 : max(hi, 0)]]

    async def aclose(self) -> None:
        self.closed = True


def test_suite_passes_on_a_store_that_persists_json_lines() -> None:
    made: list[JsonLinesEventStore] = []

    def make() -> JsonLinesEventStore:
        made.append(JsonLinesEventStore())
        return made[-1]

    asyncio.run(check_event_store(make))
    assert len(made) == len(EVENT_CHECKS), "each check gets a fresh store"
    assert all(s.closed for s in made), "aclose is called after each check"


def test_make_may_be_async() -> None:
    async def make() -> InMemoryArtifactStore:
        return InMemoryArtifactStore()

    asyncio.run(check_artifact_store(make))


def test_in_memory_refusal_codes() -> None:
    async def go() -> None:
        store = InMemoryEventStore()
        run, other = uuid.uuid4(), uuid.uuid4()
        env = conformance.make_envelope
        with pytest.raises(StorageError) as e:
            await store.append(run, 0, [env(other, 1)])
        assert e.value.info.code == "event_run_id_mismatch"
        with pytest.raises(StorageError) as e:
            await store.append(run, 0, [env(run, 2)])
        assert e.value.info.code == "event_seq_not_contiguous"
        with pytest.raises(StorageError) as e:
            await store.append(run, 5, [env(run, 6)])
        assert e.value.kind is StorageErrorKind.CONCURRENCY
        assert e.value.info.code == "event_store_concurrency"
        assert run not in store.run_ids(), "refused appends create no stream"
        artifacts = InMemoryArtifactStore()
        with pytest.raises(StorageError) as e:
            await artifacts.get("0" * 64)
        assert e.value.kind is StorageErrorKind.NOT_FOUND
        assert e.value.info.code == "artifact_not_found"

    asyncio.run(go())


# -------------------------------------------------- broken stores: the suite must fail


class WrongIdArtifactStore(InMemoryArtifactStore):
    """put answers with an id that is not the content address."""

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        aid = hashlib.sha256(data + b"!").hexdigest()
        self.data[aid] = bytes(data)
        return aid


class KindSaltedArtifactStore(InMemoryArtifactStore):
    """Consistent, but the id depends on the kind."""

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        aid = hashlib.sha256(kind.value.encode() + data).hexdigest()
        self.data[aid] = bytes(data)
        return aid


class KeyErrorArtifactStore(InMemoryArtifactStore):
    async def get(self, artifact_id: str) -> bytes:
        return self.data[artifact_id]


class WrongKindNotFoundArtifactStore(InMemoryArtifactStore):
    async def get(self, artifact_id: str) -> bytes:
        if artifact_id not in self.data:
            raise storage(StorageErrorKind.OTHER, "nope", "missing")
        return self.data[artifact_id]


class AlwaysExistsArtifactStore(InMemoryArtifactStore):
    async def exists(self, artifact_id: str) -> bool:
        return True


class TruncatingArtifactStore(InMemoryArtifactStore):
    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        aid = await super().put(kind, data)
        self.data[aid] = self.data[aid][:65536]
        return aid


class FirstKindOnlyArtifactStore(InMemoryArtifactStore):
    """Refuses to store the same bytes under a second kind."""

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        aid = await super().put(kind, data)
        if self.kinds[aid] is not kind:
            raise storage(StorageErrorKind.OTHER, "kind_conflict", "already stored as another kind")
        return aid


class IgnoresExpectedSeqEventStore(InMemoryEventStore):
    """Checks the batch against the caller's expected seq but never against the head."""

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        check_append(run_id, expected_seq, expected_seq, envelopes)
        stream = self.streams.setdefault(run_id, [])
        stream.extend(envelopes)
        return len(stream)


class WrongConcurrencyCodeEventStore(InMemoryEventStore):
    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        if await self.head_seq(run_id) != expected_seq:
            raise storage(StorageErrorKind.CONCURRENCY, "conflict", "someone else appended")
        return await super().append(run_id, expected_seq, envelopes)


class NonAtomicEventStore(InMemoryEventStore):
    """Appends one envelope at a time, so a bad envelope leaves the good prefix behind."""

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        head = await self.head_seq(run_id)
        for env in envelopes:
            head = await super().append(run_id, head, [env])
        return head


class NoValidationEventStore(InMemoryEventStore):
    """Checks the head but accepts any envelopes."""

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        check_append(run_id, await self.head_seq(run_id), expected_seq, [])
        stream = self.streams.setdefault(run_id, [])
        stream.extend(envelopes)
        return len(stream)


class ReturnsCountEventStore(InMemoryEventStore):
    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        await super().append(run_id, expected_seq, envelopes)
        return len(envelopes)


class UnknownHeadNoneEventStore(InMemoryEventStore):
    async def head_seq(self, run_id: uuid.UUID) -> int:
        stream = self.streams.get(run_id)
        return len(stream) if stream else None  # type: ignore[return-value]


class ExclusiveRangeEventStore(InMemoryEventStore):
    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        return await super().read_range(run_id, from_seq, None if to_seq is None else to_seq - 1)


class NoClampEventStore(InMemoryEventStore):
    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        stream = self.streams.get(run_id, [])
        return stream[from_seq - 1 : to_seq]


class UnknownRunRaisesEventStore(InMemoryEventStore):
    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        stream = self.streams[run_id]
        end = len(stream) if to_seq is None else max(min(to_seq, len(stream)), 0)
        return stream[max(from_seq, 1) - 1 : end]


class AliasingEventStore(InMemoryEventStore):
    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        stream = self.streams.get(run_id, [])
        if from_seq <= 1 and to_seq is None:
            return stream
        return await super().read_range(run_id, from_seq, to_seq)


class LossyEventStore(JsonLinesEventStore):
    """Persists JSON but forgets the timestamp."""

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        stripped = [EventEnvelope(e.run_id, e.seq, e.event, None) for e in envelopes]
        return await super().append(run_id, expected_seq, stripped)


class SharedStreamsEventStore(InMemoryEventStore):
    """Keys every stream by one run id: runs are not independent."""

    _ONE = uuid.UUID(int=0)

    async def head_seq(self, run_id: uuid.UUID) -> int:
        return await super().head_seq(self._ONE)

    async def append(
        self, run_id: uuid.UUID, expected_seq: int, envelopes: Sequence[EventEnvelope]
    ) -> int:
        head = await super().head_seq(self._ONE)
        check_append(run_id, head, expected_seq, envelopes)
        stream = self.streams.setdefault(self._ONE, [])
        stream.extend(envelopes)
        return len(stream)

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        return await super().read_range(self._ONE, from_seq, to_seq)


BROKEN_ARTIFACT_STORES: list[tuple[type, set[str]]] = [
    (WrongIdArtifactStore, {"content_addressing", "id_ignores_kind", "exists"}),
    (KindSaltedArtifactStore, {"content_addressing", "id_ignores_kind"}),
    (KeyErrorArtifactStore, {"get_missing_not_found"}),
    (WrongKindNotFoundArtifactStore, {"get_missing_not_found"}),
    (AlwaysExistsArtifactStore, {"exists", "get_missing_not_found"}),
    (TruncatingArtifactStore, {"put_get_round_trip"}),
    (FirstKindOnlyArtifactStore, {"id_ignores_kind"}),
]

BROKEN_EVENT_STORES: list[tuple[type, set[str]]] = [
    (
        IgnoresExpectedSeqEventStore,
        {"expected_seq_concurrency", "concurrent_appends_one_wins", "runs_independent"},
    ),
    (WrongConcurrencyCodeEventStore, {"expected_seq_concurrency", "runs_independent"}),
    (NonAtomicEventStore, {"wrong_run_id_refused", "non_contiguous_seqs_refused"}),
    (NoValidationEventStore, {"wrong_run_id_refused", "non_contiguous_seqs_refused"}),
    (ReturnsCountEventStore, {"append_returns_new_head"}),
    (UnknownHeadNoneEventStore, {"head_zero_for_unknown_run"}),
    (ExclusiveRangeEventStore, {"read_range_inclusive"}),
    (NoClampEventStore, {"read_range_from_below_one"}),
    (UnknownRunRaisesEventStore, {"read_range_unknown_run"}),
    (AliasingEventStore, {"no_aliasing"}),
    (LossyEventStore, {"round_trip_every_event_type"}),
    (SharedStreamsEventStore, {"runs_independent"}),
]


def _failing_checks(checks: list[tuple[str, Any]], make: Callable[[], Any]) -> set[str]:
    failed = set()
    for name, check in checks:
        try:
            asyncio.run(run_check(name, check, make))
        except AssertionError as exc:
            assert name in str(exc), "the failure message names the check"
            failed.add(name)
    return failed


@pytest.mark.parametrize(
    ("store", "expected"),
    BROKEN_ARTIFACT_STORES,
    ids=[c.__name__ for c, _ in BROKEN_ARTIFACT_STORES],
)
def test_suite_fails_on_broken_artifact_store(store: type, expected: set[str]) -> None:
    with pytest.raises(AssertionError) as exc:
        asyncio.run(check_artifact_store(store))
    for name in expected:
        assert repr(name) in str(exc.value)
    assert expected <= _failing_checks(ARTIFACT_CHECKS, store)


@pytest.mark.parametrize(
    ("store", "expected"), BROKEN_EVENT_STORES, ids=[c.__name__ for c, _ in BROKEN_EVENT_STORES]
)
def test_suite_fails_on_broken_event_store(store: type, expected: set[str]) -> None:
    with pytest.raises(AssertionError) as exc:
        asyncio.run(check_event_store(store))
    for name in expected:
        assert repr(name) in str(exc.value)
    assert expected <= _failing_checks(EVENT_CHECKS, store)


def test_wrong_id_put_fails_with_a_clear_message() -> None:
    with pytest.raises(AssertionError, match=r"content_addressing.*SHA-256"):
        asyncio.run(
            run_check(
                "content_addressing", conformance.artifact_content_addressing, WrongIdArtifactStore
            )
        )


def test_ignored_expected_seq_fails_with_a_clear_message() -> None:
    with pytest.raises(AssertionError, match=r"expected_seq_concurrency.*must raise StorageError"):
        asyncio.run(
            run_check(
                "expected_seq_concurrency",
                conformance.event_expected_seq_concurrency,
                IgnoresExpectedSeqEventStore,
            )
        )


def test_unexpected_exception_is_reported_as_a_named_failure() -> None:
    class Exploding(InMemoryEventStore):
        async def head_seq(self, run_id: uuid.UUID) -> int:
            raise RuntimeError("disk on fire")

    with pytest.raises(
        AssertionError, match=r"head_zero_for_unknown_run.*RuntimeError.*disk on fire"
    ):
        asyncio.run(
            run_check(
                "head_zero_for_unknown_run",
                conformance.event_head_zero_for_unknown_run,
                Exploding,
            )
        )
