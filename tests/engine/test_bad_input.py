"""Bad input gives typed errors with codes (RunError, StorageError, ContextError), never bare."""

from __future__ import annotations

import json
import uuid
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine import (
    ArtifactKind,
    ContextError,
    DomainEvent,
    EventEnvelope,
    JsonContext,
    PlanValidationError,
    RunError,
    RunErrorKind,
    RunPhase,
    RunStarted,
    StartRun,
    StateEntered,
    StorageError,
)
from mfm_engine.context import read_snapshot
from mfm_engine.errors import ContextErrorKind, ErrorCategory, StorageErrorKind
from mfm_engine.events import envelope_from_json_line, envelope_to_json_line, event_from_json
from mfm_engine.hashing import canonical_json_bytes
from mfm_engine.ids import artifact_id, child_run_id, op_id, run_id, state_id
from mfm_engine.plan import PlanErrorKind, topological_order

from tests.engine.helpers import (
    BASE_CONFIG,
    OP,
    S1,
    S2,
    S3,
    config,
    failpoint,
    make_engine,
    manifest,
    new_stores,
    noop,
    plan,
    read_stream,
    run,
    start,
    store_manifest,
)

RUN_S = "00000000-0000-4000-8000-00000000b00b"

# ------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    "value", ["", "Op", "1op", "op-x", "op.x", "a" * 64, " op", "op\n", None, 5]
)
def test_invalid_op_ids(value: Any) -> None:
    with pytest.raises(RunError) as err:
        op_id(value)
    assert err.value.kind is RunErrorKind.INVALID_PLAN
    assert err.value.info.code == "invalid_op_id"


@pytest.mark.parametrize("value", ["op", "a" + "b" * 62])
def test_valid_op_ids(value: str) -> None:
    assert op_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["op", "op.step", "op.step.local.x", "Op.step.local", "op..local", "op.step.local\n", "", None],
)
def test_invalid_state_ids(value: Any) -> None:
    with pytest.raises(RunError) as err:
        state_id(value)
    assert err.value.info.code == "invalid_state_id"


def test_valid_state_id() -> None:
    assert state_id("machine.step.local") == "machine.step.local"


@pytest.mark.parametrize(
    "value", ["", "A" * 64, "a" * 63, "a" * 65, "sha256:" + "a" * 64, "g" * 64, None]
)
def test_invalid_artifact_ids(value: Any) -> None:
    with pytest.raises(RunError) as err:
        artifact_id(value)
    assert err.value.info.code == "invalid_artifact_id"


@pytest.mark.parametrize("value", ["", "nope", "1234", None, 5, b"x" * 16])
def test_invalid_run_ids(value: Any) -> None:
    with pytest.raises(RunError) as err:
        run_id(value)
    assert err.value.info.code == "invalid_run_id"


def test_run_ids_parse_and_children_are_pure() -> None:
    rid = uuid.uuid4()
    assert run_id(str(rid)) == rid and run_id(rid) == rid
    assert child_run_id(rid, "k") == child_run_id(rid, "k") == uuid.uuid5(rid, "k")


# ------------------------------------------------------------------ plans


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: plan(), PlanErrorKind.EMPTY_PLAN),
        (lambda: plan((S1, noop), (S1, noop)), PlanErrorKind.DUPLICATE_STATE_ID),
        (lambda: plan((S1, noop), edges=[(S1, S2)]), PlanErrorKind.MISSING_STATE_FOR_EDGE),
        (lambda: plan((S1, noop), edges=[(S3, S1)]), PlanErrorKind.MISSING_STATE_FOR_EDGE),
        (
            lambda: plan((S1, noop), (S2, noop), edges=[(S1, S2), (S2, S1)]),
            PlanErrorKind.CIRCULAR_DEPENDENCY,
        ),
        (lambda: plan((S1, noop), edges=[(S1, S1)]), PlanErrorKind.CIRCULAR_DEPENDENCY),
        (lambda: plan(("not_a_state", noop)), PlanErrorKind.INVALID_STATE_ID),
        (lambda: plan((S1, noop), op_id="Bad Op"), PlanErrorKind.INVALID_OP_ID),
    ],
    ids=[
        "empty",
        "duplicate",
        "dangling_to",
        "dangling_from",
        "cycle",
        "self_loop",
        "bad_state",
        "bad_op",
    ],
)
def test_invalid_plans(make: Any, kind: PlanErrorKind) -> None:
    p = make()
    with pytest.raises(PlanValidationError) as perr:
        topological_order(p)
    assert perr.value.kind is kind
    assert perr.value.code == kind.value

    async def main() -> None:
        stores = new_stores()
        m = manifest(BASE_CONFIG, p.op_id)
        mid = await store_manifest(stores, m)
        with pytest.raises(RunError) as err:
            await make_engine(p).start(stores, StartRun(m, mid, p, BASE_CONFIG, JsonContext({})))
        assert err.value.kind is RunErrorKind.INVALID_PLAN
        if kind is not PlanErrorKind.INVALID_OP_ID:  # the manifest check may speak first
            assert err.value.info.code == "invalid_plan"
            assert err.value.info.message == "execution plan failed validation"
            assert err.value.info.details is None
            # The fixed refusal chains the reason: the validation error, its kind.
            cause = err.value.__cause__
            assert isinstance(cause, PlanValidationError) and cause.kind is kind
        assert stores.events.streams == {}  # type: ignore[attr-defined]

    run(main())


def test_kahn_order_is_plan_order_among_ready_states() -> None:
    p = plan((S3, noop), (S2, noop), (S1, noop), edges=[(S2, S1)])
    assert [n.id for n in topological_order(p)] == [S3, S2, S1]


# ------------------------------------------------------------------ the start contract


def test_start_contract_refusals() -> None:
    async def main() -> None:
        stores = new_stores()
        p = plan((S1, noop))
        m = manifest()
        mid = await store_manifest(stores, m)
        eng = make_engine(p)
        cases = [
            (StartRun(m, "0" * 64, p, BASE_CONFIG, JsonContext()), "manifest_id_mismatch"),
            (
                StartRun(m, mid, plan((S1, noop), op_id="other"), BASE_CONFIG, JsonContext()),
                "manifest_op_id_mismatch",
            ),
            (StartRun(m, mid, p, config(skip_tags=("x",)), JsonContext()), "run_config_mismatch"),
            (
                StartRun(manifest(input_params={"f": 1.5}), mid, p, BASE_CONFIG, JsonContext()),
                "manifest_not_canonical",
            ),
            (
                StartRun(
                    manifest(input_params={"api_key": "k"}), mid, p, BASE_CONFIG, JsonContext()
                ),
                "secrets_detected",
            ),
            (
                StartRun(
                    manifest(input_params={"o": object()}), mid, p, BASE_CONFIG, JsonContext()
                ),
                "manifest_not_canonical",
            ),
        ]
        for start_run, code in cases:
            with pytest.raises(RunError) as err:
                await eng.start(stores, start_run)
            assert err.value.kind is RunErrorKind.INVALID_PLAN, code
            assert err.value.info.code == code
        # A manifest that was never stored.
        other = manifest(input_params={"n": 2})
        from mfm_engine.hashing import artifact_id_for_json

        with pytest.raises(RunError) as err:
            await eng.start(
                stores,
                StartRun(
                    other, artifact_id_for_json(other.to_json()), p, BASE_CONFIG, JsonContext()
                ),
            )
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "manifest_not_found"
        assert stores.events.streams == {}  # type: ignore[attr-defined]

    run(main())


# ------------------------------------------------------------------ snapshots


@pytest.mark.parametrize("initial", [[1, 2], "text", 5, None])
def test_initial_snapshot_that_is_not_an_object(initial: Any) -> None:
    async def main() -> None:
        stores = new_stores()
        m = manifest()
        mid = await store_manifest(stores, m)
        p = plan((S1, noop))
        with pytest.raises(RunError) as err:
            await make_engine(p).start(stores, StartRun(m, mid, p, BASE_CONFIG, initial))
        assert err.value.kind is RunErrorKind.CONTEXT
        assert err.value.info.code == "snapshot_not_object"
        assert stores.events.streams == {}  # type: ignore[attr-defined]

    run(main())


def test_json_context_refuses_non_objects() -> None:
    with pytest.raises(ContextError) as err:
        JsonContext([1])  # type: ignore[arg-type]
    assert err.value.kind is ContextErrorKind.SERIALIZATION
    assert err.value.info.code == "snapshot_not_object"


@pytest.mark.parametrize(
    ("data", "error", "kind", "code"),
    [
        (b"[1,2]", ContextError, RunErrorKind.CONTEXT, "snapshot_not_object"),
        (b'"x"', ContextError, RunErrorKind.CONTEXT, "snapshot_not_object"),
        (b"null", ContextError, RunErrorKind.CONTEXT, "snapshot_not_object"),
        (b"{not json", StorageError, RunErrorKind.STORAGE, "artifact_json_decode_failed"),
        (b"\xff\xfe", StorageError, RunErrorKind.STORAGE, "artifact_json_decode_failed"),
    ],
)
def test_stored_snapshot_that_is_not_an_object(
    data: bytes, error: type[Exception], kind: RunErrorKind, code: str
) -> None:
    async def main() -> None:
        stores = new_stores()
        snap = await stores.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, data)
        with pytest.raises(error) as err:
            await read_snapshot(stores.artifacts, snap)
        assert err.value.info.code == code  # type: ignore[attr-defined]
        # And through resume of a run whose RunStarted names it.
        mid = await store_manifest(stores, manifest())
        rid = uuid.uuid4()
        await stores.events.append(rid, 0, [EventEnvelope(rid, 1, RunStarted(OP, mid, snap))])
        with pytest.raises(RunError) as rerr:
            await make_engine(plan((S1, noop))).resume(stores, rid)
        assert rerr.value.kind is kind
        assert rerr.value.info.code == code

    run(main())


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1.5, "snapshot_not_canonical"),
        ({"password": "x"}, "secrets_detected"),
        (object(), "snapshot_not_canonical"),
    ],
)
def test_handler_writing_an_unpersistable_context_is_an_engine_error(value: Any, code: str) -> None:
    async def write(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write("v", value)

    async def main() -> None:
        stores = new_stores()
        with pytest.raises(RunError) as err:
            await start(stores, plan((S1, write)))
        assert err.value.kind is RunErrorKind.CONTEXT
        assert err.value.info.code == code
        [rid] = stores.events.run_ids()  # type: ignore[attr-defined]
        stream = await read_stream(stores, rid)
        # No terminal event is written for an engine error: the attempt stays open.
        assert isinstance(stream[-1].event, StateEntered)

    run(main())


# ------------------------------------------------------------------ events


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not json",
        "[]",
        "{}",
        '{"run_id": "x", "seq": 1, "event": {"type": "run_started"}}',
        json.dumps({"run_id": RUN_S, "seq": 1, "event": {"type": "nope"}}),
        json.dumps({"run_id": RUN_S, "seq": "one", "event": {"type": "domain", "name": "n"}}),
        json.dumps({"run_id": RUN_S, "seq": 1, "event": {"type": "run_started"}}),
        json.dumps(
            {
                "run_id": RUN_S,
                "seq": 1,
                "event": {"type": "run_completed", "status": "exploded"},
            }
        ),
        json.dumps(
            {
                "run_id": RUN_S,
                "seq": 1,
                "event": {"type": "state_failed", "state_id": S1, "error": {"code": "x"}},
            }
        ),
        json.dumps(
            {
                "run_id": RUN_S,
                "seq": 1,
                "event": {
                    "type": "state_entered",
                    "state_id": S1,
                    "attempt": None,
                    "base_snapshot_id": "a",
                },
            }
        ),
        '{"run_id": 5, "seq": 1, "event": {"type": "domain", "name": "n"}}',
        '{"run_id": "' + RUN_S + '", "seq": 1e999, "event": {"type": "domain", "name": "n"}}',
        '{"run_id": "' + RUN_S + '", "seq": 1, "event": "domain"}',
    ],
)
def test_malformed_event_json(line: str) -> None:
    with pytest.raises(RunError) as err:
        envelope_from_json_line(line)
    assert err.value.info.code == "event_malformed"
    assert err.value.info.category is ErrorCategory.PARSING_INPUT


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=5)
        | st.sampled_from(["run_started", "state_entered", "state_failed", "domain", "completed"]),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "run_id",
                        "seq",
                        "event",
                        "type",
                        "name",
                        "state_id",
                        "attempt",
                        "status",
                        "error",
                        "code",
                        "category",
                        "retryable",
                        "message",
                        "op_id",
                        "payload",
                    ]
                ),
                inner,
                max_size=6,
            )
        ),
        max_leaves=12,
    )
)
def test_arbitrary_event_json_gives_an_envelope_or_event_malformed(value: Any) -> None:
    try:
        env = EventEnvelope.from_json(value)
    except RunError as err:
        assert err.info.code == "event_malformed"
        return
    assert isinstance(env, EventEnvelope)


def test_event_json_round_trips() -> None:
    rid = uuid.uuid4()
    env = EventEnvelope(
        rid, 3, DomainEvent("fact_recorded", {"key": "k", "payload_id": "a" * 64, "meta": {}}), 9
    )
    assert envelope_from_json_line(envelope_to_json_line(env)) == env
    with pytest.raises(RunError):
        event_from_json({"type": "mystery"})


def test_resume_over_broken_attempt_envelopes() -> None:
    async def main() -> None:
        stores = new_stores()
        first = await start(stores, plan((S1, noop)), failpoints=failpoint())
        head = await stores.events.head_seq(first.run_id)
        base = (await read_stream(stores, first.run_id))[0].event.initial_snapshot_id
        await stores.events.append(
            first.run_id, head, [EventEnvelope(first.run_id, head + 1, StateEntered(S1, 1, base))]
        )
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, noop))).resume(stores, first.run_id)
        assert err.value.kind is RunErrorKind.INVALID_PLAN
        assert err.value.info.code == "invalid_attempt_envelopes"

    run(main())


def test_resume_over_a_stream_of_another_run() -> None:
    async def main() -> None:
        stores = new_stores()
        first = await start(stores, plan((S1, noop)), failpoints=failpoint())
        stream = await read_stream(stores, first.run_id)
        other = uuid.uuid4()
        stores.events.streams[other] = stream  # type: ignore[attr-defined]
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, noop))).resume(stores, other)
        assert err.value.info.code == "run_id_mismatch"

    run(main())


# ------------------------------------------------------------------ artifacts and manifests


def test_unknown_artifact_is_not_found() -> None:
    async def main() -> None:
        stores = new_stores()
        with pytest.raises(StorageError) as err:
            await stores.artifacts.get("a" * 64)
        assert err.value.kind is StorageErrorKind.NOT_FOUND
        assert err.value.info.code == "artifact_not_found"
        assert err.value.info.category is ErrorCategory.STORAGE

    run(main())


async def _forged_run(stores: Any, manifest_id: str) -> uuid.UUID:
    snap = await stores.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, b"{}")
    rid = uuid.uuid4()
    await stores.events.append(rid, 0, [EventEnvelope(rid, 1, RunStarted(OP, manifest_id, snap))])
    return rid


def test_resume_with_unknown_manifest_or_snapshot() -> None:
    async def main() -> None:
        stores = new_stores()
        rid = await _forged_run(stores, "b" * 64)
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, noop))).resume(stores, rid)
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "artifact_not_found"

        mid = await store_manifest(stores, manifest())
        rid2 = uuid.uuid4()
        await stores.events.append(rid2, 0, [EventEnvelope(rid2, 1, RunStarted(OP, mid, "c" * 64))])
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, noop))).resume(stores, rid2)
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "artifact_not_found"

    run(main())


@pytest.mark.parametrize(
    ("manifest_bytes", "kind", "code"),
    [
        (b"not json", RunErrorKind.STORAGE, "artifact_json_decode_failed"),
        (b"[]", RunErrorKind.CONTEXT, "manifest_deserialize_failed"),
        (b"{}", RunErrorKind.CONTEXT, "manifest_deserialize_failed"),
        (
            b'{"input_params":{},"op_id":"op","op_version":"1","run_config":5}',
            RunErrorKind.CONTEXT,
            "manifest_deserialize_failed",
        ),
        (
            b'{"input_params":{},"op_id":"op","op_version":"1","run_config":{"io_mode":"weird"}}',
            RunErrorKind.CONTEXT,
            "manifest_deserialize_failed",
        ),
    ],
)
def test_resume_with_undecodable_manifest(
    manifest_bytes: bytes, kind: RunErrorKind, code: str
) -> None:
    """Bytes that are not JSON are corruption; JSON that is not a manifest cannot deserialize."""

    async def main() -> None:
        stores = new_stores()
        mid = await stores.artifacts.put(ArtifactKind.MANIFEST, manifest_bytes)
        rid = await _forged_run(stores, mid)
        head = await stores.events.head_seq(rid)
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, noop))).resume(stores, rid)
        assert err.value.kind is kind
        assert err.value.info.code == code
        assert await stores.events.head_seq(rid) == head

    run(main())


def test_resume_with_a_str_run_id_is_not_found() -> None:
    async def main() -> None:
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, noop))).resume(new_stores(), "not-a-run")  # type: ignore[arg-type]
        assert err.value.info.code == "run_not_found"

    run(main())


def test_manifest_round_trips_canonically() -> None:
    m = manifest(config(skip_tags=("a", "b")), input_params={"z": [1, {"y": None}]})
    data = canonical_json_bytes(m.to_json())
    assert type(m).from_json(json.loads(data)) == m
    assert attrs.evolve(m, op_version="2") != m


def test_replay_without_fact_is_a_failed_run_not_an_exception() -> None:
    # A replay-mode run without its fact ends FAILED (a typed outcome, not an exception).
    async def main() -> None:
        from mfm_engine import IoCall, IoMode

        async def call(ctx: Any, io: Any, ev: Any) -> None:
            await io.call(IoCall("g", {}, "k"))

        stores = new_stores()
        cfg = config(io_mode=IoMode.REPLAY)
        mid = await store_manifest(stores, manifest(cfg))
        rid = await _forged_run(stores, mid)
        result = await make_engine(plan((S1, call))).resume(stores, rid)
        assert result.phase is RunPhase.FAILED

    run(main())
