"""Crash recovery: orphan attempts are closed, retried from their base, and bounded; bad storage."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine import (
    ArtifactKind,
    ErrorCategory,
    InMemoryEventStore,
    JsonContext,
    RetryPolicy,
    RunCompleted,
    RunError,
    RunErrorKind,
    RunPhase,
    RunStarted,
    RunStatus,
    StartRun,
    StateCompleted,
    StateEntered,
    StateFailed,
    Stores,
)
from mfm_engine.envelopes import analyze_kernel_events
from mfm_engine.hashing import artifact_id_for_json
from mfm_engine.runtime import ORPHAN_ATTEMPT_RECOVERED

from tests.engine.helpers import (
    S1,
    S2,
    S3,
    Crash,
    WrongIdArtifactStore,
    attempts,
    completions,
    config,
    failpoint,
    failures,
    kernel,
    make_engine,
    manifest,
    new_stores,
    of_type,
    plan,
    read_stream,
    run,
    snapshot,
    start,
    store_manifest,
)


def crash_once(name: str, counts: dict[str, int], key: str, value: Any = 1) -> Any:
    """A handler that dies like a process on its first call, and writes `key` afterwards."""

    async def h(ctx: Any, io: Any, ev: Any) -> None:
        counts[name] = counts.get(name, 0) + 1
        ctx.write(key, value)
        if counts[name] == 1:
            raise Crash(name)

    return h


def assert_log_valid(stream: list[Any]) -> None:
    analysis = analyze_kernel_events(stream)
    assert analysis.orphan_attempt is None
    # Every attempt entered was closed: as many terminals as entries.
    entered = of_type(stream, StateEntered)
    assert len(of_type(stream, StateCompleted)) + len(of_type(stream, StateFailed)) == len(entered)


def orphan_closures(stream: list[Any]) -> list[tuple[StateEntered, StateFailed]]:
    """Each `(StateEntered, StateFailed)` pair whose failure is an orphan recovery."""
    ks = kernel(stream)
    return [
        (a, b)
        for a, b in itertools.pairwise(ks)
        if isinstance(a, StateEntered)
        and isinstance(b, StateFailed)
        and b.error.code == ORPHAN_ATTEMPT_RECOVERED
    ]


def test_crash_resume_crash_in_later_state_resume_completes() -> None:
    """Fails with the seed's resume (two StateEntered in a row), passes with the orphan fix."""
    counts: dict[str, int] = {}
    p = plan((S1, crash_once("one", counts, "a")), (S2, crash_once("two", counts, "b")))

    stores = new_stores()
    with pytest.raises(Crash):
        run(start(stores, p, ids=_Ids(RUN)))

    # Each incarnation has its own loop and a fresh engine, like a restarted process.
    with pytest.raises(Crash):
        run(make_engine(p).resume(stores, RUN))
    result = run(make_engine(p).resume(stores, RUN))

    assert result.phase is RunPhase.COMPLETED
    assert counts == {"one": 2, "two": 2}
    stream = run(read_stream(stores, RUN))
    assert_log_valid(stream)
    assert attempts(stream, S1) == [0, 1]
    assert attempts(stream, S2) == [0, 1]
    closures = orphan_closures(stream)
    assert [(a.state_id, a.attempt) for a, _ in closures] == [(S1, 0), (S2, 0)]
    for _, failed in closures:
        assert failed.error.retryable
        assert failed.error.category is ErrorCategory.UNKNOWN
    # The retries start from the orphans' bases.
    entered = of_type(stream, StateEntered)
    for orphan, _ in closures:
        retry = next(
            e for e in entered if e.state_id == orphan.state_id and e.attempt == orphan.attempt + 1
        )
        assert retry.base_snapshot_id == orphan.base_snapshot_id
    initial = of_type(stream, RunStarted)[0].initial_snapshot_id
    s1_done = next(c for c in completions(stream) if c.state_id == S1).context_snapshot_id
    assert [e.base_snapshot_id for e in entered] == [initial, initial, s1_done, s1_done]
    assert run(snapshot(stores, result.final_snapshot_id)) == {"a": 1, "b": 1}
    assert stream[-1].event == RunCompleted(RunStatus.COMPLETED, result.final_snapshot_id)
    # And a further resume is a no-op.
    assert run(make_engine(p).resume(stores, RUN)) == result
    assert run(read_stream(stores, RUN)) == stream


RUN = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


class _Ids:
    def __init__(self, rid: uuid.UUID) -> None:
        self.rid = rid

    def new_run_id(self) -> uuid.UUID:
        return self.rid


@settings(max_examples=10, deadline=None)
@given(max_attempts=st.integers(min_value=1, max_value=5))
def test_crash_looping_state_ends_failed(max_attempts: int) -> None:
    calls: list[int] = []

    async def always_crash(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        raise Crash("again")

    cfg = config(retry_policy=RetryPolicy(max_attempts, config().retry_policy.backoff))
    p = plan((S1, always_crash), (S2, lambda c, i, e: _noop()))
    stores = new_stores()
    with pytest.raises(Crash):
        run(start(stores, p, cfg, ids=_Ids(RUN)))
    results = []
    for _ in range(max_attempts + 3):
        try:
            results.append(run(make_engine(p).resume(stores, RUN)))
        except Crash:
            continue
        break
    assert len(calls) == max_attempts
    assert results and results[0].phase is RunPhase.FAILED
    stream = run(read_stream(stores, RUN))
    assert_log_valid(stream)
    assert attempts(stream) == list(range(max_attempts))
    assert len(orphan_closures(stream)) == max_attempts
    assert kernel(stream)[-1] == RunCompleted(RunStatus.FAILED, results[0].final_snapshot_id)
    # A further resume does not loop either.
    assert run(make_engine(p).resume(stores, RUN)) == results[0]
    assert len(calls) == max_attempts


async def _noop() -> None:
    return None


def test_failpoint_orphan_with_one_attempt_fails_on_resume() -> None:
    async def h(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write("x", 1)

    async def main() -> None:
        stores = new_stores()
        cfg = config(retry_policy=RetryPolicy(1, config().retry_policy.backoff))
        p = plan((S1, h))
        first = await start(stores, p, cfg, failpoints=failpoint())
        assert first.phase is RunPhase.RUNNING
        result = await make_engine(p).resume(stores, first.run_id)
        assert result.phase is RunPhase.FAILED
        stream = await read_stream(stores, first.run_id)
        assert attempts(stream) == [0]
        assert [f.error.code for f in failures(stream)] == [ORPHAN_ATTEMPT_RECOVERED]

    run(main())


def test_crash_between_failure_and_retry_resumes_at_next_attempt() -> None:
    calls: list[int] = []

    async def h(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise Crash("during attempt 0")
        if len(calls) == 2:
            raise Crash("during attempt 1")
        ctx.write("x", len(calls))

    p = plan((S1, h))
    stores = new_stores()
    with pytest.raises(Crash):
        run(start(stores, p, ids=_Ids(RUN)))
    with pytest.raises(Crash):
        run(make_engine(p).resume(stores, RUN))
    result = run(make_engine(p).resume(stores, RUN))
    assert result.phase is RunPhase.COMPLETED
    stream = run(read_stream(stores, RUN))
    assert attempts(stream) == [0, 1, 2]
    assert_log_valid(stream)


# ------------------------------------------------------------------ refusals on resume


def test_resume_refuses_history_naming_state_not_in_plan() -> None:
    async def main() -> None:
        stores = new_stores()
        first = await start(stores, plan((S1, _h_write)), failpoints=failpoint())
        assert first.phase is RunPhase.RUNNING
        before = await read_stream(stores, first.run_id)
        other = plan((S2, _h_write))
        with pytest.raises(RunError) as err:
            await make_engine(other).resume(stores, first.run_id)
        assert err.value.kind is RunErrorKind.INVALID_PLAN
        assert err.value.info.code == "recovery_state_not_in_plan"
        assert await read_stream(stores, first.run_id) == before

    run(main())


async def _h_write(ctx: Any, io: Any, ev: Any) -> None:
    ctx.write("x", 1)


async def _stopped_run(p: Any = None) -> tuple[Stores, uuid.UUID, Any]:
    stores = new_stores()
    p = p or plan((S1, _h_write))
    first = await start(stores, p, failpoints=failpoint())
    assert first.phase is RunPhase.RUNNING
    return stores, first.run_id, p


def test_resume_with_corrupted_manifest() -> None:
    async def main() -> None:
        stores, run_id, p = await _stopped_run()
        mid = of_type(await read_stream(stores, run_id), RunStarted)[0].manifest_id
        stores.artifacts.data[mid] = b'{"op_id":"op","tampered":true}'  # type: ignore[attr-defined]
        before = await read_stream(stores, run_id)
        with pytest.raises(RunError) as err:
            await make_engine(p).resume(stores, run_id)
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "manifest_corrupt"
        assert await read_stream(stores, run_id) == before

    run(main())


def test_resume_with_corrupted_snapshot() -> None:
    async def main() -> None:
        stores, run_id, p = await _stopped_run()
        snap = of_type(await read_stream(stores, run_id), RunStarted)[0].initial_snapshot_id
        stores.artifacts.data[snap] = b'{"x":666}'  # type: ignore[attr-defined]
        with pytest.raises(RunError) as err:
            await make_engine(p).resume(stores, run_id)
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "artifact_content_address_mismatch"
        assert err.value.info.category is ErrorCategory.STORAGE
        # No terminal event is written for an engine error.
        assert of_type(await read_stream(stores, run_id), RunCompleted) == []

    run(main())


def test_corrupted_fact_payload_is_refused() -> None:
    from mfm_engine import IoCall

    from tests.engine.helpers import CountingFactory, facts

    async def call(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write("v", await io.call(IoCall("g", {}, "k")))

    async def main() -> None:
        stores = new_stores()
        factory = CountingFactory(lambda c: {"v": 1})
        p = plan((S1, call))
        first = await start(stores, p, live_transport_factory=factory, failpoints=failpoint())
        [fact] = facts(await read_stream(stores, first.run_id))
        stores.artifacts.data[fact["payload_id"]] = b'{"v":2}'  # type: ignore[attr-defined]
        with pytest.raises(RunError) as err:
            await make_engine(p, live_transport_factory=factory).resume(stores, first.run_id)
        assert err.value.info.code == "artifact_content_address_mismatch"
        assert len(factory.calls) == 1

    run(main())


def test_store_returning_wrong_id_on_put() -> None:
    async def main() -> None:
        stores = Stores(WrongIdArtifactStore(), InMemoryEventStore())
        m = manifest()
        wrong = await store_manifest(stores, m)  # the store answers with a wrong id...
        mid = artifact_id_for_json(m.to_json())  # ...so the caller uses the real one
        assert wrong != mid
        p = plan((S1, _h_write))
        with pytest.raises(RunError) as err:
            await make_engine(p).start(stores, StartRun(m, mid, p, m.run_config, JsonContext({})))
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "artifact_put_id_mismatch"
        assert stores.events.streams == {}  # type: ignore[attr-defined]

    run(main())


def test_resume_of_unknown_run_is_run_not_found() -> None:
    async def main() -> None:
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, _h_write))).resume(new_stores(), uuid.uuid4())
        assert err.value.kind is RunErrorKind.STORAGE
        assert err.value.info.code == "run_not_found"

    run(main())


@pytest.mark.parametrize(
    "bad_plan",
    [
        pytest.param(lambda: plan(), id="empty"),
        pytest.param(lambda: plan((S1, _h_write), (S1, _h_write)), id="duplicate"),
        pytest.param(lambda: plan((S1, _h_write), edges=[(S1, S3)]), id="dangling_edge"),
        pytest.param(
            lambda: plan((S1, _h_write), (S2, _h_write), edges=[(S1, S2), (S2, S1)]), id="cycle"
        ),
        pytest.param(lambda: plan(("Bad.State", _h_write)), id="bad_state_id"),
    ],
)
def test_plan_is_validated_before_anything_is_written(bad_plan: Any) -> None:
    async def main() -> None:
        stores = new_stores()
        p = bad_plan()
        with pytest.raises(RunError) as err:
            await start(stores, p)
        assert err.value.kind is RunErrorKind.INVALID_PLAN
        assert err.value.info.code == "invalid_plan"
        assert stores.events.streams == {}  # type: ignore[attr-defined]
        assert list(stores.artifacts.kinds.values()) == [ArtifactKind.MANIFEST]  # type: ignore[attr-defined]

    run(main())


def test_resume_validates_the_resolved_plan_before_writing() -> None:
    async def main() -> None:
        stores, run_id, _ = await _stopped_run()
        before = await read_stream(stores, run_id)
        bad = plan((S1, _h_write), (S2, _h_write), edges=[(S1, S2), (S2, S1)])
        with pytest.raises(RunError) as err:
            await make_engine(bad).resume(stores, run_id)
        assert err.value.kind is RunErrorKind.INVALID_PLAN
        assert await read_stream(stores, run_id) == before

    run(main())


def test_resume_with_resolver_for_another_op_is_refused() -> None:
    async def main() -> None:
        stores, run_id, _ = await _stopped_run()
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, _h_write), op_id="other")).resume(stores, run_id)
        assert err.value.info.code == "plan_op_id_mismatch"

    run(main())


def test_manifest_run_config_is_the_one_used_on_resume() -> None:
    calls: list[int] = []

    async def flaky(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        raise Crash("x") if len(calls) == 1 else _retryable()

    async def main() -> tuple[Stores, uuid.UUID]:
        stores = new_stores()
        cfg = config(retry_policy=RetryPolicy(5, config().retry_policy.backoff))
        m = manifest(cfg)
        mid = await store_manifest(stores, m)
        p = plan((S1, flaky))
        eng = make_engine(p, ids=_Ids(RUN))
        with pytest.raises(Crash):
            await eng.start(stores, StartRun(m, mid, p, cfg, JsonContext({})))
        return stores, RUN

    stores, run_id = run(main())
    result = run(make_engine(plan((S1, flaky))).resume(stores, run_id))
    assert result.phase is RunPhase.FAILED
    assert attempts(run(read_stream(stores, run_id))) == [0, 1, 2, 3, 4]


def _retryable() -> Exception:
    from mfm_engine import StateError
    from mfm_engine.errors import info

    return StateError(info("flaky", ErrorCategory.UNKNOWN, "flaky", retryable=True))


def test_stream_with_only_domain_events_is_missing_run_started() -> None:
    from mfm_engine import DomainEvent, EventEnvelope

    async def main() -> None:
        stores = new_stores()
        rid = uuid.uuid4()
        await stores.events.append(rid, 0, [EventEnvelope(rid, 1, DomainEvent("op_boundary", {}))])
        with pytest.raises(RunError) as err:
            await make_engine(plan((S1, _h_write))).resume(stores, rid)
        assert err.value.info.code == "missing_run_started"

    run(main())


def test_resume_refuses_run_started_for_another_op() -> None:
    async def main() -> None:
        stores, run_id, p = await _stopped_run()
        stream = await read_stream(stores, run_id)
        rs = stream[0].event
        assert isinstance(rs, RunStarted)
        forged = RunStarted("other", rs.manifest_id, rs.initial_snapshot_id)
        stores.events.streams[run_id][0] = stream[0].__class__(
            run_id, 1, forged, stream[0].ts_millis
        )  # type: ignore[attr-defined]
        with pytest.raises(RunError) as err:
            await make_engine(p).resume(stores, run_id)
        assert err.value.info.code == "run_started_op_id_mismatch"

    run(main())


def test_orphan_retry_waits_the_backoff_of_the_orphaned_attempt() -> None:
    import asyncio
    from datetime import timedelta
    from unittest import mock

    from mfm_engine import Exponential

    calls: list[int] = []

    async def h(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise Crash("again")

    policy = RetryPolicy(5, Exponential(timedelta(milliseconds=10), timedelta(seconds=1)))
    cfg = config(retry_policy=policy)
    p = plan((S1, h))
    stores = new_stores()
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float, result: Any = None) -> Any:
        slept.append(delay)
        return await real_sleep(0, result)

    with mock.patch("asyncio.sleep", fake_sleep):
        with pytest.raises(Crash):
            run(start(stores, p, cfg, ids=_Ids(RUN)))
        with pytest.raises(Crash):
            run(make_engine(p).resume(stores, RUN))
        result = run(make_engine(p).resume(stores, RUN))
    assert result.phase is RunPhase.COMPLETED
    # Orphans of attempts 0 and 1 are retried after compute_backoff(policy, 0) and (policy, 1).
    assert slept == [0.010, 0.020]
    assert attempts(run(read_stream(stores, RUN))) == [0, 1, 2]
