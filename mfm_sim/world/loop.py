"""A deterministic asyncio event loop driven by virtual time.

`SimLoop` implements the part of `asyncio.AbstractEventLoop` that asyncio's own primitives
(Task, Future, sleep, wait_for, timeout, gather, shield, Lock, Event, Queue, Semaphore, ...)
rely on, and nothing that touches the outside world. It deliberately does not derive from
`BaseEventLoop`: that class polls a selector on every iteration and reads the real clock,
both of which cost time on the simulator's hottest path and leak real-world nondeterminism.

Scheduling model:

* The ready queue holds callbacks runnable at the current virtual instant. Without an `Rng`
  it is FIFO, like asyncio. With one, every step runs a uniformly chosen ready callback, so
  different seeds explore different interleavings while one seed always replays the same one.
* Timers live in a per-loop `TimerQueue` ordered by (when_ns, seq). Only when nothing is
  ready does virtual time jump straight to the next live timer, so an hour-long sleep costs
  one step. If nothing is ready and no timer is pending while the awaited future is still
  unresolved, the program can never make progress: `Deadlock` is raised instead of hanging.
* `kill()` models a crashed process: nothing scheduled on a dead loop ever runs again.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import re
import sys
from asyncio import events
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextvars import Context
from types import CoroutineType
from typing import Any, TypeVar

from mfm_sim.world.clock import NS_PER_SEC, TimerQueue, VirtualClock
from mfm_sim.world.rng import Rng

__all__ = ["Deadlock", "LoopKilled", "Runaway", "SimLoop"]

T = TypeVar("T")

ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]

# Rebuilding the timer queue costs O(n), so only do it once cancelled timers are both
# numerous and the majority (the same policy asyncio's BaseEventLoop uses).
_MIN_CANCELLED_TO_COMPACT = 100
_MAX_TASKS_DESCRIBED = 10


class Deadlock(Exception):
    """Nothing is ready, no timer is pending, and the awaited future is unresolved."""

    def __init__(self, time_ns: int, tasks: tuple[str, ...], awaited: str = "") -> None:
        # Keep the constructor arguments in .args so the exception pickles (pytest-xdist,
        # multiprocessing seed sweeps) and rebuilds its message on the other side.
        super().__init__(time_ns, tasks, awaited)
        self.time_ns = time_ns
        self.tasks = tasks
        self.awaited = awaited

    def __str__(self) -> str:
        head = f"deadlock at t={_fmt_ns(self.time_ns)}: nothing ready and no timer pending"
        if self.awaited:
            head += f" while awaiting {self.awaited}"
        if not self.tasks:
            return head + "; no pending tasks"
        shown = "; ".join(self.tasks[:_MAX_TASKS_DESCRIBED])
        more = len(self.tasks) - _MAX_TASKS_DESCRIBED
        tail = f"; ... and {more} more" if more > 0 else ""
        return f"{head}; {len(self.tasks)} pending task(s): {shown}{tail}"


class Runaway(Exception):
    """The run exceeded its step budget or virtual-time budget."""

    def __init__(self, reason: str, steps: int, time_ns: int) -> None:
        super().__init__(reason, steps, time_ns)
        self.reason = reason
        self.steps = steps
        self.time_ns = time_ns

    def __str__(self) -> str:
        return f"runaway at t={_fmt_ns(self.time_ns)} after {self.steps} steps: {self.reason}"


class LoopKilled(Exception):
    """The loop was killed (simulated crash) before or during `run_until_complete`."""


def _fmt_ns(ns: int) -> str:
    return f"{ns // NS_PER_SEC}.{ns % NS_PER_SEC:09d}s ({ns} ns)"


def _never_done() -> bool:
    return False


_NATURAL_SPLIT = re.compile(r"(\d+)")


def _natural_key(name: str) -> list[Any]:
    # "Task-10" must sort after "Task-9" for reports to list tasks in creation order.
    return [int(p) if p.isdigit() else p for p in _NATURAL_SPLIT.split(name)]


_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)


def _describe_task(task: asyncio.Task[Any]) -> str:
    """Task name plus where it is stuck: its innermost coroutine frame outside asyncio itself
    (``Lock.acquire()`` is the same line for every lock wait, the caller is what matters)."""
    where = ""
    obj: Any = task.get_coro()
    while obj is not None:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is not None and (
            not where or not frame.f_code.co_filename.startswith(_ASYNCIO_DIR)
        ):
            filename = os.path.basename(frame.f_code.co_filename)
            where = f" {getattr(obj, '__qualname__', '?')}() at {filename}:{frame.f_lineno}"
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
    waiter = getattr(task, "_fut_waiter", None)
    awaiting = ""
    if isinstance(waiter, asyncio.Task):
        awaiting = f" awaiting task {waiter.get_name()}"
    elif waiter is not None:
        awaiting = f" awaiting {type(waiter).__name__}"
    return f"{task.get_name()}{where}{awaiting}"


class SimLoop(asyncio.AbstractEventLoop):
    """Deterministic, single-threaded event loop on a `VirtualClock`.

    `max_steps` bounds the number of callbacks this loop runs over its lifetime;
    `max_time_ns` bounds absolute virtual time (the clock may be shared with earlier loops).
    Exceeding either raises `Runaway` from `run_until_complete`.
    """

    def __init__(
        self,
        clock: VirtualClock,
        rng: Rng | None = None,
        *,
        max_steps: int | None = None,
        max_time_ns: int | None = None,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.max_steps = max_steps
        self.max_time_ns = max_time_ns
        self.steps = 0
        # Contexts passed to the exception handler, each with "time_ns" and "step" added so
        # the harness can report when it happened; see `default_exception_handler`.
        self.unhandled: list[dict[str, Any]] = []
        # A list (swap-remove at a random index) when exploring, a deque (O(1) popleft) when
        # FIFO: the two modes need different cheap operations.
        self._ready: deque[asyncio.Handle] | list[asyncio.Handle] = deque() if rng is None else []
        self._timers: TimerQueue[asyncio.TimerHandle] = TimerQueue()
        # Bit buffer for _pick_random.
        self._bits = 0
        self._bits_left = 0
        self._cancelled_timers = 0
        self._running = False
        self._closed = False
        self._dead = False
        # True once closed or dead: the single flag keeps the check in call_soon cheap.
        self._halted = False
        self._stopping = False
        # Checked after every callback; set by stop() and kill() so the run ends promptly.
        self._interrupt = False
        self._debug = False
        self._exception_handler: ExceptionHandler | None = None
        self._task_factory: Any = None
        self._task_counter = 0
        self._entombed: list[asyncio.Task[Any]] = []
        self._tasks: list[asyncio.Task[Any]] = []  # created here, unfinished ones at least

    def __repr__(self) -> str:
        if self._dead:
            state = "dead"
        elif self._closed:
            state = "closed"
        else:
            state = "running" if self._running else "idle"
        return (
            f"<SimLoop {state} t={self.clock.now_ns}ns steps={self.steps} "
            f"ready={len(self._ready)} timers={len(self._timers)}>"
        )

    # ------------------------------------------------------------------ running

    def run_until_complete(self, future: Awaitable[T]) -> T:
        """Run until `future` (a coroutine, Task, Future or other awaitable) is done.

        Raises `Deadlock`, `Runaway` or `LoopKilled` instead of hanging; raises RuntimeError
        if `stop()` ends the run first. Callbacks still queued when the future completes stay
        queued for the next run, so sequential calls continue where the last one left off.
        """
        try:
            self._check_runnable()
        except BaseException:
            # The coroutine will never run; closing it avoids a "never awaited" warning
            # pointing away from the real error.
            _close_if_unstarted(future)
            raise
        # A coroutine (the usual case) becomes a task directly: `ensure_future` would only
        # find that out through two Python-level calls.
        try:
            if type(future) is CoroutineType:
                fut: asyncio.Future[Any] = self.create_task(future)
            else:
                fut = asyncio.ensure_future(future, loop=self)
        except BaseException:
            _close_if_unstarted(future)  # as above: a task factory may refuse it
            raise
        self._run_guarded(fut)
        # Finished tasks leave the list: a task refers to its loop, so a loop still listing
        # it would be a reference cycle that only the collector could free.
        tasks = self._tasks
        if tasks:
            tasks[:] = [t for t in tasks if not t.done()]
        if self._dead:
            raise LoopKilled("loop was killed before the awaited future completed")
        if not fut.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        try:
            return fut.result()
        finally:
            # A raised result's traceback holds this frame; without `fut` in it there is no
            # cycle (task -> exception -> traceback -> frame -> task) left for the collector.
            del fut

    def run_forever(self) -> None:
        """Run until `stop()`; raises `Deadlock` if the loop goes idle before that."""
        self._check_runnable()
        self._run_guarded(None)
        if self._dead:
            raise LoopKilled("loop was killed while running forever")

    def _check_runnable(self) -> None:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._dead:
            raise LoopKilled("loop is dead (its process crashed); start a new loop")
        if self._running:
            raise RuntimeError("This event loop is already running")

    def _run_guarded(self, fut: asyncio.Future[Any] | None) -> None:
        # Restoring (rather than clearing) the previous running loop lets a SimLoop be driven
        # from inside another loop's callback, e.g. a test already running under asyncio.
        prev_loop = events._get_running_loop()
        prev_hooks = sys.get_asyncgen_hooks()
        # Async generators first iterated here must not register with some other loop's
        # hooks, which would schedule their finalization on that loop.
        sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
        events._set_running_loop(self)
        self._running = True
        try:
            self._run(fut)
        finally:
            self._running = False
            self._stopping = False
            self._interrupt = self._dead
            events._set_running_loop(prev_loop)
            sys.set_asyncgen_hooks(*prev_hooks)

    def _run(self, fut: asyncio.Future[Any] | None) -> None:
        # Hot path: every attribute used per step is bound to a local first.
        ready = self._ready
        is_done = fut.done if fut is not None else _never_done
        if self.rng is None:
            assert isinstance(ready, deque)
            pick: Callable[[], asyncio.Handle] = ready.popleft
            unpick: Callable[[asyncio.Handle], None] = ready.appendleft
        else:
            pick = self._pick_random
            unpick = ready.append
        limit = self.max_steps if self.max_steps is not None else sys.maxsize
        # Timers may have come due while this loop was not running (the clock can be advanced
        # by another loop or by the harness).
        if not ready:
            self._move_due_timers()
        while not is_done():
            if ready:
                handle = pick()
                if handle._cancelled:
                    continue
                if self.steps >= limit:
                    unpick(handle)
                    raise Runaway(
                        f"step budget of {limit} exhausted", self.steps, self.clock.now_ns
                    )
                self.steps += 1
                # Inlined Handle._run(): saves a Python frame per step.
                try:
                    handle._context.run(handle._callback, *handle._args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._callback_failed(handle, exc)
                if self._interrupt:
                    return
            elif self._interrupt:
                return
            else:
                self._advance(fut)

    def _pick_random(self) -> asyncio.Handle:
        ready: list[asyncio.Handle] = self._ready  # type: ignore[assignment]  # list when exploring
        n = len(ready)
        # A lone candidate needs no draw: forced steps cost neither time nor randomness.
        if n == 1:
            return ready.pop()
        # Unbiased rejection sampling on k-bit chunks of a buffered 64-bit word (`next_u64`,
        # two draws): ready queues are small, so one word usually serves several steps.
        k = (n - 1).bit_length()
        mask = (1 << k) - 1
        while True:
            if self._bits_left < k:
                self._bits = self.rng.next_u64()  # type: ignore[union-attr]  # set when exploring
                self._bits_left = 64
            i = self._bits & mask
            self._bits >>= k
            self._bits_left -= k
            if i < n:
                break
        last = ready.pop()
        if i == n - 1:
            return last
        handle = ready[i]
        ready[i] = last
        return handle

    def _advance(self, fut: asyncio.Future[Any] | None) -> None:
        """Nothing is ready: jump the clock to the next live timer, or report why we can't."""
        timers = self._timers
        while True:
            head = timers.peek()
            if head is None:
                raise self._deadlock(fut)
            when_ns, handle = head
            if not handle._cancelled:
                break
            timers.pop()
            handle._scheduled = False
            self._cancelled_timers -= 1
        clock = self.clock
        if when_ns > clock.now_ns:
            if self.max_time_ns is not None and when_ns > self.max_time_ns:
                raise Runaway(
                    f"virtual time budget of {self.max_time_ns} ns exhausted "
                    f"(next timer due at {when_ns} ns)",
                    self.steps,
                    clock.now_ns,
                )
            clock.advance_to(when_ns)
        self._move_due_timers()

    def _move_due_timers(self) -> None:
        ready = self._ready
        for handle in self._timers.pop_due(self.clock.now_ns):
            handle._scheduled = False
            if handle._cancelled:
                self._cancelled_timers -= 1
            else:
                ready.append(handle)

    def _deadlock(self, fut: asyncio.Future[Any] | None) -> Deadlock:
        tasks = sorted(self._pending_tasks(), key=lambda t: _natural_key(t.get_name()))
        awaited = ""
        if fut is not None:
            if isinstance(fut, asyncio.Task):
                awaited = f"task {fut.get_name()}"
            else:
                awaited = type(fut).__name__
        return Deadlock(self.clock.now_ns, tuple(_describe_task(t) for t in tasks), awaited)

    def _pending_tasks(self) -> list[asyncio.Task[Any]]:
        # The loop's own list, not `asyncio.all_tasks`: that walks every task of the process.
        # Tasks reach a loop through `create_task` (ensure_future, gather, TaskGroup, ...).
        return [t for t in self._tasks if not t.done()]

    def _callback_failed(self, handle: asyncio.Handle, exc: BaseException) -> None:
        self.call_exception_handler(
            {"message": f"Exception in callback {handle!r}", "exception": exc, "handle": handle}
        )

    def is_running(self) -> bool:
        return self._running

    def stop(self) -> None:
        """End the current run after the callback now executing (or the next one to run)."""
        self._stopping = True
        self._interrupt = True

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._running:
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        self._closed = True
        self._halted = True
        self._drop_scheduled()

    def _drop_scheduled(self) -> None:
        self._ready.clear()
        for handle in self._timers.drain():
            # Unscheduled handles no longer report their cancellation back to this loop.
            handle._scheduled = False
        self._cancelled_timers = 0

    # ------------------------------------------------------------------ dead mode

    def kill(self) -> list[asyncio.Task[Any]]:
        """Mark the loop dead: nothing already scheduled or scheduled later ever runs.

        If called from inside a callback, the run ends right after that callback and
        `run_until_complete` raises `LoopKilled`.

        Returns the tasks that were pending, in creation order. The loop also keeps them
        alive itself, and the caller should keep the dead loop (or the returned list)
        referenced until the simulation ends: once a suspended coroutine is garbage-collected,
        Python throws GeneratorExit into it, which runs its `finally` blocks - code of the
        crashed incarnation, executed at whatever moment the collector happens to run.
        """
        if self._dead:
            return list(self._entombed)
        # Collect the tasks before dropping the queues: the ready queue may hold the only
        # strong reference to a task that has not started yet (asyncio tracks tasks weakly).
        tasks = sorted(self._pending_tasks(), key=lambda t: _natural_key(t.get_name()))
        self._dead = True
        self._halted = True
        self._interrupt = True
        self._drop_scheduled()
        for task in tasks:
            task._log_destroy_pending = False  # type: ignore[attr-defined]
            _close_if_unstarted(task.get_coro())
        self._entombed.extend(tasks)
        self._tasks.clear()  # the pending ones are entombed; the finished ones are done with
        return tasks

    def is_dead(self) -> bool:
        return self._dead

    # ------------------------------------------------------------------ scheduling

    def _refuse(self, handle: asyncio.Handle) -> asyncio.Handle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        # Dead: other (live) parts of the simulation may still poke this process's futures;
        # that must be silently inert rather than an error in the live code.
        handle.cancel()
        return handle

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        if self._halted:
            return self._refuse(handle)
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        # The simulation is single-threaded; some libraries use this from the loop thread.
        return self.call_soon(callback, *args, context=context)

    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        if delay == math.inf:
            return self._never(callback, args, context)
        # Adding integer ns to integer now (rather than going through loop.time()) keeps
        # sleep(d) landing exactly on now + d however large `now` has grown.
        when_ns = self.clock.now_ns + round(delay * NS_PER_SEC)
        return self._schedule_at(when_ns, callback, args, context)

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        if when == math.inf:
            return self._never(callback, args, context)
        return self._schedule_at(round(when * NS_PER_SEC), callback, args, context)

    def _never(
        self, callback: Callable[..., object], args: tuple[Any, ...], context: Context | None
    ) -> asyncio.TimerHandle:
        # An infinite delay can never fire, so it is not queued: it must not stop Deadlock
        # detection (a program whose only hope is a timer at infinity is stuck).
        handle = asyncio.TimerHandle(math.inf, callback, args, self, context)
        if self._halted:
            self._refuse(handle)
        return handle

    def _schedule_at(
        self,
        when_ns: int,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: Context | None,
    ) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when_ns / NS_PER_SEC, callback, args, self, context)
        if self._halted:
            self._refuse(handle)
            return handle
        if when_ns <= self.clock.now_ns:
            # Already due: it joins the ready queue behind everything scheduled before it,
            # which is exactly its (when, seq) position among events of this instant.
            self._ready.append(handle)
        else:
            handle._scheduled = True
            self._timers.push(when_ns, handle)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        # Called by TimerHandle.cancel() *before* it sets handle._cancelled.
        if not handle._scheduled:
            return
        self._cancelled_timers += 1
        n = self._cancelled_timers
        if n > _MIN_CANCELLED_TO_COMPACT and n * 2 > len(self._timers):
            self._timers.compact(lambda h: h is not handle and not h._cancelled)
            handle._scheduled = False
            self._cancelled_timers = 0

    def time(self) -> float:
        """Virtual time in seconds."""
        return self.clock.now()

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, T] | Generator[Any, None, T],
        *,
        name: str | None = None,
        context: Context | None = None,
    ) -> asyncio.Task[T]:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        self._task_counter += 1
        if name is None:
            # Per-loop numbering: asyncio's default names come from a process-global counter,
            # which would make reports depend on whatever ran earlier in the process.
            name = f"Task-{self._task_counter}"
        if self._task_factory is None:
            task: asyncio.Task[T] = asyncio.Task(coro, loop=self, name=name, context=context)
        else:
            if context is None:
                task = self._task_factory(self, coro)
            else:
                task = self._task_factory(self, coro, context=context)
            task.set_name(name)
        if self._dead:
            # The first step was refused, so the coroutine never starts: close it now so it
            # is not reported as "never awaited", and mark the task as expected to linger.
            task._log_destroy_pending = False  # type: ignore[attr-defined]
            _close_if_unstarted(coro)
        tasks = self._tasks
        if len(tasks) >= 64:
            tasks[:] = [t for t in tasks if not t.done()]
        tasks.append(task)
        return task

    def set_task_factory(self, factory: Any) -> None:
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self) -> Any:
        return self._task_factory

    # ------------------------------------------------------------------ errors & debug

    def get_exception_handler(self) -> ExceptionHandler | None:
        return self._exception_handler

    def set_exception_handler(self, handler: ExceptionHandler | None) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Record the error in `self.unhandled` instead of logging it.

        Whether an unhandled error fails a simulated run is the harness's decision, and
        stderr output would be both noisy and invisible to it.
        """
        self.unhandled.append({**context, "time_ns": self.clock.now_ns, "step": self.steps})

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if self._dead:
            # A crashed incarnation has no observable behaviour, errors included; this also
            # swallows "Task was destroyed but it is pending!" when its tasks are collected.
            return
        handler = self._exception_handler
        if handler is None:
            self.default_exception_handler(context)
            return
        try:
            handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.default_exception_handler(
                {
                    "message": "Unhandled error in exception handler",
                    "exception": exc,
                    "context": context,
                }
            )

    def get_debug(self) -> bool:
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        self._debug = bool(enabled)

    async def shutdown_asyncgens(self) -> None:
        """No-op: the loop installs no async-generator hooks, so it tracks none."""

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """No-op: there is no executor."""


def _close_if_unstarted(coro: object) -> None:
    # Closing a coroutine that never started runs none of its code and stops Python from
    # warning "coroutine ... was never awaited" when it is collected. Started coroutines
    # are left alone: closing those would run their finally blocks.
    if inspect.iscoroutine(coro):
        unstarted = inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
    elif inspect.isgenerator(coro):
        unstarted = inspect.getgeneratorstate(coro) == inspect.GEN_CREATED
    else:
        return
    if unstarted:
        coro.close()


def _no_real_io(name: str) -> Callable[..., Any]:
    def refuse(self: SimLoop, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"SimLoop.{name}() is not supported: simulated code must not do real IO, threads, "
            f"subprocesses or signals; route it through the simulation's fakes instead"
        )

    refuse.__name__ = refuse.__qualname__ = name
    return refuse


for _name in (
    "run_in_executor",
    "set_default_executor",
    "getaddrinfo",
    "getnameinfo",
    "create_connection",
    "create_server",
    "sendfile",
    "start_tls",
    "create_unix_connection",
    "create_unix_server",
    "connect_accepted_socket",
    "create_datagram_endpoint",
    "connect_read_pipe",
    "connect_write_pipe",
    "subprocess_shell",
    "subprocess_exec",
    "add_reader",
    "remove_reader",
    "add_writer",
    "remove_writer",
    "sock_recv",
    "sock_recv_into",
    "sock_recvfrom",
    "sock_recvfrom_into",
    "sock_sendall",
    "sock_sendto",
    "sock_connect",
    "sock_accept",
    "sock_sendfile",
    "add_signal_handler",
    "remove_signal_handler",
):
    setattr(SimLoop, _name, _no_real_io(_name))
del _name
