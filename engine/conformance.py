"""A store conformance suite that any `ArtifactStore` / `EventStore` can be run against.

Usage (no test framework needed)::

    await check_artifact_store(InMemoryArtifactStore)
    await check_event_store(lambda: MySqliteEventStore(":memory:"))

`make` is called once per check and must return a fresh, empty store (or an awaitable of
one). If the store has an `aclose()` coroutine or a `close()` method it is called after
the check. Every check is also listed in `ARTIFACT_CHECKS` / `EVENT_CHECKS` as
`(name, check)` so a test runner can run them one by one with `run_check`.

A failing check raises `AssertionError` whose message starts with the check's name.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mfm_engine.errors import ErrorCategory, ErrorInfo, StorageError, StorageErrorKind
from mfm_engine.events import (
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from mfm_engine.stores import ArtifactKind, ArtifactStore, EventStore

__all__ = [
    "ARTIFACT_CHECKS",
    "EVENT_CHECKS",
    "ArtifactCheck",
    "EventCheck",
    "check_artifact_store",
    "check_event_store",
    "make_envelope",
    "run_check",
    "run_checks",
]

ArtifactFactory = Callable[[], "ArtifactStore | Awaitable[ArtifactStore]"]
EventFactory = Callable[[], "EventStore | Awaitable[EventStore]"]
ArtifactCheck = Callable[[ArtifactStore], Awaitable[None]]
EventCheck = Callable[[EventStore], Awaitable[None]]

HELLO_ID = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
CONCURRENCY_CODE = "event_store_concurrency"

# Fixed run ids so failures are reproducible.
RUN_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
RUN_B = uuid.UUID("00000000-0000-4000-8000-00000000000b")
RUN_UNKNOWN = uuid.UUID("00000000-0000-4000-8000-0000000000ff")

_SNAP = "0" * 64


# --------------------------------------------------------------------------- helpers


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_envelope(run_id: uuid.UUID, seq: int, variant: int | None = None) -> EventEnvelope:
    """A valid envelope; `variant` (default: `seq`) picks one of every event type."""
    v = seq if variant is None else variant
    events: list[Any] = [
        RunStarted("op", _sha(b"manifest"), _SNAP),
        StateEntered("m.s.a", v, _SNAP),
        StateCompleted("m.s.a", _sha(str(v).encode())),
        StateFailed(
            "m.s.b",
            ErrorInfo(
                "boom", ErrorCategory.OFF_CHAIN, True, f"failure {v}", {"n": v, "l": [1, "x"]}
            ),
            _SNAP,
        ),
        StateFailed("m.s.b", ErrorInfo("boom", ErrorCategory.UNKNOWN, False, "no details"), None),
        DomainEvent(
            "fact_recorded",
            {"key": f"k{v}", "payload_id": _sha(b"p"), "meta": {}},
            None,
        ),
        DomainEvent("op_boundary", {"nested": {"list": [1, 2, {"u": "é\u2603\U0001f600"}]}}, _SNAP),
        DomainEvent("artifact_written", None, None),
        RunCompleted(RunStatus.COMPLETED, _SNAP),
        RunCompleted(RunStatus.FAILED, None),
    ]
    ts = None if v % 3 == 0 else 1_700_000_000_000 + v
    return EventEnvelope(run_id=run_id, seq=seq, event=events[v % len(events)], ts_millis=ts)


def _batch(run_id: uuid.UUID, first: int, count: int) -> list[EventEnvelope]:
    return [make_envelope(run_id, s) for s in range(first, first + count)]


def _seqs(envs: Sequence[EventEnvelope]) -> list[int]:
    return [e.seq for e in envs]


async def _read_all(store: EventStore, run_id: uuid.UUID) -> list[EventEnvelope]:
    return list(await store.read_range(run_id, 1))


async def _expect_storage_error(
    what: str,
    aw: Awaitable[Any],
    kind: StorageErrorKind | None = None,
    code: str | None = None,
) -> StorageError:
    try:
        result = await aw
    except StorageError as exc:
        if kind is not None:
            assert exc.kind == kind, (
                f"{what}: StorageError kind {exc.kind} where {kind} was expected"
            )
        if code is not None:
            assert exc.info.code == code, (
                f"{what}: StorageError code {exc.info.code!r} where {code!r} was expected"
            )
        return exc
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"{what}: raised {type(exc).__name__}({exc}) instead of StorageError"
            + (f" {kind.name}" if kind else "")
        ) from exc
    raise AssertionError(f"{what}: succeeded (returned {result!r}) but must raise StorageError")


async def _expect_unchanged(
    what: str, store: EventStore, run_id: uuid.UUID, before: list[EventEnvelope]
) -> None:
    head = await store.head_seq(run_id)
    assert head == len(before), f"{what}: head moved from {len(before)} to {head}"
    after = await _read_all(store, run_id)
    assert after == before, f"{what}: stream changed from seqs {_seqs(before)} to {_seqs(after)}"


# ------------------------------------------------------------------ artifact checks

_PAYLOADS: tuple[bytes, ...] = (
    b"",
    b"hello",
    b'{"a":1}',
    bytes(range(256)),
    b"\x00" * 1000,
    "é☃😀".encode(),
    bytes((i * 7919) % 251 for i in range(70_000)),
)


async def artifact_put_get_round_trip(store: ArtifactStore) -> None:
    ids = {}
    for data in _PAYLOADS:
        ids[data] = await store.put(ArtifactKind.OTHER, data)
    for data, aid in ids.items():
        got = await store.get(aid)
        assert isinstance(got, bytes), f"get returned {type(got).__name__}, not bytes"
        assert got == data, (
            f"get({aid}) returned {len(got)} bytes that differ from the {len(data)} put"
        )


async def artifact_content_addressing(store: ArtifactStore) -> None:
    aid = await store.put(ArtifactKind.OTHER, b"hello")
    assert aid == HELLO_ID, f"put(b'hello') returned {aid!r}, not its SHA-256 {HELLO_ID}"
    for data in _PAYLOADS:
        aid = await store.put(ArtifactKind.FACT_PAYLOAD, data)
        assert isinstance(aid, str), f"put returned {type(aid).__name__}, not str"
        assert aid == _sha(data), f"put returned {aid!r} for bytes hashing to {_sha(data)}"
        assert len(aid) == 64 and aid == aid.lower(), f"id {aid!r} is not 64 lowercase hex chars"


async def artifact_id_ignores_kind(store: ArtifactStore) -> None:
    data = b"same bytes, every kind"
    ids = {kind: await store.put(kind, data) for kind in ArtifactKind}
    assert set(ids.values()) == {_sha(data)}, f"ids differ by kind: {ids}"
    got = await store.get(_sha(data))
    assert got == data, "bytes put under several kinds did not read back"


async def artifact_put_idempotent(store: ArtifactStore) -> None:
    first = await store.put(ArtifactKind.OUTPUT, b"twice")
    second = await store.put(ArtifactKind.OUTPUT, b"twice")
    assert first == second, f"putting the same bytes twice gave {first} then {second}"
    assert await store.get(first) == b"twice", "bytes put twice did not read back"


async def artifact_distinct_bytes_distinct_ids(store: ArtifactStore) -> None:
    a = await store.put(ArtifactKind.OTHER, b"a")
    b = await store.put(ArtifactKind.OTHER, b"b")
    assert a != b, "different bytes got the same id"
    assert await store.get(a) == b"a" and await store.get(b) == b"b", "artifacts were mixed up"


async def artifact_exists(store: ArtifactStore) -> None:
    assert await store.exists(HELLO_ID) is False, "exists() is not False before anything was put"
    await store.put(ArtifactKind.OTHER, b"hello")
    assert await store.exists(HELLO_ID) is True, "exists() is not True after put"
    other = _sha(b"never put")
    assert await store.exists(other) is False, "exists() is True for an id never put"
    empty = await store.put(ArtifactKind.OTHER, b"")
    assert await store.exists(empty) is True, "exists() is not True for the empty artifact"


async def artifact_get_missing_not_found(store: ArtifactStore) -> None:
    missing = _sha(b"missing")
    await _expect_storage_error(
        "get of an id on an empty store", store.get(missing), StorageErrorKind.NOT_FOUND
    )
    await store.put(ArtifactKind.OTHER, b"something else")
    await _expect_storage_error(
        "get of an id never put", store.get(missing), StorageErrorKind.NOT_FOUND
    )
    assert await store.exists(missing) is False, "a failed get made the id exist"


ARTIFACT_CHECKS: list[tuple[str, ArtifactCheck]] = [
    ("put_get_round_trip", artifact_put_get_round_trip),
    ("content_addressing", artifact_content_addressing),
    ("id_ignores_kind", artifact_id_ignores_kind),
    ("put_idempotent", artifact_put_idempotent),
    ("distinct_bytes_distinct_ids", artifact_distinct_bytes_distinct_ids),
    ("exists", artifact_exists),
    ("get_missing_not_found", artifact_get_missing_not_found),
]


# --------------------------------------------------------------------- event checks


async def event_head_zero_for_unknown_run(store: EventStore) -> None:
    head = await store.head_seq(RUN_UNKNOWN)
    assert head == 0, f"head_seq of an unknown run is {head!r}, not 0"


async def event_append_and_read(store: EventStore) -> None:
    first = _batch(RUN_A, 1, 3)
    await store.append(RUN_A, 0, first)
    got = await _read_all(store, RUN_A)
    assert got == first, f"read back seqs {_seqs(got)} / events differ from those appended"
    second = _batch(RUN_A, 4, 2)
    await store.append(RUN_A, 3, second)
    got = await _read_all(store, RUN_A)
    assert got == first + second, f"after a second append read back seqs {_seqs(got)}, not 1..5"
    assert await store.head_seq(RUN_A) == 5, "head_seq is not 5 after appending 5 envelopes"


async def event_append_returns_new_head(store: EventStore) -> None:
    head = await store.append(RUN_A, 0, _batch(RUN_A, 1, 1))
    assert head == 1, f"append of 1 at 0 returned {head!r}, not 1"
    head = await store.append(RUN_A, 1, _batch(RUN_A, 2, 3))
    assert head == 4, f"append of 3 at 1 returned {head!r}, not 4"
    assert await store.head_seq(RUN_A) == 4, "head_seq disagrees with what append returned"


async def event_round_trip_every_event_type(store: EventStore) -> None:
    envs = [make_envelope(RUN_A, seq, variant) for seq, variant in enumerate(range(30), start=1)]
    await store.append(RUN_A, 0, envs)
    got = await _read_all(store, RUN_A)
    assert len(got) == len(envs), f"read back {len(got)} envelopes, not {len(envs)}"
    for want, have in zip(envs, got, strict=True):
        assert have == want, f"seq {want.seq} read back as {have!r}, not {want!r}"


async def event_append_empty_batch(store: EventStore) -> None:
    head = await store.append(RUN_A, 0, [])
    assert head == 0, f"empty append on an empty run returned {head!r}, not 0"
    await store.append(RUN_A, 0, _batch(RUN_A, 1, 2))
    head = await store.append(RUN_A, 2, [])
    assert head == 2, f"empty append at head 2 returned {head!r}, not 2"
    await _expect_unchanged("empty append", store, RUN_A, _batch(RUN_A, 1, 2))


async def event_expected_seq_concurrency(store: EventStore) -> None:
    # Unknown run: only expected_seq 0 is right.
    await _expect_storage_error(
        "append at expected 1 to an empty run",
        store.append(RUN_A, 1, _batch(RUN_A, 2, 1)),
        StorageErrorKind.CONCURRENCY,
        CONCURRENCY_CODE,
    )
    await _expect_unchanged("refused append to an empty run", store, RUN_A, [])
    before = _batch(RUN_A, 1, 2)
    await store.append(RUN_A, 0, before)
    # Each batch is well formed relative to its (wrong) expected seq, so only the head
    # check can refuse it.
    for expected in (0, 1, 3, 7):
        await _expect_storage_error(
            f"append at expected {expected} when the head is 2",
            store.append(RUN_A, expected, _batch(RUN_A, expected + 1, 2)),
            StorageErrorKind.CONCURRENCY,
            CONCURRENCY_CODE,
        )
        await _expect_unchanged(f"refused append at expected {expected}", store, RUN_A, before)
    head = await store.append(RUN_A, 2, _batch(RUN_A, 3, 1))
    assert head == 3, "a correct append after refused ones did not land"


async def event_concurrent_appends_one_wins(store: EventStore) -> None:
    a = [make_envelope(RUN_A, 1, 0)]
    b = [make_envelope(RUN_A, 1, 1)]
    results = await asyncio.gather(
        store.append(RUN_A, 0, a), store.append(RUN_A, 0, b), return_exceptions=True
    )
    wins = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1, f"two racing appends at expected 0: results {results!r}"
    loss = losses[0]
    assert isinstance(loss, StorageError) and loss.kind == StorageErrorKind.CONCURRENCY, (
        f"the losing racer raised {loss!r}, not StorageError CONCURRENCY"
    )
    winner = (a, b)[wins[0]]
    await _expect_unchanged("after a race", store, RUN_A, winner)


async def event_wrong_run_id_refused(store: EventStore) -> None:
    await _expect_storage_error(
        "append of another run's envelope", store.append(RUN_A, 0, _batch(RUN_B, 1, 1))
    )
    await _expect_unchanged("refused foreign envelope (run A)", store, RUN_A, [])
    await _expect_unchanged("refused foreign envelope (run B)", store, RUN_B, [])
    before = _batch(RUN_A, 1, 2)
    await store.append(RUN_A, 0, before)
    mixed = [make_envelope(RUN_A, 3), make_envelope(RUN_B, 4), make_envelope(RUN_A, 5)]
    await _expect_storage_error(
        "append of a batch with one foreign envelope", store.append(RUN_A, 2, mixed)
    )
    await _expect_unchanged("refused mixed batch (atomic)", store, RUN_A, before)
    await _expect_unchanged("refused mixed batch (run B)", store, RUN_B, [])


async def event_non_contiguous_seqs_refused(store: EventStore) -> None:
    bad_batches = {
        "starts at 0": [0],
        "starts at 2": [2],
        "gap 1,3": [1, 3],
        "repeat 1,1": [1, 1],
        "descending 2,1": [2, 1],
        "late gap 1,2,4": [1, 2, 4],
    }
    for label, seqs in bad_batches.items():
        batch = [make_envelope(RUN_A, s) for s in seqs]
        await _expect_storage_error(f"append of seqs {label} at 0", store.append(RUN_A, 0, batch))
        await _expect_unchanged(f"refused seqs {label} at 0 (atomic)", store, RUN_A, [])
    before = _batch(RUN_A, 1, 3)
    await store.append(RUN_A, 0, before)
    for label, seqs in {"restart at 1": [1], "skip to 5": [5], "gap 4,6": [4, 6]}.items():
        batch = [make_envelope(RUN_A, s) for s in seqs]
        await _expect_storage_error(f"append of seqs {label} at 3", store.append(RUN_A, 3, batch))
        await _expect_unchanged(f"refused seqs {label} at 3 (atomic)", store, RUN_A, before)


async def _five(store: EventStore) -> list[EventEnvelope]:
    envs = _batch(RUN_A, 1, 5)
    await store.append(RUN_A, 0, envs)
    return envs


async def event_read_range_inclusive(store: EventStore) -> None:
    envs = await _five(store)
    cases = {
        (2, 4): [2, 3, 4],
        (3, 3): [3],
        (1, 5): [1, 2, 3, 4, 5],
        (1, None): [1, 2, 3, 4, 5],
        (4, None): [4, 5],
        (5, 5): [5],
        (1, 1): [1],
    }
    for (lo, hi), want in cases.items():
        got = await store.read_range(RUN_A, lo, hi)
        assert _seqs(got) == want, f"read_range({lo}, {hi}) gave seqs {_seqs(got)}, not {want}"
        assert list(got) == [envs[s - 1] for s in want], f"read_range({lo}, {hi}) events differ"


async def event_read_range_from_below_one(store: EventStore) -> None:
    await _five(store)
    for lo, hi, want in ((0, None, [1, 2, 3, 4, 5]), (-5, 2, [1, 2]), (0, 1, [1]), (-1, 0, [])):
        got = await store.read_range(RUN_A, lo, hi)
        assert _seqs(got) == want, f"read_range({lo}, {hi}) gave seqs {_seqs(got)}, not {want}"


async def event_read_range_to_beyond_head(store: EventStore) -> None:
    await _five(store)
    for lo, hi, want in ((2, 100, [2, 3, 4, 5]), (6, None, []), (6, 10, []), (50, 60, [])):
        got = await store.read_range(RUN_A, lo, hi)
        assert _seqs(got) == want, f"read_range({lo}, {hi}) gave seqs {_seqs(got)}, not {want}"


async def event_read_range_empty_window(store: EventStore) -> None:
    await _five(store)
    for lo, hi in ((3, 2), (1, 0), (1, -1), (5, 4)):
        got = await store.read_range(RUN_A, lo, hi)
        assert list(got) == [], f"read_range({lo}, {hi}) gave seqs {_seqs(got)}, not []"


async def event_read_range_unknown_run(store: EventStore) -> None:
    for lo, hi in ((1, None), (0, None), (1, 10), (-3, 3)):
        got = await store.read_range(RUN_UNKNOWN, lo, hi)
        assert list(got) == [], f"read_range of an unknown run ({lo}, {hi}) gave {got!r}, not []"
    await _five(store)
    got = await store.read_range(RUN_UNKNOWN, 1)
    assert list(got) == [], f"read_range of an unknown run gave {got!r} once another run exists"


async def event_runs_independent(store: EventStore) -> None:
    a = _batch(RUN_A, 1, 3)
    b = _batch(RUN_B, 1, 2)
    assert await store.append(RUN_A, 0, a) == 3, "append to run A did not return 3"
    assert await store.head_seq(RUN_B) == 0, "appending to run A moved run B's head"
    assert await store.append(RUN_B, 0, b) == 2, "run B could not start at 0 beside run A"
    await _expect_storage_error(
        "append to run B at run A's head",
        store.append(RUN_B, 3, _batch(RUN_B, 4, 1)),
        StorageErrorKind.CONCURRENCY,
        CONCURRENCY_CODE,
    )
    more = _batch(RUN_A, 4, 1)
    await store.append(RUN_A, 3, more)
    await _expect_unchanged("run A", store, RUN_A, a + more)
    await _expect_unchanged("run B", store, RUN_B, b)
    assert await store.head_seq(RUN_UNKNOWN) == 0, "an unrelated run has a head"


async def event_no_aliasing(store: EventStore) -> None:
    batch = _batch(RUN_A, 1, 3)
    keep = list(batch)
    await store.append(RUN_A, 0, batch)
    batch.clear()
    await _expect_unchanged("caller cleared its list after append", store, RUN_A, keep)
    got = await store.read_range(RUN_A, 1)
    if isinstance(got, list):
        got.clear()
    await _expect_unchanged("caller cleared the list read_range returned", store, RUN_A, keep)


EVENT_CHECKS: list[tuple[str, EventCheck]] = [
    ("head_zero_for_unknown_run", event_head_zero_for_unknown_run),
    ("append_and_read", event_append_and_read),
    ("append_returns_new_head", event_append_returns_new_head),
    ("round_trip_every_event_type", event_round_trip_every_event_type),
    ("append_empty_batch", event_append_empty_batch),
    ("expected_seq_concurrency", event_expected_seq_concurrency),
    ("concurrent_appends_one_wins", event_concurrent_appends_one_wins),
    ("wrong_run_id_refused", event_wrong_run_id_refused),
    ("non_contiguous_seqs_refused", event_non_contiguous_seqs_refused),
    ("read_range_inclusive", event_read_range_inclusive),
    ("read_range_from_below_one", event_read_range_from_below_one),
    ("read_range_to_beyond_head", event_read_range_to_beyond_head),
    ("read_range_empty_window", event_read_range_empty_window),
    ("read_range_unknown_run", event_read_range_unknown_run),
    ("runs_independent", event_runs_independent),
    ("no_aliasing", event_no_aliasing),
]


# ----------------------------------------------------------------------------- runner


async def _close(store: Any) -> None:
    aclose = getattr(store, "aclose", None)
    if aclose is not None:
        result = aclose()
        if inspect.isawaitable(result):
            await result
        return
    close = getattr(store, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


async def run_check(
    name: str, check: Callable[[Any], Awaitable[None]], make: Callable[[], Any]
) -> None:
    """Run one check on a fresh store; any failure becomes `AssertionError` naming the check."""
    store = make()
    if inspect.isawaitable(store):
        store = await store
    try:
        await check(store)
    except AssertionError as exc:
        raise AssertionError(f"store conformance check {name!r} failed: {exc}") from exc
    except Exception as exc:
        raise AssertionError(
            f"store conformance check {name!r} failed: unexpected {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        await _close(store)


async def run_checks(
    checks: Sequence[tuple[str, Callable[[Any], Awaitable[None]]]], make: Callable[[], Any]
) -> None:
    """Run every check; if any fail, raise one `AssertionError` listing each failure."""
    failures: list[str] = []
    for name, check in checks:
        try:
            await run_check(name, check, make)
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        raise AssertionError(
            f"{len(failures)} of {len(checks)} store conformance checks failed:\n"
            + "\n".join(f"  - {f}" for f in failures)
        )


async def check_artifact_store(make: ArtifactFactory) -> None:
    """Run every artifact-store check against fresh stores from `make`."""
    await run_checks(ARTIFACT_CHECKS, make)


async def check_event_store(make: EventFactory) -> None:
    """Run every event-store check against fresh stores from `make`."""
    await run_checks(EVENT_CHECKS, make)
