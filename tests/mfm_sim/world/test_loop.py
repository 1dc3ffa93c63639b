"""mfm_sim.world.loop.SimLoop: asyncio semantics on virtual time, determinism, failure modes."""

from __future__ import annotations

import asyncio
import gc
import math
import pickle
import time
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfm_sim.world.clock import NS_PER_SEC, VirtualClock
from mfm_sim.world.loop import Deadlock, LoopKilled, Runaway, SimLoop
from mfm_sim.world.rng import Rng
from tests.mfm_sim.collector import collector_off

T = TypeVar("T")


def run(coro: Awaitable[T], **kwargs: Any) -> tuple[T, SimLoop]:
    loop = SimLoop(VirtualClock(), **kwargs)
    return loop.run_until_complete(coro), loop


# ---------------------------------------------------------------- time


def test_hour_long_sleep_is_exact_and_instant() -> None:
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    started = time.perf_counter()
    now, loop = run(main())
    assert time.perf_counter() - started < 1.0
    assert now == 3600.0
    assert loop.clock.now_ns == 3600 * NS_PER_SEC


def test_sub_nanosecond_delays_round_to_integer_ns() -> None:
    async def main() -> None:
        await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        await asyncio.sleep(1e-9)

    _, loop = run(main())
    # Float seconds would give 0.30000000000000004; integer ns keeps the sum exact.
    assert loop.clock.now_ns == 300_000_001


def test_time_and_timer_handle_when() -> None:
    loop = SimLoop(VirtualClock(2 * NS_PER_SEC))
    assert loop.time() == 2.0
    handle = loop.call_later(1.5, lambda: None)
    assert handle.when() == 3.5
    handle = loop.call_at(10.25, lambda: None)
    assert handle.when() == 10.25


def test_equal_time_timers_fire_in_scheduling_order() -> None:
    loop = SimLoop(VirtualClock())
    fired: list[int] = []
    for i in range(10):
        # Alternate call_at and call_later to show they share one sequence.
        if i % 2:
            loop.call_at(5.0, fired.append, i)
        else:
            loop.call_later(5.0, fired.append, i)
    loop.call_later(1.0, fired.append, -1)
    loop.run_until_complete(asyncio.sleep(6))
    assert fired == [-1, *range(10)]


def test_timer_already_due_runs_after_ready_callbacks() -> None:
    loop = SimLoop(VirtualClock())
    order: list[str] = []
    loop.call_soon(order.append, "soon-1")
    loop.call_later(0, order.append, "later-0")
    loop.call_at(-5.0, order.append, "at-past")
    loop.call_soon(order.append, "soon-2")
    loop.run_until_complete(asyncio.sleep(0))
    assert order == ["soon-1", "later-0", "at-past", "soon-2"]


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=25))
@settings(max_examples=60)
def test_random_sleeps_wake_in_time_then_seq_order(delays_ms: list[int]) -> None:
    woke: list[tuple[int, int]] = []

    async def sleeper(index: int, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        woke.append((asyncio.get_running_loop().clock.now_ns, index))  # type: ignore[attr-defined]

    async def main() -> None:
        # Tasks start in creation order, so their timers' seq follows the index.
        await asyncio.gather(*(sleeper(i, d) for i, d in enumerate(delays_ms)))

    run(main())
    expected = sorted(range(len(delays_ms)), key=lambda i: delays_ms[i])
    assert [i for _, i in woke] == expected
    assert [t for t, _ in woke] == [delays_ms[i] * 1_000_000 for i in expected]


# ---------------------------------------------------------------- asyncio primitives


def test_running_loop_current_task_and_restore() -> None:
    async def main() -> tuple[asyncio.AbstractEventLoop, str]:
        task = asyncio.current_task()
        assert task is not None
        return asyncio.get_running_loop(), task.get_name()

    (inner, name), loop = run(main())
    assert inner is loop
    assert name == "Task-1"
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_nested_run_restores_outer_running_loop() -> None:
    inner_loop = SimLoop(VirtualClock())

    async def inner() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def outer() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
        seen = inner_loop.run_until_complete(inner())
        return seen, asyncio.get_running_loop()

    (seen, after), outer_loop = run(outer())
    assert seen is inner_loop
    assert after is outer_loop


def test_sequential_runs_continue_time_and_state() -> None:
    loop = SimLoop(VirtualClock())
    assert loop.run_until_complete(asyncio.sleep(1, result="a")) == "a"
    assert loop.run_until_complete(asyncio.sleep(2, result="b")) == "b"
    assert loop.time() == 3.0
    assert not loop.is_running()


def test_tasks_get_per_loop_deterministic_names() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(asyncio.sleep(0)) for _ in range(2)]
        named = asyncio.create_task(asyncio.sleep(0), name="custom")
        await asyncio.gather(*tasks, named)
        return [t.get_name() for t in [*tasks, named]]

    for _ in range(2):
        names, _ = run(main())
        assert names == ["Task-2", "Task-3", "custom"]


def test_wait_for_times_out_in_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.sleep(100), timeout=2.5)
        assert loop.time() == 2.5
        assert await asyncio.wait_for(asyncio.sleep(1, result=7), timeout=5) == 7
        return loop.time()

    now, _ = run(main())
    # The finished wait_for's 5 s timer was cancelled, so time did not jump to it.
    assert now == 3.5


def test_asyncio_timeout_context_manager() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                await asyncio.sleep(60)
        assert loop.time() == 1.5
        async with asyncio.timeout_at(loop.time() + 10):
            await asyncio.sleep(1)
        return loop.time()

    now, _ = run(main())
    assert now == 2.5


def test_gather_collects_results_in_order() -> None:
    async def value(v: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return v

    async def main() -> list[int]:
        return await asyncio.gather(value(1, 3), value(2, 1), value(3, 2))

    results, loop = run(main())
    assert results == [1, 2, 3]
    assert loop.time() == 3.0


def test_gather_propagates_exceptions() -> None:
    async def boom() -> None:
        await asyncio.sleep(1)
        raise ValueError("boom")

    async def main() -> list[Any]:
        return await asyncio.gather(boom(), asyncio.sleep(2), return_exceptions=True)

    results, _ = run(main())
    assert isinstance(results[0], ValueError)


def test_lock_gives_mutual_exclusion() -> None:
    lock = None
    inside = 0
    max_inside = 0

    async def worker() -> None:
        nonlocal inside, max_inside
        assert lock is not None
        for _ in range(3):
            async with lock:
                inside += 1
                max_inside = max(max_inside, inside)
                await asyncio.sleep(0.1)
                inside -= 1

    async def main() -> None:
        nonlocal lock
        lock = asyncio.Lock()
        await asyncio.gather(*(worker() for _ in range(4)))

    for rng in (None, Rng(1), Rng(2)):
        max_inside = 0
        _, loop = run(main(), rng=rng)
        assert max_inside == 1
        assert loop.clock.now_ns == 12 * 100_000_000


def test_event_semaphore_queue_and_shield() -> None:
    async def main() -> dict[str, Any]:
        event = asyncio.Event()
        sem = asyncio.Semaphore(2)
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)
        active = 0
        peak = 0

        async def limited() -> None:
            nonlocal active, peak
            async with sem:
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(1)
                active -= 1

        async def producer() -> None:
            await event.wait()
            for i in range(5):
                await queue.put(i)
            await queue.put(-1)

        async def consumer() -> list[int]:
            got = []
            while (item := await queue.get()) != -1:
                got.append(item)
                await asyncio.sleep(0.5)
            return got

        async def slow() -> str:
            await asyncio.sleep(3)
            return "shielded"

        consumed = asyncio.create_task(consumer())
        produced = asyncio.create_task(producer())
        limiters = asyncio.gather(*(limited() for _ in range(5)))
        await asyncio.sleep(1)
        event.set()
        inner = asyncio.ensure_future(slow())
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(inner), timeout=1)
        await limiters
        await produced
        return {"got": await consumed, "peak": peak, "shielded": await inner}

    out, _ = run(main())
    assert out == {"got": [0, 1, 2, 3, 4], "peak": 2, "shielded": "shielded"}


def test_cancellation_runs_finally_and_skips_cancelled_timer() -> None:
    cleaned = []

    async def sleeper() -> None:
        try:
            await asyncio.sleep(1000)
        finally:
            cleaned.append(asyncio.get_running_loop().time())

    async def main() -> float:
        task = asyncio.create_task(sleeper())
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        return asyncio.get_running_loop().time()

    now, loop = run(main())
    assert cleaned == [1.0]
    assert now == 1.0
    assert loop.clock.now_ns == NS_PER_SEC  # the 1000 s timer never moved the clock


def test_cancelled_timer_handle_does_not_run() -> None:
    loop = SimLoop(VirtualClock())
    ran = []
    handle = loop.call_later(1, ran.append, "x")
    handle.cancel()
    loop.run_until_complete(asyncio.sleep(2))
    assert ran == []


def test_many_cancelled_timers_are_compacted() -> None:
    async def main() -> None:
        for _ in range(1000):
            await asyncio.wait_for(asyncio.sleep(0), timeout=3600)

    _, loop = run(main())
    assert loop.time() == 0.0
    assert len(loop._timers) < 250


def test_infinite_sleep_alone_is_a_deadlock() -> None:
    with pytest.raises(Deadlock):
        run(asyncio.sleep(math.inf))


# ---------------------------------------------------------------- failure modes


def test_unresolved_future_raises_deadlock_not_hang() -> None:
    async def main() -> None:
        await asyncio.sleep(5)
        await asyncio.get_running_loop().create_future()

    loop = SimLoop(VirtualClock())
    with pytest.raises(Deadlock) as info:
        loop.run_until_complete(main())
    assert info.value.time_ns == 5 * NS_PER_SEC
    assert "5.000000000s" in str(info.value)
    assert "Task-1" in str(info.value)
    assert "main()" in str(info.value)


def test_lock_order_inversion_deadlock_names_both_tasks() -> None:
    async def main() -> None:
        a, b = asyncio.Lock(), asyncio.Lock()

        async def one() -> None:
            async with a:
                await asyncio.sleep(1)
                async with b:
                    pass

        async def two() -> None:
            async with b:
                await asyncio.sleep(1)
                async with a:
                    pass

        await asyncio.gather(one(), two())

    with pytest.raises(Deadlock) as info:
        run(main())
    text = str(info.value)
    assert len(info.value.tasks) == 3
    assert "Task-2" in text
    assert "Task-3" in text
    assert "one()" in text
    assert "two()" in text


def test_errors_are_picklable() -> None:
    for exc in (Deadlock(5, ("Task-1 main()",), "Future"), Runaway("too long", 3, 4)):
        clone = pickle.loads(pickle.dumps(exc))
        assert type(clone) is type(exc)
        assert str(clone) == str(exc)


def test_step_budget_raises_runaway() -> None:
    async def spin() -> None:
        while True:
            await asyncio.sleep(0)

    loop = SimLoop(VirtualClock(), max_steps=1000)
    with pytest.raises(Runaway, match="step budget") as info:
        loop.run_until_complete(spin())
    assert loop.steps == 1000
    assert info.value.steps == 1000


def test_time_budget_raises_runaway_without_overshooting() -> None:
    async def tick() -> None:
        while True:
            await asyncio.sleep(1)

    loop = SimLoop(VirtualClock(), max_time_ns=10 * NS_PER_SEC)
    with pytest.raises(Runaway, match="virtual time budget"):
        loop.run_until_complete(tick())
    assert loop.clock.now_ns == 10 * NS_PER_SEC


def test_callback_exceptions_are_recorded_not_printed(capfd: pytest.CaptureFixture[str]) -> None:
    loop = SimLoop(VirtualClock())

    def bad() -> None:
        raise ZeroDivisionError("oops")

    loop.call_later(1, bad)
    loop.run_until_complete(asyncio.sleep(2))
    assert len(loop.unhandled) == 1
    entry = loop.unhandled[0]
    assert isinstance(entry["exception"], ZeroDivisionError)
    assert entry["time_ns"] == NS_PER_SEC
    assert "Exception in callback" in entry["message"]
    assert capfd.readouterr().err == ""


def test_custom_exception_handler_and_its_own_failure() -> None:
    loop = SimLoop(VirtualClock())
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: seen.append(ctx))
    assert loop.get_exception_handler() is not None
    loop.call_soon(lambda: 1 / 0)
    loop.run_until_complete(asyncio.sleep(0))
    assert len(seen) == 1
    assert loop.unhandled == []

    def broken(_loop: asyncio.AbstractEventLoop, ctx: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    loop.set_exception_handler(broken)
    loop.call_soon(lambda: 1 / 0)
    loop.run_until_complete(asyncio.sleep(0))
    assert isinstance(loop.unhandled[0]["exception"], RuntimeError)
    with pytest.raises(TypeError):
        loop.set_exception_handler(42)  # type: ignore[arg-type]


def test_stop_ends_run_before_future_completes() -> None:
    loop = SimLoop(VirtualClock())
    loop.call_later(1, loop.stop)
    with pytest.raises(RuntimeError, match="stopped before Future completed"):
        loop.run_until_complete(asyncio.sleep(5))
    # The stop flag does not leak into the next run.
    loop.run_until_complete(asyncio.sleep(5))
    assert loop.time() == 6.0


def test_run_forever_until_stop_and_deadlock_when_idle() -> None:
    loop = SimLoop(VirtualClock())
    loop.call_later(3, loop.stop)
    loop.run_forever()
    assert loop.time() == 3.0
    with pytest.raises(Deadlock):
        loop.run_forever()


def test_closed_loop_refuses_work() -> None:
    loop = SimLoop(VirtualClock())
    loop.close()
    assert loop.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_later(1, print)
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_until_complete(coro)
    coro.close()


def test_cannot_close_or_rerun_while_running() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert loop.is_running()
        with pytest.raises(RuntimeError):
            loop.close()
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_until_complete(asyncio.sleep(0))

    run(main())


def test_real_io_is_refused() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with pytest.raises(NotImplementedError, match="real IO"):
            loop.run_in_executor(None, print)
        with pytest.raises(NotImplementedError):
            await asyncio.to_thread(print)
        with pytest.raises(NotImplementedError):
            await asyncio.open_connection("localhost", 80)
        with pytest.raises(NotImplementedError):
            loop.add_signal_handler(2, print)

    run(main())


def test_debug_and_noop_shutdowns() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.shutdown_asyncgens()
        await loop.shutdown_default_executor()

    _, loop = run(main())
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True


# ---------------------------------------------------------------- interleaving


def _interleaving_program(log: list[tuple[int, int]]) -> Coroutine[Any, Any, None]:
    async def worker(wid: int) -> None:
        for i in range(4):
            log.append((wid, i))
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(worker(w) for w in range(4)))

    return main()


def _trace(rng: Rng | None) -> tuple[tuple[int, int], ...]:
    log: list[tuple[int, int]] = []
    run(_interleaving_program(log), rng=rng)
    return tuple(log)


def test_fifo_mode_is_round_robin() -> None:
    assert _trace(None) == tuple((w, i) for i in range(4) for w in range(4))


def test_seeded_interleaving_is_deterministic_and_seed_dependent() -> None:
    for seed in range(5):
        assert _trace(Rng(seed)) == _trace(Rng(seed))
    traces = {_trace(Rng(seed)) for seed in range(10)}
    assert len(traces) >= 5
    # Whatever the order, each worker's own steps stay in program order.
    for trace in traces:
        for w in range(4):
            assert [i for wid, i in trace if wid == w] == [0, 1, 2, 3]


def test_steps_counter_counts_callbacks() -> None:
    loop = SimLoop(VirtualClock())
    for _ in range(3):
        loop.call_soon(lambda: None)
    loop.call_soon(lambda: None).cancel()  # cancelled handles are not steps
    fut = loop.create_future()
    loop.call_soon(fut.set_result, None)
    loop.run_until_complete(fut)
    assert loop.steps == 4


# ---------------------------------------------------------------- dead mode


def test_killed_loop_never_runs_anything_again() -> None:
    clock = VirtualClock()
    ran: list[str] = []
    old = SimLoop(clock)

    async def victim() -> None:
        ran.append("victim started")
        await asyncio.sleep(1)
        ran.append("victim resumed")

    old.create_task(victim())
    old.call_soon(ran.append, "soon")
    old.call_later(2, ran.append, "later")
    tasks = old.kill()
    assert old.is_dead()
    assert len(tasks) == 1
    # Scheduling on a dead loop is silently inert, not an error in the live code poking it.
    old.call_soon(ran.append, "after kill")
    old.call_later(1, ran.append, "after kill later")
    old.create_task(victim())
    with pytest.raises(LoopKilled):
        old.run_until_complete(asyncio.sleep(0))

    new = SimLoop(clock)
    new.run_until_complete(asyncio.sleep(10))
    assert ran == []
    assert clock.now_ns == 10 * NS_PER_SEC


def test_kill_from_a_callback_ends_the_run_immediately() -> None:
    clock = VirtualClock()
    loop = SimLoop(clock)
    progress: list[int] = []

    async def process() -> None:
        for i in range(10):
            progress.append(i)
            await asyncio.sleep(1)

    loop.call_later(3.5, loop.kill)
    with pytest.raises(LoopKilled):
        loop.run_until_complete(process())
    assert progress == [0, 1, 2, 3]
    assert clock.now_ns == 3_500_000_000
    # The next incarnation picks up virtual time where the crash left it.
    nxt = SimLoop(clock)
    assert nxt.run_until_complete(asyncio.sleep(1, result="ok")) == "ok"
    assert clock.now_ns == 4_500_000_000
    assert progress == [0, 1, 2, 3]


def test_dead_tasks_stay_frozen_while_the_loop_is_referenced() -> None:
    finalized: list[str] = []

    async def victim() -> None:
        try:
            await asyncio.sleep(100)
        finally:
            finalized.append("finally ran")

    loop = SimLoop(VirtualClock())
    loop.create_task(victim())
    loop.run_until_complete(asyncio.sleep(1))
    loop.kill()
    gc.collect()
    assert finalized == []


def test_collecting_a_killed_loop_is_silent(
    capfd: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    collected = []

    async def victim() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            # Documented limitation: collection throws GeneratorExit into started coroutines.
            collected.append(True)

    async def failing() -> None:
        raise ValueError("never retrieved")

    loop = SimLoop(VirtualClock())
    for _ in range(3):
        loop.create_task(victim())
    loop.create_task(failing())
    loop.run_until_complete(asyncio.sleep(1))
    loop.create_task(victim())  # scheduled, not started when killed
    loop.kill()
    del loop
    gc.collect()
    assert len(collected) == 3  # the tasks really were collected, not just kept alive
    assert [str(w.message) for w in recwarn] == []
    captured = capfd.readouterr()
    assert "destroyed but it is pending" not in captured.err
    assert "never awaited" not in captured.err
    assert "never retrieved" not in captured.err


def test_a_finished_loop_and_its_tasks_hold_no_reference_cycle() -> None:
    import weakref

    async def child() -> int:
        return 1

    async def main() -> int:
        return await asyncio.get_running_loop().create_task(child()) + 1

    loop = SimLoop(VirtualClock())
    assert loop.run_until_complete(main()) == 2
    assert loop._pending_tasks() == []
    gone = weakref.ref(loop)
    with collector_off():
        del loop
        assert gone() is None


def test_a_killed_loop_forgets_its_finished_tasks_and_entombs_the_pending() -> None:
    async def blocked() -> None:
        await asyncio.get_running_loop().create_future()

    loop = SimLoop(VirtualClock())

    async def main() -> None:
        asyncio.get_running_loop().create_task(blocked())
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    pending = loop.kill()
    assert [t.done() for t in pending] == [False]
    assert loop._tasks == [] and loop._entombed == pending


def test_a_raised_result_leaves_no_cycle_through_the_task() -> None:
    import weakref

    class Boom(Exception):
        pass

    async def fails() -> None:
        raise Boom

    def run() -> weakref.ref[BaseException]:
        loop = SimLoop(VirtualClock())
        try:
            loop.run_until_complete(fails())
        except Boom as exc:
            return weakref.ref(exc)
        raise AssertionError("no exception")

    with collector_off():
        gone = run()  # every frame that saw the exception has returned
        assert gone() is None  # freed by reference counting alone


def test_a_task_left_pending_by_one_run_survives_the_next_and_is_entombed() -> None:
    async def blocked() -> None:
        await asyncio.get_running_loop().create_future()

    async def spawn() -> None:
        asyncio.get_running_loop().create_task(blocked(), name="left")
        await asyncio.sleep(0)

    async def later() -> int:
        return 7

    loop = SimLoop(VirtualClock())
    loop.run_until_complete(spawn())
    assert loop.run_until_complete(later()) == 7  # prunes only finished tasks
    assert [t.get_name() for t in loop._pending_tasks()] == ["left"]
    assert [t.get_name() for t in loop.kill()] == ["left"]
