"""The sources the engine is given in a simulation: its clock, its entropy, its run ids.

The engine reaches time, randomness and ids only through these (`DefaultExecutionEngine`'s
`clock`, `entropy` and `ids`); here they read the virtual clock and the seed's streams.
"""

from __future__ import annotations

import uuid

from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.rng import Streams

__all__ = ["SimClock", "SimEntropy", "SimIds"]


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
        self.draws = 0  # how many times the engine drew (the oracle counts its random facts)

    def random_bytes(self, n: int) -> bytes:
        self.draws += 1
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
