"""One schedule's world: seed streams, clock, injector, trace, and what the store lied about."""

from __future__ import annotations

from typing import Any

from mfm_sim.faults.appends import Batch, SeqIndex
from mfm_sim.faults.injector import Injector
from mfm_sim.faults.kinds import Fault
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.run.trace import Trace
from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.rng import Streams
from mfm_sim.world.sources import SimClock, SimEntropy, SimIds

__all__ = ["World"]


class World:
    def __init__(
        self,
        seed: int,
        config: FaultConfig | None,
        *,
        schedule: list[Fault] | None = None,
        keep_trace: bool = True,
    ) -> None:
        self.seed = seed
        self.streams = Streams(seed)
        self.clock = VirtualClock()
        self.injector = Injector(self.streams, config, schedule)  # a stream per kind
        clock = self.clock
        # Closing over the clock, not the world: a world in a reference cycle would outlive
        # its schedule until the collector ran, and the collector would then walk all of it.
        self.injector.now_ns = lambda: clock.now_ns
        self.trace = Trace(self.clock, keep=keep_trace)
        self.corrupted: dict[str, bytes] = {}
        self.lost: set[str] = set()
        # Every append call that made events durable, across incarnations.
        self.appends: list[Batch] = []
        self.seq_step = SeqIndex(self.appends, "step")
        self.seq_task = SeqIndex(self.appends, "task")
        self.effects: dict[str, int] = {}
        self.engine_clock = SimClock(self.clock)
        self.entropy = SimEntropy(self.streams)
        self.ids = SimIds(self.streams)
        self.services: dict[str, object] = {}
        self.incarnation = 0

    def service_states(self) -> dict[str, Any]:
        """namespace -> the final state each service offers for comparison with the fault-free
        run (`compared_state()`, `mfm_sim.testing.services.Service`); others are left out."""
        out: dict[str, Any] = {}
        for namespace in sorted(self.services):
            compared = getattr(self.services[namespace], "compared_state", None)
            state = compared() if callable(compared) else None
            if state is not None:
                out[namespace] = state
        return out

    def effect(self, key: str) -> None:
        """An external service applied an effect under `key` (invariant 9 counts these)."""
        self.effects[key] = self.effects.get(key, 0) + 1
