"""One schedule's world: seed streams, clock, injector, trace, and what the store lied about."""

from __future__ import annotations

import uuid

from mfm_sim.faults.appends import Batch, SeqIndex
from mfm_sim.faults.injector import Injector
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.run.observation import Fault
from mfm_sim.run.trace import Trace
from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.rng import Streams


class SimClock:
    """The engine's clock: virtual milliseconds."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        # Bound once: the engine reads the time for every event it appends.
        self.now_millis = clock.now_millis


class SimEntropy:
    """Seeded entropy; its stream is derived on first use (most schedules never draw)."""

    def __init__(self, streams: Streams, name: str = "entropy") -> None:
        self._streams = streams
        self._name = name

    def random_bytes(self, n: int) -> bytes:
        return self._streams.stream(self._name).sample_bytes(n)


class SimIds:
    """Seeded run ids; remembers what it issued so the runner can find the run after a crash."""

    def __init__(self, streams: Streams, name: str = "ids") -> None:
        self._streams = streams  # the stream is derived on first use
        self._name = name
        self.issued: list[uuid.UUID] = []

    def new_run_id(self) -> uuid.UUID:
        run_id = self._streams.stream(self._name).uuid()
        self.issued.append(run_id)
        return run_id


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
        self.injector = Injector(self.streams.stream("faults"), config, schedule)
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

    def effect(self, key: str) -> None:
        """An external service applied an effect under `key` (invariant 9 counts these)."""
        self.effects[key] = self.effects.get(key, 0) + 1
