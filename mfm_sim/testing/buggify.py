"""BUGGIFY for users' own code: fault points that fire only inside a simulation.

    from mfm_sim.testing.buggify import buggify

    async def call(self, call):
        if buggify("gateway.timeout"):          # never true in production
            raise TimeoutError("buggified")
        ...

As in FoundationDB, a site is switched on once per simulated run with probability
`activation` (default 0.25) and, once on, fires with `probability` per call. Every decision
comes from the simulated world's seeded stream `buggify:<site>`, so the same seed makes the
same decisions, and adding a site does not shift any other stream. Outside a simulation
(no simulated world is current, or the running event loop is not that world's `SimLoop`)
`buggify` is always False and draws nothing.

Buggify respects the fault budget: it fires only while the world's injector may still fire
faults (never in the fault-free reference run, never in the liveness phase of a recoverable
schedule), and each firing uses one unit of the budget. Every firing is written to the
trace as a `buggify` entry.

How a world becomes current: the runner calls `enter_simulation(world)` when a simulation
starts (and `user_scenario`'s `transports` hook does too). The world is held through a weak
reference and checked against the running loop, so a world left over from an earlier
simulation never counts.

This module also holds the *handler scope* (`handler_scope`, `current_handler`): which
state's handler is running in the current task, set by the runner's state wrapper (and
the one `userplan` installs). `mfm_sim.world.strict` uses it to name the handler that called
`time.time()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from typing import Any

from mfm_sim.faults.swarm import SITE_ACTIVATION
from mfm_sim.world.loop import SimLoop

__all__ = [
    "BuggifyState",
    "buggify",
    "buggify_state",
    "current_handler",
    "current_world",
    "enter_handler",
    "enter_simulation",
    "handler_scope",
    "leave_handler",
]

DEFAULT_PROBABILITY = 0.05

_WORLD: contextvars.ContextVar[weakref.ref[Any] | None] = contextvars.ContextVar(
    "mfm_sim_world", default=None
)
_HANDLER: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mfm_sim_handler", default=None
)


class BuggifyState:
    """One world's buggify decisions: which sites are on, and what fired."""

    def __init__(self) -> None:
        self.active: dict[str, bool] = {}
        self.calls: dict[str, int] = {}
        self.fired: list[tuple[str, int]] = []  # (site, injector step) in firing order


_STATES: weakref.WeakKeyDictionary[Any, BuggifyState] = weakref.WeakKeyDictionary()


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


def buggify_state(world: Any) -> BuggifyState:
    state = _STATES.get(world)
    if state is None:
        state = _STATES[world] = BuggifyState()
    return state


def buggify(
    site: str, probability: float = DEFAULT_PROBABILITY, *, activation: float = SITE_ACTIVATION
) -> bool:
    """True when the simulation decides this fault point fires; always False outside one."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"buggify probability must be in [0, 1], got {probability!r}")
    world = current_world()
    if world is None:
        return False
    injector = world.injector
    state = buggify_state(world)
    state.calls[site] = state.calls.get(site, 0) + 1

    def draw() -> bool:
        rng = world.streams.stream(f"buggify:{site}")
        active = state.active.get(site)
        if active is None:
            active = state.active[site] = rng.random() < activation
        return active and rng.random() < probability

    fault = injector.decide_user(f"buggify:{site}", draw)
    if fault is None:
        return False
    state.fired.append((site, fault.step))
    world.trace.fault(fault)
    world.trace.add(injector.incarnation, "buggify", f"{site} fired in {current_handler() or '-'}")
    return True


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
