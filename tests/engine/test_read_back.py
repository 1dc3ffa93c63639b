"""The original's later read-back checks (ENGINE.md "Later checks of the original that we adopt").

Each check is driven by a store double that wraps an in-memory store and hands back bad bytes
or a bad history; each test asserts the error's kind, code and details, and that the engine
appended nothing to the event store.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from mfm_engine import (
    ArtifactKind,
    DomainEvent,
    EventEnvelope,
    InMemoryArtifactStore,
    InMemoryEventStore,
    IoCall,
    IoError,
    IoMode,
    JsonContext,
    RunError,
    RunErrorKind,
    RunManifest,
    RunStarted,
    StartRun,
    StateCompleted,
    StateEntered,
    StateFailed,
    StorageError,
    Stores,
)
from mfm_engine.context import read_snapshot
from mfm_engine.envelopes import EnvelopeError, EnvelopeErrorKind, analyze_kernel_events
from mfm_engine.errors import ErrorCategory, IoErrorKind, StorageErrorKind, info
from mfm_engine.events import event_from_json
from mfm_engine.hashing import artifact_id_for_bytes, canonical_json_bytes
from mfm_engine.live_io import FactIndex, LiveIo, UnimplementedTransport, derived_fact_key
from mfm_engine.replay_io import ReplayIo
from mfm_engine.runtime.writer import EventWriter

from tests.engine.helpers import (
    BASE_CONFIG,
    OP,
    S1,
    CountingFactory,
    CountingTransport,
    FixedClock,
    FixedEntropy,
    call_k,
    config,
    failpoint,
    failures,
    make_engine,
    manifest,
    new_stores,
    plan,
    read_stream,
    run,
    start,
    store_manifest,
)

RID = uuid.UUID("00000000-0000-4000-8000-0000000000dd")
BAD_ID = "f" * 63  # one hex digit short of an artifact id

# ------------------------------------------------------------------ store doubles


class RewritingEventStore(InMemoryEventStore):
    """An event store whose reads pass through `rewrite` (a store handing back a bad history);
    it counts the appends made to it."""

    def __init__(self) -> None:
        super().__init__()
        self.rewrite: Callable[[list[EventEnvelope]], list[EventEnvelope]] | None = None
        self.appends = 0

    async def append(self, run_id: uuid.UUID, expected_seq: int, envelopes: Any) -> int:
        self.appends += 1
        return await super().append(run_id, expected_seq, envelopes)

    async def read_range(
        self, run_id: uuid.UUID, from_seq: int, to_seq: int | None = None
    ) -> list[EventEnvelope]:
        stream = await super().read_range(run_id, from_seq, to_seq)
        return stream if self.rewrite is None else self.rewrite(list(stream))


class SwappingArtifactStore(InMemoryArtifactStore):
    """An artifact store that hands back other bytes than it was given for the ids in `swaps`."""

    def __init__(self) -> None:
        super().__init__()
        self.swaps: dict[str, bytes] = {}

    async def get(self, artifact_id: str) -> bytes:
        swapped = self.swaps.get(artifact_id)
        return swapped if swapped is not None else await super().get(artifact_id)


def _stores() -> tuple[Stores, RewritingEventStore]:
    events = RewritingEventStore()
    return Stores(InMemoryArtifactStore(), events), events


async def _stopped_run(stores: Stores) -> uuid.UUID:
    """A run stopped after its first handler: RunStarted(1), StateEntered(2), fact_recorded(3).
    Resuming it would write (the orphan's StateFailed first)."""
    first = await start(
        stores,
        plan((S1, call_k)),
        live_transport_factory=CountingFactory(lambda c: {"n": 1}),
        failpoints=failpoint(),
    )
    return first.run_id


def _refused_resume(
    rewrite: Callable[[list[EventEnvelope]], list[EventEnvelope]],
) -> tuple[RunError, int]:
    """Resume a stopped run over a store that rewrites its history; the error and the appends
    the resume made."""

    async def main() -> tuple[RunError, int]:
        stores, events = _stores()
        run_id = await _stopped_run(stores)
        events.rewrite, events.appends = rewrite, 0
        head = await events.head_seq(run_id)
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, call_k))).resume(stores, run_id)
        assert await events.head_seq(run_id) == head
        return err.value, events.appends

    return run(main())


def _with(seq: int, event: Any) -> Callable[[list[EventEnvelope]], list[EventEnvelope]]:
    """A rewrite that puts `event` at `seq` (replacing what was there, or appending it)."""

    def rewrite(stream: list[EventEnvelope]) -> list[EventEnvelope]:
        run_id = stream[0].run_id
        kept = [env for env in stream if env.seq != seq]
        return sorted([*kept, EventEnvelope(run_id, seq, event)], key=lambda env: env.seq)

    return rewrite


# ------------------------------------------------------------------ no gaps or repeats


@pytest.mark.parametrize(
    ("rewrite", "problem"),
    [
        (lambda s: [s[0], s[2]], "seq_gap at seq 3"),  # 1, 3
        (lambda s: s[1:], "seq_gap at seq 2"),  # 2, 3: the first is missing
        (lambda s: [s[0], s[1], s[1], s[2]], "seq_not_increasing at seq 2"),  # 1, 2, 2, 3
        (lambda s: [s[0], s[2], s[1]], "seq_gap at seq 3"),  # 1, 3, 2
    ],
    ids=["gap", "first_missing", "repeat", "out_of_order"],
)
def test_resume_refuses_a_history_with_a_gap_or_a_repeat(rewrite: Any, problem: str) -> None:
    err, appends = _refused_resume(rewrite)
    assert err.kind is RunErrorKind.INVALID_PLAN
    assert err.info.code == "invalid_attempt_envelopes"
    # seed/runtime.rs's one refusal for every envelope error: it names none of them ...
    assert err.info.message == "invalid attempt envelopes in event stream"
    assert err.info.details is None
    assert appends == 0
    # ... but chains the walk's EnvelopeError, which says which one this rewrite makes.
    assert isinstance(err.__cause__, EnvelopeError)
    assert str(err.__cause__).startswith(problem)
    run_id = uuid.uuid4()
    stream = [EventEnvelope(run_id, n, DomainEvent("op_boundary", {})) for n in (1, 2, 3)]
    with pytest.raises(EnvelopeError, match=problem):
        analyze_kernel_events(rewrite(stream))


def test_a_gap_is_refused_before_facts_are_rebuilt() -> None:
    """A history with a gap and a conflicting fact record is refused for its gap: nothing is
    rebuilt from a history whose shape is wrong."""
    conflict = DomainEvent("fact_recorded", {"key": "k", "payload_id": "2" * 64, "meta": {}})
    err, appends = _refused_resume(_with(5, conflict))
    assert err.kind is RunErrorKind.INVALID_PLAN
    assert err.info.code == "invalid_attempt_envelopes"
    # Its code, not the conflict's `fact_recorded_conflict`: the gap was seen first.
    assert err.info.message == "invalid attempt envelopes in event stream"
    assert isinstance(err.__cause__, EnvelopeError)
    assert err.__cause__.kind is EnvelopeErrorKind.SEQ_GAP
    assert appends == 0


# ------------------------------------------------------------------ fact records: their kinds


def test_malformed_fact_record_is_storage_corruption_at_its_seq() -> None:
    err, appends = _refused_resume(_with(4, DomainEvent("fact_recorded", {"key": "j"})))
    assert err.kind is RunErrorKind.STORAGE
    assert isinstance(err.__cause__, StorageError)
    assert err.__cause__.kind is StorageErrorKind.CORRUPTION
    assert err.info.code == "fact_recorded_malformed"
    assert err.info.category is ErrorCategory.STORAGE
    assert err.info.details == {"seq": 4}
    assert appends == 0


def test_conflicting_fact_record_is_storage_corruption_naming_seq_and_key() -> None:
    payload_id = "2" * 64
    conflict = DomainEvent("fact_recorded", {"key": "k", "payload_id": payload_id, "meta": {}})
    err, appends = _refused_resume(_with(4, conflict))
    assert err.kind is RunErrorKind.STORAGE
    assert isinstance(err.__cause__, StorageError)
    assert err.__cause__.kind is StorageErrorKind.CORRUPTION
    assert err.info.code == "fact_recorded_conflict"
    assert err.info.category is ErrorCategory.STORAGE
    assert err.info.details == {"seq": 4, "key": "k"}
    assert payload_id not in err.info.message  # never payload contents
    assert appends == 0


# ------------------------------------------------------------------ ids validated when read


def _entered_with(state: str, base: str) -> Callable[[list[EventEnvelope]], list[EventEnvelope]]:
    return _with(2, StateEntered(state, 0, base))


def _started_with(op: str, manifest_id: str | None, snap: str | None) -> Any:
    def rewrite(stream: list[EventEnvelope]) -> list[EventEnvelope]:
        started = stream[0].event
        assert isinstance(started, RunStarted)
        event = RunStarted(
            op, manifest_id or started.manifest_id, snap or started.initial_snapshot_id
        )
        return _with(1, event)(stream)

    return rewrite


@pytest.mark.parametrize(
    ("rewrite", "code"),
    [
        (_entered_with("Not.A.State", "0" * 64), "invalid_state_id"),
        (_entered_with("only.two", "0" * 64), "invalid_state_id"),
        (_entered_with(S1, BAD_ID), "invalid_artifact_id"),
        (_with(4, StateCompleted(S1, "G" * 64)), "invalid_artifact_id"),
        (
            _with(4, StateFailed(S1, info("x", ErrorCategory.UNKNOWN, "x"), BAD_ID)),
            "invalid_artifact_id",
        ),
        (_with(4, DomainEvent("note", {}, BAD_ID)), "invalid_artifact_id"),
        (_started_with("Bad-Op", None, None), "invalid_op_id"),
        (_started_with(OP, BAD_ID, None), "invalid_artifact_id"),
        (_started_with(OP, None, "not-a-snapshot-id"), "invalid_artifact_id"),
    ],
    ids=[
        "state_id",
        "state_id_segments",
        "base_snapshot",
        "completed_snapshot",
        "failure_snapshot",
        "payload_ref",
        "op_id",
        "manifest_id",
        "initial_snapshot",
    ],
)
def test_resume_refuses_an_invalid_id_read_from_the_store(rewrite: Any, code: str) -> None:
    err, appends = _refused_resume(rewrite)
    assert err.kind is RunErrorKind.INVALID_PLAN
    assert err.info.code == code
    assert err.info.category is ErrorCategory.PARSING_INPUT
    assert err.info.details is None
    assert appends == 0


def test_invalid_fact_payload_id_is_a_malformed_record() -> None:
    record = DomainEvent("fact_recorded", {"key": "j", "payload_id": BAD_ID, "meta": {}})
    err, appends = _refused_resume(_with(4, record))
    assert err.info.code == "fact_recorded_malformed"
    assert err.info.details == {"seq": 4}
    assert appends == 0


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"type": "run_started", "op_id": "Op", "manifest_id": "0" * 64}, "invalid_op_id"),
        ({"type": "state_entered", "state_id": "a.b", "attempt": 0}, "invalid_state_id"),
        ({"type": "state_completed", "state_id": S1}, "invalid_artifact_id"),
        ({"type": "run_completed", "status": "completed"}, "invalid_artifact_id"),
    ],
)
def test_decoding_an_event_validates_its_ids(event: dict[str, Any], code: str) -> None:
    filled = {
        "op_id": OP,
        "manifest_id": BAD_ID,
        "initial_snapshot_id": "0" * 64,
        "base_snapshot_id": "0" * 64,
        "context_snapshot_id": BAD_ID,
        "final_snapshot_id": BAD_ID,
        **event,
    }
    with pytest.raises(RunError) as err:
        event_from_json(filled)
    assert err.value.kind is RunErrorKind.INVALID_PLAN
    assert err.value.info.code == code


def test_manifest_op_id_is_validated_when_decoded() -> None:
    good = manifest().to_json()
    assert RunManifest.from_json(good).op_id == OP
    with pytest.raises(RunError) as err:
        RunManifest.from_json({**good, "op_id": "Not An Op"})
    assert err.value.kind is RunErrorKind.INVALID_PLAN
    assert err.value.info.code == "invalid_op_id"


def _resume_over_manifest(data: bytes) -> tuple[RunError, str]:
    """Resume a run whose `RunStarted` names `data` as its manifest: the error and the manifest's
    id, once the resume is seen to have appended nothing."""

    async def main() -> tuple[RunError, str]:
        stores, events = _stores()
        mid = await stores.artifacts.put(ArtifactKind.MANIFEST, data)
        snap = await stores.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, b"{}")
        await events.append(RID, 0, [EventEnvelope(RID, 1, RunStarted(OP, mid, snap))])
        events.appends = 0
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, call_k))).resume(stores, RID)
        assert events.appends == 0 and await events.head_seq(RID) == 1
        return err.value, mid

    return run(main())


def test_resume_refuses_a_stored_manifest_with_an_invalid_op_id() -> None:
    err, _ = _resume_over_manifest(
        canonical_json_bytes({**manifest().to_json(), "op_id": "Bad-Op"})
    )
    assert err.kind is RunErrorKind.INVALID_PLAN
    assert err.info.code == "invalid_op_id"


# ------------------------------------------------------------------ JSON artifacts re-validated

# Bytes that hash to their own id (so the content-address check passes) but that this engine
# never writes: each is a different read-back refusal.
BAD_JSON = [
    (canonical_json_bytes({"a": 1}) + b" ", "artifact_not_canonical"),
    (b'{"b":1,"a":2}', "artifact_not_canonical"),
    (b'{"a": 1}', "artifact_not_canonical"),
    (b'{"a":"\\u0041"}', "artifact_not_canonical"),
    (b'{"a":1.5}', "artifact_float_not_allowed"),
    (b'{"a":1e3}', "artifact_float_not_allowed"),
    (b'{"a":', "artifact_json_decode_failed"),
    (b"\xff{}", "artifact_json_decode_failed"),
    (b'{"password":"x"}', "secrets_detected"),
    (b'{"note":"my api_key is here"}', "secrets_detected"),
]


def _assert_corruption(err: Any, code: str, artifact_id: str) -> None:
    assert isinstance(err, StorageError)
    assert err.kind is StorageErrorKind.CORRUPTION
    assert err.info.code == code
    assert err.info.category is ErrorCategory.STORAGE
    assert err.info.details == {"artifact_id": artifact_id}


@pytest.mark.parametrize(("data", "code"), BAD_JSON)
def test_resume_revalidates_the_manifest(data: bytes, code: str) -> None:
    err, mid = _resume_over_manifest(data)
    assert err.kind is RunErrorKind.STORAGE
    assert err.info.code == code
    _assert_corruption(err.__cause__, code, mid)


@pytest.mark.parametrize(("data", "code"), BAD_JSON)
def test_snapshots_are_revalidated_on_read(data: bytes, code: str) -> None:
    async def main() -> None:
        stores, events = _stores()
        snap = await stores.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, data)
        with pytest.raises(StorageError) as err:
            await read_snapshot(stores.artifacts, snap)
        _assert_corruption(err.value, code, snap)
        assert events.appends == 0

    run(main())


@pytest.mark.parametrize(("data", "code"), BAD_JSON[:3])
def test_a_bad_base_snapshot_ends_the_attempt_with_no_terminal_event(
    data: bytes, code: str
) -> None:
    """Through the engine: an attempt is entered before its base is loaded (ENGINE.md "One
    attempt"), so `StateEntered` is the one event written; no terminal event follows it."""

    async def main() -> None:
        stores, events = _stores()
        mid = await store_manifest(stores, manifest())
        snap = await stores.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, data)
        await events.append(RID, 0, [EventEnvelope(RID, 1, RunStarted(OP, mid, snap))])
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, call_k))).resume(stores, RID)
        assert err.value.kind is RunErrorKind.STORAGE
        _assert_corruption(err.value.__cause__, code, snap)
        assert [e.event for e in await read_stream(stores, RID)][1:] == [StateEntered(S1, 0, snap)]

    run(main())


@pytest.mark.parametrize(("data", "code"), BAD_JSON)
@pytest.mark.parametrize("mode", ["live", "replay"])
def test_fact_payloads_are_revalidated_on_read(data: bytes, code: str, mode: str) -> None:
    async def main() -> None:
        stores, events = _stores()
        pid = await stores.artifacts.put(ArtifactKind.FACT_PAYLOAD, data)
        facts = FactIndex({"k": pid})
        transport = CountingTransport(lambda call: {"never": "called"})
        io = _io(stores, facts, mode, transport)
        with pytest.raises(StorageError) as err:
            await io.call(IoCall("g", {}, "k"))
        _assert_corruption(err.value, code, pid)
        assert events.appends == 0 and transport.calls == []

    run(main())


def test_canonical_artifacts_pass_the_read_back_checks() -> None:
    async def main() -> None:
        stores, _ = _stores()
        value = {"b": [1, "é", {"z": None, "a": True}], "a": -3}
        snap = await stores.artifacts.put(
            ArtifactKind.CONTEXT_SNAPSHOT, canonical_json_bytes(value)
        )
        assert await read_snapshot(stores.artifacts, snap) == value
        assert await read_snapshot(stores.artifacts, snap) == value  # and again, remembered

    run(main())


# ------------------------------------------------------------------ start reads its manifest back


def test_start_refuses_a_stored_manifest_that_does_not_hash_to_its_id() -> None:
    async def main() -> None:
        artifacts, events = SwappingArtifactStore(), RewritingEventStore()
        stores = Stores(artifacts, events)
        m = manifest()
        mid = artifact_id_for_bytes(canonical_json_bytes(m.to_json()))
        artifacts.swaps[mid] = canonical_json_bytes(m.to_json()) + b" "
        with pytest.raises(RunError) as err:
            await start(stores, plan((S1, call_k)))
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "manifest_artifact_mismatch"
        assert err.value.info.category is ErrorCategory.STORAGE
        assert err.value.info.details is None
        assert isinstance(err.value.__cause__, StorageError)
        assert err.value.__cause__.kind is StorageErrorKind.CORRUPTION
        # Before anything was written: no event, no initial snapshot.
        assert events.appends == 0 and events.streams == {}
        assert list(artifacts.kinds.values()) == [ArtifactKind.MANIFEST]

    run(main())


def test_start_refuses_a_manifest_the_store_does_not_hold() -> None:
    async def main() -> None:
        stores, events = _stores()
        m = manifest()
        mid = artifact_id_for_bytes(canonical_json_bytes(m.to_json()))
        p = plan((S1, call_k))
        with pytest.raises(RunError) as err:
            await make_engine(p).start(stores, StartRun(m, mid, p, BASE_CONFIG, JsonContext()))
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "manifest_not_found"
        assert isinstance(err.value.__cause__, StorageError)
        assert err.value.__cause__.kind is StorageErrorKind.NOT_FOUND
        assert events.appends == 0 and events.streams == {}

    run(main())


# ------------------------------------------------------------------ recorded time and randomness


def _io(stores: Stores, facts: FactIndex, mode: str, transport: Any = None) -> Any:
    if mode == "replay":
        return ReplayIo(stores, facts, RID, S1, 0, config(io_mode=IoMode.REPLAY))
    writer = EventWriter(stores.events, RID, 0, FixedClock(1))
    return LiveIo(stores, facts, RID, S1, 0, transport, writer, FixedClock(1), FixedEntropy(0xAB))


def _recorded(kind: str, payload: Any) -> tuple[Stores, RewritingEventStore, FactIndex]:
    stores, events = _stores()
    pid = run(stores.artifacts.put(ArtifactKind.FACT_PAYLOAD, canonical_json_bytes(payload)))
    return stores, events, FactIndex({derived_fact_key(kind, RID, S1, 0, 0): pid})


def _assert_payload_invalid(err: Any) -> None:
    assert isinstance(err, IoError)
    assert err.kind is IoErrorKind.OTHER
    assert err.info.code == "fact_payload_invalid"
    assert err.info.category is ErrorCategory.PARSING_INPUT
    assert err.info.retryable is False


@pytest.mark.parametrize("mode", ["live", "replay"])
@pytest.mark.parametrize(
    "payload",
    [{"hex": "abcd"}, {"hex": "ab" * 9}, {"hex": ""}, {"hex": "zz" * 8}, {"hex": 7}, {}, [1]],
    ids=["short", "long", "empty", "not_hex", "not_str", "no_hex", "not_object"],
)
def test_replayed_random_bytes_of_the_wrong_length_are_invalid(mode: str, payload: Any) -> None:
    stores, events, facts = _recorded("random_bytes", payload)
    io = _io(stores, facts, mode)
    with pytest.raises(IoError) as err:
        run(io.random_bytes(8))
    _assert_payload_invalid(err.value)
    assert "random" in err.value.info.message
    assert events.appends == 0


@pytest.mark.parametrize("mode", ["live", "replay"])
def test_replayed_random_bytes_of_the_right_length_are_served(mode: str) -> None:
    stores, events, facts = _recorded("random_bytes", {"hex": "0102030405060708"})
    assert run(_io(stores, facts, mode).random_bytes(8)) == bytes(range(1, 9))
    assert events.appends == 0


@pytest.mark.parametrize("mode", ["live", "replay"])
@pytest.mark.parametrize("payload", [{"now_millis": "5"}, {"now_millis": True}, {}, "x"])
def test_replayed_now_millis_that_is_no_time_is_invalid(mode: str, payload: Any) -> None:
    stores, events, facts = _recorded("now_millis", payload)
    with pytest.raises(IoError) as err:
        run(_io(stores, facts, mode).now_millis())
    _assert_payload_invalid(err.value)
    assert events.appends == 0


# ------------------------------------------------------------------ the original's codes


def test_no_transport_is_io_unimplemented() -> None:
    with pytest.raises(IoError) as err:
        run(UnimplementedTransport().call(IoCall("g", {})))
    assert err.value.kind is IoErrorKind.OTHER
    assert err.value.info.code == "io_unimplemented"

    async def main() -> None:
        stores = new_stores()
        result = await start(stores, plan((S1, call_k)))
        [failed] = failures(await read_stream(stores, result.run_id))
        assert failed.error.code == "io_unimplemented"

    run(main())
