"""Blocking store calls: inline on the loop, or one at a time on one worker thread."""

from __future__ import annotations

import asyncio
import threading
import time

from mfm_engine.blocking import BlockingCalls


def test_inline_runs_on_the_calling_thread_with_no_worker() -> None:
    calls = BlockingCalls(inline=True, name="t")
    seen = asyncio.run(calls.run(threading.get_ident))
    assert seen == threading.get_ident()
    assert calls._executor is None


def test_threaded_calls_run_on_one_worker_thread_in_order() -> None:
    calls = BlockingCalls(inline=False, name="t")
    order: list[int] = []

    def slow(i: int) -> int:
        # The first call is the slowest: on a pool it would finish last.
        time.sleep(0.02 if i == 0 else 0.0)
        order.append(i)
        return threading.get_ident()

    async def main() -> list[int]:
        return await asyncio.gather(*(calls.run(slow, i) for i in range(4)))

    try:
        threads = asyncio.run(main())
    finally:
        calls.shutdown()
    assert order == [0, 1, 2, 3]
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


def test_run_now_waits_on_the_worker_and_shutdown_is_idempotent() -> None:
    calls = BlockingCalls(inline=False, name="t")
    worker = asyncio.run(calls.run(threading.get_ident))
    assert calls.run_now(threading.get_ident) == worker
    calls.shutdown()
    calls.shutdown()
    # With no worker left, run_now runs on the caller.
    assert calls.run_now(threading.get_ident) == threading.get_ident()
