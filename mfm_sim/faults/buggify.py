"""BUGGIFY for users' own code: fault points that fire only inside a simulation.

    from mfm_sim.testing import buggify

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

Which world is current, and which handler runs, is `mfm_sim.world.scope`'s.
"""

from __future__ import annotations

import weakref
from typing import Any

from mfm_sim.faults.swarm import SITE_ACTIVATION
from mfm_sim.world.scope import current_handler, current_world

__all__ = ["DEFAULT_PROBABILITY", "BuggifyState", "buggify", "buggify_state"]

DEFAULT_PROBABILITY = 0.05


class BuggifyState:
    """One world's buggify decisions: which sites are on, and what fired."""

    def __init__(self) -> None:
        self.active: dict[str, bool] = {}
        self.calls: dict[str, int] = {}
        self.fired: list[tuple[str, int]] = []  # (site, injector step) in firing order


_STATES: weakref.WeakKeyDictionary[Any, BuggifyState] = weakref.WeakKeyDictionary()


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
