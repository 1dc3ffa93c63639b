"""Order-preserving replacements for `asyncio.wait` and `asyncio.as_completed`.

Both asyncio functions put their arguments in a `set`, whose iteration order follows object
ids, i.e. memory addresses. That order leaks into which task is created first, which done
callback is registered first and the order of the returned collections, so code using them
can behave differently from run to run under the same seed. These helpers keep everything in
input order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Any, Generic, TypeVar

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "as_completed_ordered",
    "wait_ordered",
]

T = TypeVar("T")

FIRST_COMPLETED = asyncio.FIRST_COMPLETED
FIRST_EXCEPTION = asyncio.FIRST_EXCEPTION
ALL_COMPLETED = asyncio.ALL_COMPLETED


def _futures(aws: Iterable[Awaitable[T]]) -> list[asyncio.Future[T]]:
    loop = asyncio.get_running_loop()
    # dict.fromkeys de-duplicates (as asyncio.wait's set does) but keeps first-seen order.
    return list(dict.fromkeys(asyncio.ensure_future(a, loop=loop) for a in aws))


async def wait_ordered(
    aws: Iterable[Awaitable[T]],
    *,
    timeout: float | None = None,
    return_when: str = ALL_COMPLETED,
) -> tuple[list[asyncio.Future[T]], list[asyncio.Future[T]]]:
    """Like `asyncio.wait`, but `(done, pending)` are lists in input order.

    Coroutines are accepted and wrapped in tasks in input order (asyncio.wait rejects them
    because the caller could not find their tasks; here the returned lists line up with the
    input). Duplicates are waited on once. Returns at once, without yielding, if the
    condition already holds. Never cancels anything, including on timeout.
    """
    if return_when not in (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION):
        raise ValueError(f"Invalid return_when value: {return_when}")
    futs = _futures(aws)
    if not futs:
        raise ValueError("wait_ordered() needs at least one awaitable")
    pending = [f for f in futs if not f.done()]
    if return_when == FIRST_COMPLETED:
        satisfied = len(pending) < len(futs)
    elif return_when == FIRST_EXCEPTION:
        satisfied = not pending or any(_failed(f) for f in futs)
    else:
        satisfied = not pending
    if not satisfied:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        remaining = len(pending)

        def on_done(f: asyncio.Future[Any]) -> None:
            nonlocal remaining
            remaining -= 1
            if (
                remaining == 0
                or return_when == FIRST_COMPLETED
                or (return_when == FIRST_EXCEPTION and _failed(f))
            ):
                _release(waiter)

        timer = None if timeout is None else loop.call_later(timeout, _release, waiter)
        for f in pending:
            f.add_done_callback(on_done)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            for f in pending:
                f.remove_done_callback(on_done)
    return [f for f in futs if f.done()], [f for f in futs if not f.done()]


def _failed(f: asyncio.Future[Any]) -> bool:
    return f.done() and not f.cancelled() and f.exception() is not None


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def as_completed_ordered(aws: Iterable[Awaitable[T]]) -> AsyncIterator[asyncio.Future[T]]:
    """Iterate (with `async for`) over the futures of `aws` as they complete.

    Yields the completed futures themselves (call `.result()`), so each can be matched to
    its input. Order: those already done at the call come first, in input order; then the
    others in the order their done callbacks run, which is completion order under a FIFO
    loop and seeded under an exploring `SimLoop`. Must be called with a loop running. To
    bound the wait, wrap the iteration in `asyncio.timeout`.
    """
    return _AsCompleted(_futures(aws))


class _AsCompleted(Generic[T]):
    # A class rather than an async generator: an abandoned async generator is finalized by
    # the garbage collector at a moment the simulation does not control.

    def __init__(self, futs: list[asyncio.Future[T]]) -> None:
        self._loop = asyncio.get_running_loop()
        self._completed: deque[asyncio.Future[T]] = deque()
        self._left = len(futs)
        self._waiter: asyncio.Future[None] | None = None
        for f in futs:
            if f.done():
                self._completed.append(f)
        for f in futs:
            if not f.done():
                f.add_done_callback(self._on_done)

    def _on_done(self, fut: asyncio.Future[Any]) -> None:
        self._completed.append(fut)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> _AsCompleted[T]:
        return self

    async def __anext__(self) -> asyncio.Future[T]:
        if self._left == 0:
            raise StopAsyncIteration
        while not self._completed:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._left -= 1
        return self._completed.popleft()
