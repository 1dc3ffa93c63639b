"""Live IO and replay: the router, the fact index, single assignment, recording and replay."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from mfm_engine import (
    ArtifactKind,
    DomainEvent,
    EventEnvelope,
    InMemoryEventStore,
    IoCall,
    IoError,
    IoMode,
    NamespaceRouter,
    RouterTransportFactory,
    RunError,
    RunErrorKind,
    RunPhase,
    Stores,
)
from mfm_engine.errors import ErrorCategory, IoErrorKind, StorageError, StorageErrorKind, storage
from mfm_engine.hashing import artifact_id_for_bytes, canonical_json_bytes
from mfm_engine.live_io import FactIndex, LiveIo, LiveIoEnv, derived_fact_key
from mfm_engine.replay_io import ReplayIo
from mfm_engine.runtime.writer import EventWriter

from tests.engine.helpers import (
    S1,
    CountingFactory,
    CountingTransport,
    FixedClock,
    FixedEntropy,
    call_k,
    config,
    facts,
    failures,
    make_engine,
    new_stores,
    plan,
    read_stream,
    run,
    snapshot,
    start,
)

RID = uuid.UUID("00000000-0000-4000-8000-0000000000cc")
PID1, PID2 = "1" * 64, "2" * 64


def _named(name: str) -> CountingTransport:
    return CountingTransport(lambda call: name)


# ------------------------------------------------------------------ router


async def _route(routes: dict[str, Any], namespace: str) -> Any:
    return await NamespaceRouter(routes).call(IoCall(namespace, {}))


def test_router_bare_prefix_matches_itself_and_children_only() -> None:
    routes = {"g": _named("g")}
    assert run(_route(routes, "g")) == "g"
    assert run(_route(routes, "g.x")) == "g"
    assert run(_route(routes, "g.x.y")) == "g"
    for ns in ("gx", "h", "", "x.g"):
        with pytest.raises(IoError) as err:
            run(_route(routes, ns))
        assert err.value.info.code == "io_unknown_namespace"


def test_router_star_prefix_matches_children_only() -> None:
    routes = {"g.*": _named("g.*")}
    assert run(_route(routes, "g.x")) == "g.*"
    assert run(_route(routes, "g.x.y")) == "g.*"
    for ns in ("g", "gx", "g."[:1]):
        with pytest.raises(IoError) as err:
            run(_route(routes, ns))
        assert err.value.info.code == "io_unknown_namespace"


def test_router_longest_prefix_wins() -> None:
    routes = {
        "g": _named("g"),
        "g.x": _named("g.x"),
        "g.x.y.*": _named("g.x.y.*"),
        "h.*": _named("h.*"),
    }
    assert run(_route(routes, "g")) == "g"
    assert run(_route(routes, "g.z")) == "g"
    assert run(_route(routes, "g.x")) == "g.x"
    assert run(_route(routes, "g.x.q")) == "g.x"
    assert run(_route(routes, "g.x.y")) == "g.x"
    assert run(_route(routes, "g.x.y.z")) == "g.x.y.*"
    assert run(_route(routes, "h.a")) == "h.*"
    # Registration order does not matter.
    reversed_routes = dict(reversed(list(routes.items())))
    assert run(_route(reversed_routes, "g.x.y.z")) == "g.x.y.*"
    assert run(_route(reversed_routes, "g.x.q")) == "g.x"


def test_router_unknown_namespace_error_is_typed() -> None:
    with pytest.raises(IoError) as err:
        run(_route({}, "anything"))
    assert err.value.kind is IoErrorKind.OTHER
    assert err.value.info.code == "io_unknown_namespace"


def test_router_factory_routes_through_the_engine() -> None:
    a, b = CountingFactory(lambda c: "a"), CountingFactory(lambda c: "b")

    async def h(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write(
            "r", [await io.call(IoCall("chain.rpc", {}, "k1")), await io.call(IoCall("chain", {}))]
        )
        ctx.write("s", await io.call(IoCall("store.get", {}, "k2")))

    async def main() -> None:
        stores = new_stores()
        factory = RouterTransportFactory({"chain": a, "store.*": b})
        result = await start(stores, plan((S1, h)), live_transport_factory=factory)
        assert result.phase is RunPhase.COMPLETED
        assert await snapshot(stores, result.final_snapshot_id) == {"r": ["a", "a"], "s": "b"}
        assert [c.namespace for c in a.calls] == ["chain.rpc", "chain"]
        assert [c.namespace for c in b.calls] == ["store.get"]

    run(main())


# ------------------------------------------------------------------ FactIndex


def _fact_env(seq: int, payload: Any, name: str = "fact_recorded") -> EventEnvelope:
    return EventEnvelope(RID, seq, DomainEvent(name, payload))


def test_fact_index_from_stream_keeps_first_binding() -> None:
    stream = [
        _fact_env(1, {"key": "a", "payload_id": PID1, "meta": {}}),
        _fact_env(2, {"key": "b", "payload_id": PID2, "meta": {}}),
        _fact_env(3, {"key": "a", "payload_id": PID1, "meta": {}}),  # a repeat of the same binding
        _fact_env(4, {"anything": 1}, name="op_boundary"),  # other domain events are ignored
    ]
    index = FactIndex.from_event_stream(stream)
    assert index.get("a") == PID1 and index.get("b") == PID2
    assert sorted(index.keys()) == ["a", "b"] and len(index) == 2
    assert index.get("c") is None


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "k",
        {"key": "k"},
        {"payload_id": PID1},
        {"key": 1, "payload_id": PID1},
        {"key": "k", "payload_id": None},
        {"key": "k", "payload_id": "not-an-artifact-id"},
    ],
)
def test_fact_index_refuses_malformed_records(payload: Any) -> None:
    """The original's kind: a malformed record read back is storage corruption, at its seq."""
    with pytest.raises(StorageError) as err:
        FactIndex.from_event_stream(
            [_fact_env(1, {"key": "a", "payload_id": PID1, "meta": {}}), _fact_env(2, payload)]
        )
    assert err.value.kind is StorageErrorKind.CORRUPTION
    assert err.value.info.category is ErrorCategory.STORAGE
    assert err.value.info.code == "fact_recorded_malformed"
    assert err.value.info.details == {"seq": 2}


def test_fact_index_refuses_conflicting_records() -> None:
    stream = [
        _fact_env(1, {"key": "a", "payload_id": PID1, "meta": {}}),
        _fact_env(2, {"key": "a", "payload_id": PID2, "meta": {}}),
    ]
    with pytest.raises(StorageError) as err:
        FactIndex.from_event_stream(stream)
    assert err.value.kind is StorageErrorKind.CORRUPTION
    assert err.value.info.category is ErrorCategory.STORAGE
    assert err.value.info.code == "fact_recorded_conflict"
    # The seq and the key, never the payloads.
    assert err.value.info.details == {"seq": 2, "key": "a"}
    assert PID1 not in str(err.value.info.to_json()) and PID2 not in str(err.value.info.to_json())


def test_resume_over_conflicting_fact_records_is_refused() -> None:
    async def main() -> None:
        stores = new_stores()
        first = await start(
            stores, plan((S1, call_k)), live_transport_factory=CountingFactory(), failpoints=_fp()
        )
        head = await stores.events.head_seq(first.run_id)
        bad = DomainEvent("fact_recorded", {"key": "k", "payload_id": PID2, "meta": {}})
        await stores.events.append(first.run_id, head, [EventEnvelope(first.run_id, head + 1, bad)])
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, call_k))).resume(stores, first.run_id)
        assert err.value.info.code == "fact_recorded_conflict"

    run(main())


def _fp() -> Any:
    from mfm_engine import EngineFailpoints

    return EngineFailpoints(True)


def test_single_assignment_and_payload_conflict() -> None:
    index = FactIndex()
    assert index.bind("k", PID1) is True
    assert index.bind("k", PID1) is False
    with pytest.raises(IoError) as err:
        index.bind("k", PID2)
    assert err.value.info.code == "fact_payload_conflict"
    assert index.get("k") == PID1
    index.unbind("k")
    assert index.get("k") is None


# ------------------------------------------------------------------ LiveIo directly


class FailingEventStore(InMemoryEventStore):
    async def append(self, run_id: uuid.UUID, expected_seq: int, envelopes: Any) -> int:
        raise storage(StorageErrorKind.OTHER, "disk_full", "event store is down")


def _live(stores: Stores, index: FactIndex, transport: Any, attempt: int = 0) -> LiveIo:
    writer = EventWriter(stores.events, RID, 0, FixedClock(5))
    return LiveIo(
        stores, index, RID, S1, attempt, transport, writer, FixedClock(77), FixedEntropy(1)
    )


def test_live_call_records_once_and_then_answers_from_the_record() -> None:
    async def main() -> None:
        stores = new_stores()
        index = FactIndex()
        transport = CountingTransport(lambda c: {"n": len(transport.calls)})
        io = _live(stores, index, transport)
        assert await io.call(IoCall("g", {"q": 1}, "k")) == {"n": 1}
        assert await io.call(IoCall("g", {"q": 1}, "k")) == {"n": 1}
        assert len(transport.calls) == 1
        payload_id = index.get("k")
        assert payload_id == artifact_id_for_bytes(b'{"n":1}')
        assert stores.artifacts.kinds[payload_id] is ArtifactKind.FACT_PAYLOAD  # type: ignore[attr-defined]
        stream = await read_stream(stores, RID)
        assert facts(stream) == [{"key": "k", "payload_id": payload_id, "meta": {}}]
        # Without a key: the transport alone, nothing recorded.
        assert await io.call(IoCall("g", {})) == {"n": 2}
        assert await io.call(IoCall("g", {})) == {"n": 3}
        assert len(await read_stream(stores, RID)) == 1

    run(main())


def test_concurrent_calls_with_different_payloads_conflict() -> None:
    async def main() -> None:
        stores = new_stores()
        index = FactIndex()
        answers = iter([{"v": 1}, {"v": 2}])

        class Slow:
            async def call(self, call: IoCall) -> Any:
                value = next(answers)
                await asyncio.sleep(0.001 * value["v"])
                return value

        io = _live(stores, index, Slow())
        results = await asyncio.gather(
            io.call(IoCall("g", {}, "k")), io.call(IoCall("g", {}, "k")), return_exceptions=True
        )
        assert results[0] == {"v": 1}
        assert isinstance(results[1], IoError)
        assert results[1].info.code == "fact_payload_conflict"
        assert index.get("k") == artifact_id_for_bytes(b'{"v":1}')
        assert [f["payload_id"] for f in facts(await read_stream(stores, RID))] == [index.get("k")]

    run(main())


def test_failed_recording_rolls_the_binding_back() -> None:
    async def main() -> None:
        stores = Stores(new_stores().artifacts, FailingEventStore())
        index = FactIndex()
        transport = CountingTransport(lambda c: {"v": 1})
        io = _live(stores, index, transport)
        with pytest.raises(StorageError) as err:
            await io.call(IoCall("g", {}, "k"))
        assert err.value.info.code == "disk_full"
        assert index.get("k") is None
        with pytest.raises(StorageError):
            await io.now_millis()
        assert len(index) == 0

    run(main())


def test_failed_recording_keeps_a_binding_it_did_not_make() -> None:
    async def main() -> None:
        stores = Stores(new_stores().artifacts, FailingEventStore())
        pid = artifact_id_for_bytes(b'{"v":1}')
        index = FactIndex()
        io = _live(stores, index, CountingTransport(lambda c: {"v": 1}))
        # Bound meanwhile (as by a concurrent call) to the same payload: the failure keeps it.
        original = index.bind

        def bind_twice(key: str, payload_id: str) -> bool:
            original(key, payload_id)
            return original(key, payload_id)

        index.bind = bind_twice  # type: ignore[method-assign]
        with pytest.raises(StorageError):
            await io.call(IoCall("g", {}, "k"))
        assert index.get("k") == pid

    run(main())


@pytest.mark.parametrize("value", [1.5, 1.0, {"a": [1, 2.0]}, {"a": {1, 2}}, {1: "x"}])
def test_non_canonical_payload_is_refused(value: Any) -> None:
    async def main() -> None:
        stores = new_stores()
        index = FactIndex()
        io = _live(stores, index, CountingTransport(lambda c: value))
        with pytest.raises(IoError) as err:
            await io.call(IoCall("g", {}, "k"))
        assert err.value.info.code == "fact_payload_not_canonical"
        assert index.get("k") is None
        assert await read_stream(stores, RID) == []

    run(main())


def test_float_payload_fails_the_state_through_the_engine() -> None:
    async def main() -> None:
        stores = new_stores()
        result = await start(
            stores, plan((S1, call_k)), live_transport_factory=CountingFactory(lambda c: 0.5)
        )
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        assert [f.error.code for f in failures(stream)] == ["fact_payload_not_canonical"]
        assert facts(stream) == []

    run(main())


def test_null_payload_is_recorded_and_replayed_not_recalled() -> None:
    async def main() -> None:
        stores = new_stores()
        index = FactIndex()
        transport = CountingTransport(lambda c: None)
        io = _live(stores, index, transport)
        assert await io.call(IoCall("g", {}, "k")) is None
        assert await io.call(IoCall("g", {}, "k")) is None
        assert len(transport.calls) == 1
        assert index.get("k") == artifact_id_for_bytes(b"null")
        # A later attempt (a new IO over the rebuilt index) answers from the record too.
        rebuilt = FactIndex.from_event_stream(await read_stream(stores, RID))
        io2 = _live(stores, rebuilt, transport, attempt=1)
        assert await io2.call(IoCall("g", {}, "k")) is None
        replay = ReplayIo(stores, rebuilt, RID, S1, 1, config(io_mode=IoMode.REPLAY))
        assert await replay.call(IoCall("g", {}, "k")) is None
        assert len(transport.calls) == 1

    run(main())


def test_null_payload_through_the_engine_survives_retry() -> None:
    calls: list[int] = []

    async def h(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        ctx.write("v", await io.call(IoCall("g", {}, "k")))
        if len(calls) == 1:
            from mfm_engine import StateError
            from mfm_engine.errors import info

            raise StateError(info("again", ErrorCategory.UNKNOWN, "again", retryable=True))

    async def main() -> None:
        stores = new_stores()
        factory = CountingFactory(lambda c: None)
        result = await start(stores, plan((S1, h)), live_transport_factory=factory)
        assert result.phase is RunPhase.COMPLETED
        assert len(factory.calls) == 1
        assert await snapshot(stores, result.final_snapshot_id) == {"v": None}

    run(main())


def test_now_millis_and_random_bytes_keys_and_payloads() -> None:
    async def main() -> None:
        stores = new_stores()
        index = FactIndex()
        io = _live(stores, index, CountingTransport(), attempt=2)
        assert await io.now_millis() == 77
        assert await io.random_bytes(3) == b"\x01\x01\x01"
        assert await io.now_millis() == 77
        keys = [f["key"] for f in facts(await read_stream(stores, RID))]
        assert keys == [
            derived_fact_key("now_millis", RID, S1, 2, 0),
            derived_fact_key("random_bytes", RID, S1, 2, 1),
            derived_fact_key("now_millis", RID, S1, 2, 2),
        ]
        assert keys[0] == f"mfm:now_millis|run:{RID}|state:{S1}|attempt:2|ord:0"
        payloads = [json.loads(await stores.artifacts.get(index.get(k) or "")) for k in keys]
        assert payloads == [{"now_millis": 77}, {"hex": "010101"}, {"now_millis": 77}]
        # A new IO for the same attempt replays them instead of reading the sources again.
        io2 = LiveIo(
            stores,
            index,
            RID,
            S1,
            2,
            CountingTransport(),
            EventWriter(stores.events, RID, 3, FixedClock(0)),
            FixedClock(99),
            FixedEntropy(9),
        )
        assert await io2.now_millis() == 77
        assert await io2.random_bytes(3) == b"\x01\x01\x01"
        assert len(await read_stream(stores, RID)) == 3

    run(main())


# ------------------------------------------------------------------ replay


def _replay(index: FactIndex, retryable: bool = False) -> tuple[Stores, ReplayIo]:
    stores = new_stores()
    cfg = config(io_mode=IoMode.REPLAY, replay_missing_fact_retryable=retryable)
    return stores, ReplayIo(stores, index, RID, S1, 0, cfg)


def test_replay_without_key_is_missing_fact_key() -> None:
    _, io = _replay(FactIndex())
    with pytest.raises(IoError) as err:
        run(io.call(IoCall("g", {})))
    assert err.value.kind is IoErrorKind.MISSING_FACT_KEY
    assert err.value.info.code == "missing_fact_key"
    assert err.value.info.category is ErrorCategory.PARSING_INPUT
    assert err.value.info.retryable is False


@pytest.mark.parametrize("retryable", [False, True])
def test_replay_unbound_is_missing_fact(retryable: bool) -> None:
    _, io = _replay(FactIndex(), retryable)
    for coro in (io.call(IoCall("g", {}, "k")), io.now_millis(), io.random_bytes(2)):
        with pytest.raises(IoError) as err:
            run(coro)
        assert err.value.kind is IoErrorKind.MISSING_FACT
        assert err.value.info.code == "missing_fact"
        assert err.value.info.category is ErrorCategory.RPC
        assert err.value.info.retryable is retryable


def test_replay_answers_from_the_record() -> None:
    async def main() -> None:
        stores = new_stores()
        pid = await stores.artifacts.put(
            ArtifactKind.FACT_PAYLOAD, canonical_json_bytes({"v": [1, "x"]})
        )
        nm = await stores.artifacts.put(
            ArtifactKind.FACT_PAYLOAD, canonical_json_bytes({"now_millis": 5})
        )
        index = FactIndex({"k": pid, derived_fact_key("now_millis", RID, S1, 0, 0): nm})
        io = ReplayIo(stores, index, RID, S1, 0, config(io_mode=IoMode.REPLAY))
        assert await io.call(IoCall("g", {}, "k")) == {"v": [1, "x"]}
        assert await io.now_millis() == 5

    run(main())


@pytest.mark.parametrize("retryable", [False, True])
def test_replay_missing_fact_retry_follows_config(retryable: bool) -> None:
    async def main() -> None:
        stores = new_stores()
        cfg = config(io_mode=IoMode.REPLAY, replay_missing_fact_retryable=retryable)
        factory = CountingFactory()
        # Replay has nothing recorded: the state fails (and is retried only if configured).
        from mfm_engine import RunStarted

        from tests.engine.helpers import manifest, store_manifest

        mid = await store_manifest(stores, manifest(cfg))
        snap = await stores.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, b"{}")
        rid = uuid.uuid4()
        await stores.events.append(rid, 0, [EventEnvelope(rid, 1, RunStarted("op", mid, snap))])
        result = await make_engine(plan((S1, call_k)), live_transport_factory=factory).resume(
            stores, rid
        )
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, rid)
        assert len(failures(stream)) == (3 if retryable else 1)
        assert factory.made == []

    run(main())


def test_live_env_describes_the_attempt() -> None:
    async def main() -> None:
        stores = new_stores()
        factory = CountingFactory()
        result = await start(stores, plan((S1, call_k)), live_transport_factory=factory)
        [env] = factory.made
        assert isinstance(env, LiveIoEnv)
        assert (env.run_id, env.state_id, env.attempt) == (result.run_id, S1, 0)
        assert env.stores is stores

    run(main())


def test_transport_error_fails_the_state_with_its_info() -> None:
    def boom(call: IoCall) -> Any:
        raise IoError(IoErrorKind.RATE_LIMITED, _info("rate_limited", retryable=True))

    async def main() -> None:
        stores = new_stores()
        factory = CountingFactory(boom)
        result = await start(stores, plan((S1, call_k)), live_transport_factory=factory)
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        assert [f.error.code for f in failures(stream)] == ["rate_limited"] * 3
        assert facts(stream) == []

    run(main())


def _info(code: str, retryable: bool = False) -> Any:
    from mfm_engine.errors import info

    return info(code, ErrorCategory.RPC, code, retryable=retryable)


def test_failed_fact_append_is_an_engine_error_not_a_state_failure() -> None:
    class FailsOnFact(InMemoryEventStore):
        async def append(self, run_id: uuid.UUID, expected_seq: int, envelopes: Any) -> int:
            if any(isinstance(e.event, DomainEvent) for e in envelopes):
                raise storage(StorageErrorKind.OTHER, "disk_full", "down")
            return await super().append(run_id, expected_seq, envelopes)

    async def main() -> None:
        stores = Stores(new_stores().artifacts, FailsOnFact())
        with pytest.raises(RunError) as err:
            await start(stores, plan((S1, call_k)), live_transport_factory=CountingFactory())
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "disk_full"

    run(main())
