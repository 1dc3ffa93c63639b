"""How a durable store runs its blocking disk calls: on one worker thread, or inline.

In real use a store's file and SQLite calls must not block the event loop, so they run on one
worker thread per store. One thread, not a pool: the calls of one store then run one at a
time in the order they were made, which keeps a store's own read-check-write sequences atomic
within the process. A caller that owns the loop and wants no threads at all (a simulation
driving the store on a virtual clock, a test) passes `inline=True`: each call then runs on the
loop itself, still one at a time since it never yields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["BlockingCalls"]

T = TypeVar("T")


class BlockingCalls:
    """Runs blocking callables for one store: inline, or on its own single worker thread."""

    def __init__(self, *, inline: bool, name: str) -> None:
        self.inline = inline
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self.inline:
            return fn(*args)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def run_now(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn` from synchronous code (closing): on the worker, waiting for it, if there
        is one, so it never runs beside a call still in flight."""
        if self._executor is None:
            return fn(*args)
        return self._executor.submit(fn, *args).result()

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
