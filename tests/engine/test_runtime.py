"""The runtime beyond the original's 13 tests: retries, backoff, resume, order, injected sources."""

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
    EventProfile,
    Exponential,
    Fixed,
    IoMode,
    RetryPolicy,
    RunCompleted,
    RunError,
    RunPhase,
    RunStarted,
    RunStatus,
    StateEntered,
    StateFailed,
    compute_backoff,
)

from tests.engine.helpers import (
    BASE_CONFIG,
    S1,
    S2,
    S3,
    FixedClock,
    FixedEntropy,
    FixedIds,
    assert_nothing_secret,
    attempts,
    completions,
    config,
    domain,
    facts,
    failures,
    flaky_once,
    kernel,
    make_engine,
    new_stores,
    of_type,
    plan,
    read_stream,
    run,
    snapshot,
    start,
    state_error,
    write_x,
)

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
            result = await start(stores, plan((S1, _always_fail_retryable), (S2, write_x)), cfg)
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
        result = await start(stores, plan((S1, fail), (S2, write_x)))
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
        result = await start(stores, plan((S1, write_x), (S2, s2)))
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
        p = plan((S1, write_x))
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
    calls, flaky = flaky_once("z", 1)

    async def main() -> None:
        stores = new_stores()
        p = plan((S1, write_x), (S2, flaky))
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
