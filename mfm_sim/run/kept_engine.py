"""One engine object kept across the incarnations of a process that ends alive.

A user may hold one `DefaultExecutionEngine` for the life of a process and call
`asyncio.run(engine.resume(...))` again after a call that returned or raised: each call is
its own event loop, the engine (its child-run supervisor included) the same object. ENGINE.md
ties the supervisor to no loop ("a supervisor keeps at most one task per child id"), so a task
a finished loop left behind must not be joined from the next: the await resumes the child, as a
fresh engine's would, and every check judges the run as it judges any other.

In some seeds of scenarios with child runs (`draw_kept`, from a stream of its own, so no other
draw moves) the runner keeps the engine after an incarnation that returned or raised and
builds a fresh one only after a crash (the process died, its objects with it). Each
incarnation still has its own store and service handles: the kept engine's transports reach
the current incarnation's through `CurrentTransports`.
"""

from __future__ import annotations

from mfm_engine.live_io import LiveIoEnv, LiveIoTransport, LiveIoTransportFactory
from mfm_engine.runtime import DefaultExecutionEngine

from mfm_sim.world.rng import Streams

__all__ = ["KEPT_ODDS", "CurrentTransports", "KeptEngine", "draw_kept"]

KEPT_ODDS = 0.5  # of the seeds whose scenario runs child runs
_STREAM = "kept_engine"


class CurrentTransports:
    """A transport factory that makes each transport with the current incarnation's factory."""

    def __init__(self) -> None:
        self.target: LiveIoTransportFactory | None = None

    def make(self, env: LiveIoEnv) -> LiveIoTransport:
        assert self.target is not None, "no incarnation's transports to reach"
        return self.target.make(env)


class KeptEngine:
    """The process's engine while it lives, and the door to each incarnation's transports."""

    def __init__(self) -> None:
        self.engine: DefaultExecutionEngine | None = None
        self.transports = CurrentTransports()

    def reuse(self, factory: LiveIoTransportFactory | None) -> DefaultExecutionEngine | None:
        """The kept engine (None before the first or after a crash), now reaching `factory`."""
        self.transports.target = factory
        return self.engine

    def lose(self) -> None:
        """The process died: the next incarnation builds a fresh engine."""
        self.engine = None


def draw_kept(streams: Streams, child_runs: bool) -> KeptEngine | None:
    """A `KeptEngine` with `KEPT_ODDS` when the scenario runs child runs, else None."""
    if not child_runs or not streams.stream(_STREAM).chance(KEPT_ODDS):
        return None
    return KeptEngine()
