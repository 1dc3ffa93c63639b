"""Which simulated world, and which state's handler, the running code belongs to.

Two context variables, read by the parts that must know without being told:
- the *current world* (`enter_simulation`, `current_world`): set by the runner when a
  simulation starts (and by `user_scenario`'s `transports` hook). It is held through a weak
  reference and checked against the running loop, so a world left over from an earlier
  simulation never counts. BUGGIFY (`mfm_sim.faults.buggify`) fires only under one.
- the *handler scope* (`handler_scope`, `enter_handler`, `current_handler`): which state's
  handler the current task runs, set by the runner's state wrapper (and the one `userplan`
  installs). Strict mode (`mfm_sim.world.strict`) uses it to name the handler that called
  `time.time()`; BUGGIFY writes it into the trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from typing import Any

from mfm_sim.world.loop import SimLoop

__all__ = [
    "current_handler",
    "current_world",
    "enter_handler",
    "enter_simulation",
    "handler_scope",
    "leave_handler",
]

_WORLD: contextvars.ContextVar[weakref.ref[Any] | None] = contextvars.ContextVar(
    "mfm_sim_world", default=None
)
_HANDLER: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mfm_sim_handler", default=None
)


def enter_simulation(world: Any) -> None:
    """Make `world` the current simulated world for code running under this context."""
    _WORLD.set(weakref.ref(world))


def current_world() -> Any | None:
    """The simulated world whose event loop is running this code, or None."""
    ref = _WORLD.get()
    world = ref() if ref is not None else None
    if world is None:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    if not isinstance(loop, SimLoop) or loop.clock is not world.clock:
        return None
    return world


# Mark the current task as running the handler of a state: `token = enter_handler(state_id)`,
# then `leave_handler(token)`. The bare ContextVar methods: this wraps every handler call of
# every schedule. `leave_handler` raises ValueError for a token of another context (a crashed
# incarnation's coroutine closed later); callers ignore it, as the scope dies with that task.
enter_handler = _HANDLER.set
leave_handler = _HANDLER.reset


class handler_scope:
    """`enter_handler`/`leave_handler` as a context manager."""

    __slots__ = ("_state_id", "_token")

    def __init__(self, state_id: str) -> None:
        self._state_id = state_id
        self._token: contextvars.Token[str | None] | None = None

    def __enter__(self) -> None:
        self._token = _HANDLER.set(self._state_id)

    def __exit__(self, *exc: object) -> None:
        token = self._token
        if token is None:
            return
        with contextlib.suppress(ValueError):  # a token of another context: see leave_handler
            leave_handler(token)


def current_handler() -> str | None:
    """The state id whose handler the current task is running (set by `userplan`), or None."""
    return _HANDLER.get()
