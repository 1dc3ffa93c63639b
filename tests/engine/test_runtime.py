"""The original runtime's tests, re-expressed; plus retries, backoff, resume, injected sources."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine import (
    ArtifactKind,
    ContextError,
    DomainEvent,
    EventEnvelope,
    EventProfile,
    Exponential,
    FanOutJoin,
    Fixed,
    IoCall,
    IoMode,
    RetryPolicy,
    RunCompleted,
    RunError,
    RunErrorKind,
    RunPhase,
    RunStarted,
    RunStatus,
    StateEntered,
    StateError,
    StateFailed,
    compute_backoff,
)
from mfm_engine.errors import ErrorCategory, info
from mfm_engine.hashing import canonical_json_bytes

from tests.engine.helpers import (
    BASE_CONFIG,
    OP,
    S1,
    S2,
    S3,
    CountingFactory,
    FixedClock,
    FixedEntropy,
    FixedIds,
    assert_nothing_secret,
    attempts,
    completions,
    config,
    domain,
    facts,
    failpoint,
    failures,
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
    store_manifest,
)

SECRET = "hunter2-very-secret"


def state_error(
    code: str = "boom", *, retryable: bool = False, message: str = "boom", details: Any = None
) -> StateError:
    return StateError(
        info(code, ErrorCategory.UNKNOWN, message, retryable=retryable, details=details)
    )


# ------------------------------------------------------------------ the original's 13 tests


def test_secrets_in_initial_context_are_rejected() -> None:
    async def main() -> None:
        stores = new_stores()
        p = plan((S1, _write_x))
        with pytest.raises(RunError) as err:
            await start(stores, p, initial={"password": SECRET})
        assert err.value.kind is RunErrorKind.CONTEXT
        assert err.value.info.code == "secrets_detected"
        assert isinstance(err.value.__cause__, ContextError)
        assert stores.events.streams == {}  # type: ignore[attr-defined]
        # Only the manifest was written (by the test), and nothing holds the secret.
        assert list(stores.artifacts.kinds.values()) == [ArtifactKind.MANIFEST]  # type: ignore[attr-defined]
        await assert_nothing_secret(stores, SECRET)

    run(main())


async def _write_x(ctx: Any, io: Any, ev: Any) -> None:
    ctx.write("x", 1)


def test_failed_state_error_is_redacted() -> None:
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


def test_domain_event_with_secret_is_refused() -> None:
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


def test_fact_payload_with_secret_is_refused() -> None:
    async def call(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write("r", await io.call(IoCall("g", {}, "k")))

    async def main() -> None:
        stores = new_stores()
        factory = CountingFactory(lambda c: {"password": SECRET})
        result = await start(stores, plan((S1, call)), live_transport_factory=factory)
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        assert facts(stream) == []
        [failed] = failures(stream)
        assert failed.error.code == "secrets_detected"
        await assert_nothing_secret(stores, SECRET)

    run(main())


def test_failpoint_stop_then_resume_completes() -> None:
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


def test_retryable_failure_is_retried() -> None:
    calls: list[int] = []

    async def flaky(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise state_error("flaky", retryable=True)
        ctx.write("done", True)

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


def test_fan_out_join_is_unsupported() -> None:
    async def main() -> None:
        stores = new_stores()
        cfg = config(execution_mode=FanOutJoin(2))
        with pytest.raises(RunError) as err:
            await start(stores, plan((S1, _write_x)), cfg)
        assert err.value.kind is RunErrorKind.INVALID_PLAN
        assert err.value.info.code == "unsupported_execution_mode"
        assert stores.events.streams == {}  # type: ignore[attr-defined]

    run(main())


def test_skip_tags_skip_state() -> None:
    skipped: list[int] = []

    async def s2(ctx: Any, io: Any, ev: Any) -> None:
        skipped.append(1)
        ctx.write("s2", True)

    async def main() -> None:
        stores = new_stores()
        p = plan(node(S1, _write_x), node(S2, s2, tags=["slow", "skip_me"]))
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


def test_failpoint_with_io_records_fact_once() -> None:
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


def test_recorded_fact_survives_retry() -> None:
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


def test_now_millis_and_random_bytes_are_recorded() -> None:
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


async def _replay_call(ctx: Any, io: Any, ev: Any) -> None:
    ctx.write("v", await io.call(IoCall("g", {}, "k")))


def test_replay_mode_uses_recorded_facts() -> None:
    async def main() -> None:
        stores = new_stores()
        run_id = await _replay_fixture(stores, with_fact=True)
        factory = CountingFactory()
        result = await make_engine(plan((S1, _replay_call)), live_transport_factory=factory).resume(
            stores, run_id
        )
        assert result.phase is RunPhase.COMPLETED
        assert factory.made == [] and factory.calls == []
        assert await snapshot(stores, result.final_snapshot_id) == {"v": {"v": 42}}

    run(main())


def test_replay_mode_without_fact_fails() -> None:
    async def main() -> None:
        stores = new_stores()
        run_id = await _replay_fixture(stores, with_fact=False)
        factory = CountingFactory()
        result = await make_engine(plan((S1, _replay_call)), live_transport_factory=factory).resume(
            stores, run_id
        )
        assert result.phase is RunPhase.FAILED
        assert factory.made == [] and factory.calls == []
        stream = await read_stream(stores, run_id)
        [failed] = failures(stream)
        assert failed.error.code == "missing_fact"
        assert failed.error.category is ErrorCategory.RPC

    run(main())


# ------------------------------------------------------------------ retries and backoff


class SleepRecorder:
    """Patches `asyncio.sleep`: records every duration, then yields without waiting."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._real = asyncio.sleep

    async def __call__(self, delay: float, result: Any = None) -> Any:
        self.durations.append(delay)
        return await self._real(0, result)

    def __enter__(self) -> SleepRecorder:
        self._patch = mock.patch("asyncio.sleep", self)
        self._patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._patch.stop()


async def _always_fail_retryable(ctx: Any, io: Any, ev: Any) -> None:
    raise state_error("flaky", retryable=True)


def test_backoff_sleeps_on_the_loop_with_the_policy_delays() -> None:
    policy = RetryPolicy(4, Exponential(timedelta(milliseconds=10), timedelta(milliseconds=25)))

    async def main() -> None:
        stores = new_stores()
        with SleepRecorder() as sleeps:
            result = await start(
                stores, plan((S1, _always_fail_retryable)), config(retry_policy=policy)
            )
        assert result.phase is RunPhase.FAILED
        # attempts 0, 1, 2 fail and are retried: 10ms, 20ms, min(40, 25) = 25ms
        assert sleeps.durations == [0.010, 0.020, 0.025]
        assert attempts(await read_stream(stores, result.run_id)) == [0, 1, 2, 3]

    run(main())


def test_backoff_really_waits_on_the_running_loop() -> None:
    policy = RetryPolicy(3, Exponential(timedelta(milliseconds=10), timedelta(milliseconds=15)))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        result = await start(
            new_stores(), plan((S1, _always_fail_retryable)), config(retry_policy=policy)
        )
        assert result.phase is RunPhase.FAILED
        assert loop.time() - began >= 0.025 - 0.002  # 10ms + min(20, 15)ms

    run(main())


def test_fixed_zero_backoff_does_not_sleep() -> None:
    async def main() -> None:
        with SleepRecorder() as sleeps:
            result = await start(new_stores(), plan((S1, _always_fail_retryable)))
        assert result.phase is RunPhase.FAILED
        assert sleeps.durations == []

    run(main())


@settings(max_examples=30, deadline=None)
@given(
    max_attempts=st.integers(min_value=1, max_value=6),
    backoff=st.one_of(
        st.builds(lambda ms: Fixed(timedelta(milliseconds=ms)), st.integers(0, 50)),
        st.builds(
            lambda b, m: Exponential(timedelta(milliseconds=b), timedelta(milliseconds=m)),
            st.integers(0, 50),
            st.integers(0, 500),
        ),
    ),
)
def test_always_failing_retryable_state_is_entered_max_attempts_times(
    max_attempts: int, backoff: Fixed | Exponential
) -> None:
    cfg = config(retry_policy=RetryPolicy(max_attempts, backoff))

    async def main() -> None:
        stores = new_stores()
        with SleepRecorder() as sleeps:
            result = await start(stores, plan((S1, _always_fail_retryable), (S2, _write_x)), cfg)
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        assert attempts(stream) == list(range(max_attempts))
        assert len(failures(stream)) == max_attempts
        expected = [compute_backoff(backoff, a) for a in range(max_attempts - 1)]
        assert sleeps.durations == [d.total_seconds() for d in expected if d]
        assert kernel(stream)[-1] == RunCompleted(RunStatus.FAILED, result.final_snapshot_id)
        assert result.final_snapshot_id == of_type(stream, RunStarted)[0].initial_snapshot_id

    run(main())


def test_non_retryable_failure_is_not_retried() -> None:
    async def fail(ctx: Any, io: Any, ev: Any) -> None:
        raise state_error("fatal", retryable=False)

    async def main() -> None:
        stores = new_stores()
        result = await start(stores, plan((S1, fail), (S2, _write_x)))
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        assert attempts(stream) == [0]
        assert [type(e).__name__ for e in kernel(stream)] == [
            "RunStarted",
            "StateEntered",
            "StateFailed",
            "RunCompleted",
        ]

    run(main())


def test_handler_exception_of_any_kind_fails_the_attempt() -> None:
    async def boom(ctx: Any, io: Any, ev: Any) -> None:
        raise KeyError("nope")

    async def main() -> None:
        stores = new_stores()
        result = await start(stores, plan((S1, boom)))
        assert result.phase is RunPhase.FAILED
        [failed] = failures(await read_stream(stores, result.run_id))
        assert failed.error.code == "handler_exception"
        assert not failed.error.retryable

    run(main())


def test_retry_starts_from_the_same_base_and_drops_staged_writes() -> None:
    seen: list[Any] = []

    async def s2(ctx: Any, io: Any, ev: Any) -> None:
        seen.append(ctx.dump())
        ctx.write("y", len(seen))
        ctx.delete("x")
        if len(seen) < 3:
            raise state_error("again", retryable=True)

    async def main() -> None:
        stores = new_stores()
        result = await start(stores, plan((S1, _write_x), (S2, s2)))
        assert result.phase is RunPhase.COMPLETED
        assert seen == [{"x": 1}] * 3
        stream = await read_stream(stores, result.run_id)
        bases = {e.base_snapshot_id for e in of_type(stream, StateEntered) if e.state_id == S2}
        assert bases == {completions(stream)[0].context_snapshot_id}
        assert await snapshot(stores, result.final_snapshot_id) == {"y": 3}

    run(main())


# ------------------------------------------------------------------ order, end, resume


def test_states_run_in_kahn_order_and_run_completed_is_last() -> None:
    order: list[str] = []

    def rec(name: str) -> Any:
        async def h(ctx: Any, io: Any, ev: Any) -> None:
            order.append(name)
            ctx.write(name, True)

        return h

    async def main() -> None:
        stores = new_stores()
        p = plan(
            (S3, rec("three")),
            (S1, rec("one")),
            (S2, rec("two")),
            edges=[(S1, S3), (S2, S3)],
        )
        result = await start(stores, p)
        assert result.phase is RunPhase.COMPLETED
        assert order == ["one", "two", "three"]
        stream = await read_stream(stores, result.run_id)
        assert [e.seq for e in stream] == list(range(1, len(stream) + 1))
        assert isinstance(stream[0].event, RunStarted)
        assert stream[-1].event == RunCompleted(RunStatus.COMPLETED, result.final_snapshot_id)
        assert await snapshot(stores, result.final_snapshot_id) == {
            "one": True,
            "two": True,
            "three": True,
        }

    run(main())


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_resume_of_finished_run_is_idempotent(outcome: str) -> None:
    async def h(ctx: Any, io: Any, ev: Any) -> None:
        if outcome == "failed":
            raise state_error("nope")
        ctx.write("x", 1)

    async def main() -> None:
        stores = new_stores()
        p = plan((S1, h))
        first = await start(stores, p)
        before = await read_stream(stores, first.run_id)
        for _ in range(2):
            again = await make_engine(p).resume(stores, first.run_id)
            assert again == first
        assert await read_stream(stores, first.run_id) == before
        assert first.phase is (RunPhase.COMPLETED if outcome == "completed" else RunPhase.FAILED)

    run(main())


def test_resume_finalizes_a_run_whose_states_all_completed() -> None:
    async def main() -> None:
        stores = new_stores()
        p = plan((S1, _write_x))
        first = await start(stores, p)
        # Drop the RunCompleted, as if the process died right before it.
        stores.events.streams[first.run_id].pop()  # type: ignore[attr-defined]
        result = await make_engine(p).resume(stores, first.run_id)
        assert result == first
        stream = await read_stream(stores, first.run_id)
        assert attempts(stream) == [0]
        assert stream[-1].event == RunCompleted(RunStatus.COMPLETED, first.final_snapshot_id)

    run(main())


def test_resume_after_failed_attempt_retries_from_its_base() -> None:
    calls: list[int] = []

    async def flaky(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise state_error("flaky", retryable=True)
        ctx.write("z", 1)

    async def main() -> None:
        stores = new_stores()
        p = plan((S1, _write_x), (S2, flaky))
        first = await start(stores, p)
        assert first.phase is RunPhase.COMPLETED
        stream = await read_stream(stores, first.run_id)
        # Cut the log right after StateFailed of S2, as if the process died there.
        cut = next(i for i, e in enumerate(stream) if isinstance(e.event, StateFailed))
        stores.events.streams[first.run_id] = stream[: cut + 1]  # type: ignore[attr-defined]
        calls.clear()
        calls.append(1)  # the retry succeeds
        result = await make_engine(p).resume(stores, first.run_id)
        assert result.phase is RunPhase.COMPLETED
        stream = await read_stream(stores, first.run_id)
        assert attempts(stream, S2) == [0, 1]
        s2_bases = [e.base_snapshot_id for e in of_type(stream, StateEntered) if e.state_id == S2]
        assert len(set(s2_bases)) == 1
        assert await snapshot(stores, result.final_snapshot_id) == {"x": 1, "z": 1}

    run(main())


# ------------------------------------------------------------------ injected sources


def test_injected_ids_clock_and_entropy_are_used() -> None:
    run_id = uuid.UUID("12345678-1234-4234-8234-123456789abc")

    async def h(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write("t", await io.now_millis())
        ctx.write("r", (await io.random_bytes(4)).hex())

    async def main() -> None:
        stores = new_stores()
        result = await start(
            stores,
            plan((S1, h)),
            ids=FixedIds(run_id),
            clock=FixedClock(1_700_000_000_123),
            entropy=FixedEntropy(0xCD),
        )
        assert result.run_id == run_id
        assert result.phase is RunPhase.COMPLETED
        stream = await read_stream(stores, run_id)
        assert {e.ts_millis for e in stream} == {1_700_000_000_123}
        assert {e.run_id for e in stream} == {run_id}
        assert await snapshot(stores, result.final_snapshot_id) == {
            "t": 1_700_000_000_123,
            "r": "cdcdcdcd",
        }
        payloads = [await snapshot(stores, f["payload_id"]) for f in facts(stream)]
        assert payloads == [{"now_millis": 1_700_000_000_123}, {"hex": "cdcdcdcd"}]
        assert all(f"|run:{run_id}|" in f["key"] for f in facts(stream))

    run(main())


def test_minimal_profile_drops_domain_events_but_normal_keeps_them() -> None:
    async def emit(ctx: Any, io: Any, ev: Any) -> None:
        ev.emit("op_boundary", {"n": 1})
        await io.now_millis()

    async def main() -> None:
        for profile, names in [
            (EventProfile.MINIMAL, ["fact_recorded"]),
            (EventProfile.NORMAL, ["fact_recorded", "op_boundary"]),
        ]:
            stores = new_stores()
            result = await start(stores, plan((S1, emit)), config(event_profile=profile))
            assert result.phase is RunPhase.COMPLETED
            assert [d.name for d in domain(await read_stream(stores, result.run_id))] == names

    run(main())


def test_base_config_is_what_the_original_used() -> None:
    assert BASE_CONFIG.io_mode is IoMode.LIVE
    assert BASE_CONFIG.retry_policy == RetryPolicy(3, Fixed(timedelta(0)))
    assert BASE_CONFIG.event_profile is EventProfile.MINIMAL


@pytest.mark.parametrize(
    ("name", "payload"),
    [("password_reset", {"ok": 1}), ("login", {"nested": [{"api_key": "k"}]}), ("x", "Bearer abc")],
)
def test_domain_event_name_or_payload_with_secret_is_refused(name: str, payload: Any) -> None:
    async def emit(ctx: Any, io: Any, ev: Any) -> None:
        ev.emit(name, payload)

    async def main() -> None:
        stores = new_stores()
        result = await start(stores, plan((S1, emit)), config(event_profile=EventProfile.VERBOSE))
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, result.run_id)
        assert domain(stream) == []
        assert [f.error.code for f in failures(stream)] == ["secrets_detected"]
        await assert_nothing_secret(stores)

    run(main())


def test_a_storage_error_inside_an_attempt_keeps_its_typed_cause() -> None:
    # The RunError an attempt's storage failure becomes passes through `start` as it is:
    # its `__cause__` is the typed StorageError (not the RunError itself), so a caller can
    # still tell a missing artifact from a corrupt one.
    from mfm_engine.errors import RunError, RunErrorKind, StorageError, StorageErrorKind, storage
    from mfm_engine.stores import InMemoryArtifactStore, InMemoryEventStore, Stores

    class LosesSnapshots(InMemoryArtifactStore):
        async def get(self, artifact_id: str) -> bytes:
            data = await super().get(artifact_id)
            if not data.startswith(b'{"build"'):  # anything but the manifest
                raise storage(StorageErrorKind.NOT_FOUND, "artifact_not_found", "gone")
            return data

    async def _noop(ctx: Any, io: Any, events: Any) -> None:
        return None

    async def main() -> RunError:
        stores = Stores(LosesSnapshots(), InMemoryEventStore())
        try:
            await start(stores, plan(("rt.s.a", _noop)))
        except RunError as exc:
            return exc
        raise AssertionError("the run did not fail")

    err = run(main())
    assert err.kind is RunErrorKind.STORAGE and err.info.code == "artifact_not_found"
    assert err.__cause__ is not err
    assert isinstance(err.__cause__, StorageError)
    assert err.__cause__.kind is StorageErrorKind.NOT_FOUND
