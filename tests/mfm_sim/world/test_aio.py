"""Tests for mfm_sim.world.aio: order-preserving wait / as_completed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfm_sim.world.aio import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    as_completed_ordered,
    wait_ordered,
)
from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.loop import SimLoop
from mfm_sim.world.rng import Rng

T = TypeVar("T")


def run(coro: Awaitable[T], rng: Rng | None = None) -> T:
    return SimLoop(VirtualClock(), rng).run_until_complete(coro)


async def after(delay: float, value: Any) -> Any:
    await asyncio.sleep(delay)
    return value


async def fail_after(delay: float) -> None:
    await asyncio.sleep(delay)
    raise ValueError("failed")


def test_wait_all_returns_done_in_input_order() -> None:
    async def main() -> list[Any]:
        tasks = [asyncio.create_task(after(d, d)) for d in (3, 1, 2)]
        done, pending = await wait_ordered(tasks)
        assert pending == []
        assert done == tasks
        return [t.result() for t in done]

    assert run(main()) == [3, 1, 2]


def test_wait_first_completed_keeps_pending_in_input_order() -> None:
    async def main() -> None:
        tasks = [asyncio.create_task(after(d, d)) for d in (3, 1, 2, 5)]
        done, pending = await wait_ordered(tasks, return_when=FIRST_COMPLETED)
        assert done == [tasks[1]]
        assert pending == [tasks[0], tasks[2], tasks[3]]
        assert asyncio.get_running_loop().time() == 1.0
        for t in pending:
            t.cancel()

    run(main())


def test_wait_first_exception() -> None:
    async def main() -> None:
        tasks = [
            asyncio.create_task(after(1, "ok")),
            asyncio.create_task(after(9, "slow")),
            asyncio.create_task(fail_after(2)),
        ]
        done, pending = await wait_ordered(tasks, return_when=FIRST_EXCEPTION)
        assert done == [tasks[0], tasks[2]]
        assert pending == [tasks[1]]
        assert asyncio.get_running_loop().time() == 2.0
        # With no failure it waits for everything.
        more = [asyncio.create_task(after(d, d)) for d in (1, 2)]
        done, pending = await wait_ordered(more, return_when=FIRST_EXCEPTION)
        assert (done, pending) == (more, [])
        tasks[1].cancel()

    run(main())


def test_wait_timeout_leaves_rest_pending_uncancelled() -> None:
    async def main() -> None:
        tasks = [asyncio.create_task(after(d, d)) for d in (5, 1, 10)]
        done, pending = await wait_ordered(tasks, timeout=4)
        assert done == [tasks[1]]
        assert pending == [tasks[0], tasks[2]]
        assert asyncio.get_running_loop().time() == 4.0
        assert not any(t.cancelled() for t in pending)
        done, pending = await wait_ordered(pending)
        assert asyncio.get_running_loop().time() == 10.0

    run(main())


def test_wait_accepts_coroutines_and_dedupes() -> None:
    async def main() -> None:
        task = asyncio.create_task(after(1, "t"))
        done, pending = await wait_ordered([after(2, "c"), task, task])
        assert pending == []
        assert len(done) == 2
        assert done[1] is task
        assert [f.result() for f in done] == ["c", "t"]

    run(main())


def test_wait_already_satisfied_does_not_yield() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        finished = loop.create_future()
        finished.set_result(1)
        unfinished = loop.create_future()
        steps = loop.steps  # type: ignore[attr-defined]
        done, pending = await wait_ordered([unfinished, finished], return_when=FIRST_COMPLETED)
        assert loop.steps == steps  # type: ignore[attr-defined]
        assert (done, pending) == ([finished], [unfinished])

    run(main())


def test_wait_validates_arguments() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="at least one"):
            await wait_ordered([])
        fut = asyncio.get_running_loop().create_future()
        with pytest.raises(ValueError, match="return_when"):
            await wait_ordered([fut], return_when="SOMETIMES")

    run(main())


def test_wait_cleans_up_callbacks_when_cancelled() -> None:
    async def main() -> None:
        fut = asyncio.get_running_loop().create_future()
        waiter = asyncio.create_task(wait_ordered([fut], timeout=100))
        await asyncio.sleep(1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert not fut._callbacks  # type: ignore[attr-defined]

    run(main())


async def _collect(aws: list[Awaitable[Any]]) -> list[Any]:
    return [f.result() async for f in as_completed_ordered(aws)]


def test_as_completed_in_completion_order() -> None:
    async def main() -> list[Any]:
        return await _collect([after(3, "c"), after(1, "a"), after(2, "b")])

    assert run(main()) == ["a", "b", "c"]


def test_as_completed_ties_and_already_done_follow_input_order() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        done_late, done_early = loop.create_future(), loop.create_future()
        done_late.set_result("pre-1")
        done_early.set_result("pre-2")
        return await _collect(
            [after(1, "tie-1"), done_late, after(1, "tie-2"), done_early, after(0.5, "first")]
        )

    assert run(main()) == ["pre-1", "pre-2", "first", "tie-1", "tie-2"]


def test_as_completed_yields_failed_futures_too() -> None:
    async def main() -> list[str]:
        out = []
        async for f in as_completed_ordered([fail_after(1), after(2, "ok")]):
            out.append(type(f.exception()).__name__ if f.exception() else f.result())
        return out

    assert run(main()) == ["ValueError", "ok"]


def test_as_completed_empty() -> None:
    assert run(_collect([])) == []


@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=12))
@settings(max_examples=50)
def test_as_completed_is_a_stable_sort_by_delay(delays: list[int]) -> None:
    async def main() -> list[Any]:
        return await _collect([after(d, i) for i, d in enumerate(delays)])

    assert run(main()) == sorted(range(len(delays)), key=lambda i: delays[i])


def test_as_completed_is_deterministic_under_exploration() -> None:
    async def main() -> list[Any]:
        return await _collect([after(0, i) for i in range(8)])

    for seed in range(5):
        assert run(main(), Rng(seed)) == run(main(), Rng(seed))
    orders = {tuple(run(main(), Rng(seed))) for seed in range(10)}
    assert len(orders) > 1  # exploration does reorder same-instant completions
    assert run(main()) == list(range(8))  # FIFO keeps input order


def test_wait_helpers_compose_with_all_completed_constant() -> None:
    async def main() -> int:
        done, _ = await wait_ordered([after(1, 1), after(1, 2)], return_when=ALL_COMPLETED)
        return sum(f.result() for f in done)

    assert run(main()) == 3
