"""The original runtime's 13 tests (ENGINE.md "The original's tests"), under the original's
names, each with all of ENGINE.md's assertions for it. Base config: live IO, max_attempts 3,
Fixed(0), MINIMAL profile (`BASE_CONFIG`)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from mfm_engine import (
    ArtifactKind,
    ContextError,
    DomainEvent,
    EventEnvelope,
    EventProfile,
    FanOutJoin,
    IoCall,
    IoMode,
    RunCompleted,
    RunError,
    RunErrorKind,
    RunPhase,
    RunStarted,
    StateEntered,
)
from mfm_engine.errors import ContextErrorKind, ErrorCategory
from mfm_engine.hashing import canonical_json_bytes

from tests.engine.helpers import (
    OP,
    S1,
    S2,
    CountingFactory,
    assert_nothing_secret,
    attempts,
    call_k,
    completions,
    config,
    domain,
    facts,
    failpoint,
    failures,
    flaky_once,
    kernel,
    make_engine,
    manifest,
    new_stores,
    node,
    of_type,
    plan,
    read_stream,
    run,
    run_completed,
    snapshot,
    start,
    state_error,
    store_manifest,
    write_x,
)

SECRET = "hunter2-very-secret"


def test_secrets_in_initial_context_are_rejected_and_not_persisted() -> None:
    async def main() -> None:
        stores = new_stores()
        p = plan((S1, write_x))
        with pytest.raises(RunError) as err:
            await start(stores, p, initial={"password": SECRET})
        assert err.value.kind is RunErrorKind.CONTEXT
        assert err.value.info.code == "secrets_detected"
        assert isinstance(err.value.__cause__, ContextError)
        assert err.value.__cause__.kind is ContextErrorKind.OTHER  # the original's kind
        assert err.value.info.category is ErrorCategory.CONTEXT
        assert stores.events.streams == {}  # type: ignore[attr-defined]
        # Only the manifest was written (by the test), and nothing holds the secret.
        assert list(stores.artifacts.kinds.values()) == [ArtifactKind.MANIFEST]  # type: ignore[attr-defined]
        await assert_nothing_secret(stores, SECRET)

    run(main())


def test_state_failed_error_messages_are_redacted_before_persisting() -> None:
    async def fail(ctx: Any, io: Any, ev: Any) -> None:
        raise state_error(
            "login_failed",
            message=f"password {SECRET} rejected",
            details={"private_key": SECRET},
        )

    async def main() -> None:
        stores = new_stores()
        result = await start(stores, plan((S1, fail)))
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        [failed] = failures(stream)
        assert failed.state_id == S1
        assert failed.error.code == "login_failed"
        assert failed.error.message == "error details redacted"
        assert failed.error.details is None
        assert "details" not in failed.to_json()["error"]
        assert isinstance(kernel(stream)[-1], RunCompleted)
        await assert_nothing_secret(stores, SECRET)

    run(main())


def test_domain_events_with_secrets_are_rejected() -> None:
    async def emit(ctx: Any, io: Any, ev: Any) -> None:
        ev.emit("login", {"password": SECRET})

    async def main() -> None:
        stores = new_stores()
        cfg = config(event_profile=EventProfile.NORMAL)
        result = await start(stores, plan((S1, emit)), cfg)
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        assert domain(stream) == []
        [failed] = failures(stream)
        assert failed.error.code == "secrets_detected"
        await assert_nothing_secret(stores, SECRET)

    run(main())


def test_fact_payloads_with_secrets_are_rejected() -> None:
    async def main() -> None:
        stores = new_stores()
        factory = CountingFactory(lambda c: {"password": SECRET})
        result = await start(stores, plan((S1, call_k)), live_transport_factory=factory)
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        assert facts(stream) == []
        [failed] = failures(stream)
        assert failed.error.code == "secrets_detected"
        await assert_nothing_secret(stores, SECRET)

    run(main())


def test_start_then_resume_retries_orphan_attempt_from_base_snapshot() -> None:
    calls: list[int] = []

    async def once(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        if ctx.read("x") is not None:
            raise state_error("x_exists", message="x already exists: the staged write leaked")
        ctx.write("x", 1)

    async def main() -> None:
        stores = new_stores()
        p = plan((S1, once))
        first = await start(stores, p, failpoints=failpoint())
        assert first.phase is RunPhase.RUNNING
        stream = await read_stream(stores, first.run_id)
        assert first.final_snapshot_id == of_type(stream, RunStarted)[0].initial_snapshot_id
        assert run_completed(stream) == []
        second = await make_engine(p).resume(stores, first.run_id)
        assert second.phase is RunPhase.COMPLETED
        assert await snapshot(stores, second.final_snapshot_id) == {"x": 1}
        stream = await read_stream(stores, first.run_id)
        assert attempts(stream) == [0, 1]
        assert len(calls) == 2
        assert isinstance(stream[-1].event, RunCompleted)

    run(main())


def test_retry_policy_retries_retryable_errors() -> None:
    _, flaky = flaky_once("done", True)

    async def main() -> None:
        stores = new_stores()
        result = await start(stores, plan((S1, flaky)))
        assert result.phase is RunPhase.COMPLETED
        stream = await read_stream(stores, result.run_id)
        assert attempts(stream) == [0, 1]
        [failed] = failures(stream)
        assert failed.error.retryable and failed.error.code == "flaky"
        assert await snapshot(stores, result.final_snapshot_id) == {"done": True}

    run(main())


def test_rejects_fanout_join_execution_mode() -> None:
    async def main() -> None:
        stores = new_stores()
        cfg = config(execution_mode=FanOutJoin(2))
        with pytest.raises(RunError) as err:
            await start(stores, plan((S1, write_x)), cfg)
        assert err.value.kind is RunErrorKind.INVALID_PLAN
        assert err.value.info.code == "unsupported_execution_mode"
        assert stores.events.streams == {}  # type: ignore[attr-defined]

    run(main())


def test_skip_tags_skips_tagged_states_without_running_handler() -> None:
    skipped: list[int] = []

    async def s2(ctx: Any, io: Any, ev: Any) -> None:
        skipped.append(1)
        ctx.write("s2", True)

    async def main() -> None:
        stores = new_stores()
        p = plan(node(S1, write_x), node(S2, s2, tags=["slow", "skip_me"]))
        result = await start(stores, p, config(skip_tags=("skip_me",)))
        assert result.phase is RunPhase.COMPLETED
        assert skipped == []
        stream = await read_stream(stores, result.run_id)
        done = {c.state_id: c.context_snapshot_id for c in completions(stream)}
        entered = {e.state_id: e.base_snapshot_id for e in of_type(stream, StateEntered)}
        assert entered[S2] == done[S1]
        assert done[S2] == done[S1]
        assert result.final_snapshot_id == done[S1]
        assert await snapshot(stores, result.final_snapshot_id) == {"x": 1}

    run(main())


def test_crash_resume_orphan_attempt_reuses_facts() -> None:
    async def call_then_write(ctx: Any, io: Any, ev: Any) -> None:
        answer = await io.call(IoCall("g", {"q": 1}, "k"))
        assert answer == {"v": 7}
        if ctx.read("x") is not None:
            raise state_error("x_exists")
        ctx.write("x", 1)

    async def main() -> None:
        stores = new_stores()
        factory = CountingFactory(lambda c: {"v": 7})
        p = plan((S1, call_then_write))
        first = await start(stores, p, live_transport_factory=factory, failpoints=failpoint())
        assert first.phase is RunPhase.RUNNING
        second = await make_engine(p, live_transport_factory=factory).resume(stores, first.run_id)
        assert second.phase is RunPhase.COMPLETED
        assert len(factory.calls) == 1
        stream = await read_stream(stores, first.run_id)
        assert attempts(stream) == [0, 1]
        assert [f["key"] for f in facts(stream)] == ["k"]
        assert await snapshot(stores, second.final_snapshot_id) == {"x": 1}

    run(main())


def test_facts_are_single_assignment_and_reused_across_retries() -> None:
    handled: list[int] = []

    async def call_then_fail(ctx: Any, io: Any, ev: Any) -> None:
        handled.append(1)
        ctx.write("r", await io.call(IoCall("g", {}, "k")))
        if len(handled) == 1:
            raise state_error("later", retryable=True)

    async def main() -> None:
        stores = new_stores()
        factory = CountingFactory(lambda c: {"n": len(factory.calls)})
        result = await start(stores, plan((S1, call_then_fail)), live_transport_factory=factory)
        assert result.phase is RunPhase.COMPLETED
        assert len(factory.calls) == 1
        stream = await read_stream(stores, result.run_id)
        assert attempts(stream) == [0, 1]
        assert [f["key"] for f in facts(stream)] == ["k"]
        assert await snapshot(stores, result.final_snapshot_id) == {"r": {"n": 1}}

    run(main())


def test_time_and_random_are_recorded_as_facts() -> None:
    async def sources(ctx: Any, io: Any, ev: Any) -> None:
        a = await io.now_millis()
        b = await io.now_millis()
        r = await io.random_bytes(8)
        ctx.write("t", [a, b])
        ctx.write("r", r.hex())

    async def main() -> None:
        stores = new_stores()
        result = await start(stores, plan((S1, sources)))
        assert result.phase is RunPhase.COMPLETED
        stream = await read_stream(stores, result.run_id)
        keys = [f["key"] for f in facts(stream)]
        assert len(keys) == 3
        assert sum(k.startswith("mfm:now_millis|") for k in keys) == 2
        assert sum(k.startswith("mfm:random_bytes|") for k in keys) == 1
        prefix = f"|run:{result.run_id}|state:{S1}|attempt:0|ord:"
        assert [k.split(prefix)[1] for k in keys] == ["0", "1", "2"]
        for f in facts(stream):
            assert await stores.artifacts.exists(f["payload_id"])
            assert f["meta"] == {}

    run(main())


async def _replay_fixture(stores: Any, with_fact: bool) -> uuid.UUID:
    """A replay-mode run whose stream holds `RunStarted` and (maybe) a `fact_recorded` for k."""
    cfg = config(io_mode=IoMode.REPLAY)
    mid = await store_manifest(stores, manifest(cfg))
    snap = await stores.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, b"{}")
    run_id = uuid.uuid4()
    evs: list[Any] = [RunStarted(OP, mid, snap)]
    if with_fact:
        pid = await stores.artifacts.put(ArtifactKind.FACT_PAYLOAD, canonical_json_bytes({"v": 42}))
        evs.append(DomainEvent("fact_recorded", {"key": "k", "payload_id": pid, "meta": {}}))
    envs = [EventEnvelope(run_id, i, e) for i, e in enumerate(evs, start=1)]
    await stores.events.append(run_id, 0, envs)
    return run_id


def test_replay_mode_serves_recorded_facts_without_live_io() -> None:
    async def main() -> None:
        stores = new_stores()
        run_id = await _replay_fixture(stores, with_fact=True)
        factory = CountingFactory()
        result = await make_engine(plan((S1, call_k)), live_transport_factory=factory).resume(
            stores, run_id
        )
        assert result.phase is RunPhase.COMPLETED
        assert factory.made == [] and factory.calls == []
        assert await snapshot(stores, result.final_snapshot_id) == {"v": {"v": 42}}

    run(main())


def test_replay_mode_missing_fact_fails_without_live_io() -> None:
    async def main() -> None:
        stores = new_stores()
        run_id = await _replay_fixture(stores, with_fact=False)
        factory = CountingFactory()
        result = await make_engine(plan((S1, call_k)), live_transport_factory=factory).resume(
            stores, run_id
        )
        assert result.phase is RunPhase.FAILED
        assert factory.made == [] and factory.calls == []
        stream = await read_stream(stores, run_id)
        [failed] = failures(stream)
        assert failed.error.code == "missing_fact"
        assert failed.error.category is ErrorCategory.RPC

    run(main())
