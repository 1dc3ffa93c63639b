"""The scenario's states and plan resolver as a simulated process runs them: a fault point at
each handler entry, where the process may crash (before or after the handler), the handler
fail (fatal or retryable) or, in the main run, the engine's own failpoint stop it after the
handler returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mfm_engine.errors import ErrorCategory, StateError, info
from mfm_engine.plan import ExecutionPlan, StateGraph, StateNode
from mfm_engine.runtime import EngineFailpoints

from mfm_sim.faults.journal import JournalEntry, TransportUse, journal_proxies
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.faults.stores import IncarnationHandle
from mfm_sim.world.scope import enter_handler, leave_handler

__all__ = ["FaultyResolver", "FaultyState", "Process"]

K = FaultKind


class Process:
    """Which simulated process is running now: the wrapped states and resolver of a
    simulation are built once and find the live incarnation's handle through this."""

    __slots__ = ("failpoints", "feed", "handle", "journal", "stopped_in", "uses")

    def __init__(self, feed: Callable[[Any], Any] | None = None) -> None:
        self.handle: IncarnationHandle | None = None
        # The handler journal and the transports made and called, across incarnations.
        self.journal: list[JournalEntry] = []
        self.uses: list[TransportUse] = []
        # A reference run's: wraps each handler's IO to answer with a schedule's recorded
        # facts (`mfm_sim.run.recorded_facts`); None everywhere else.
        self.feed = feed
        # The main run's engines are given these; a `stop_after_handler` fault sets the flag
        # as its handler returns, so the engine's check right after consumes it.
        self.failpoints = EngineFailpoints()
        # The incarnations in which such a fault set it (the oracle judges what followed).
        self.stopped_in: list[int] = []


class FaultyState:
    """A scenario's state as the simulated process runs it: it may crash or fail around it."""

    def __init__(self, inner: Any, process: Process, state_id: str, *, main: bool = False) -> None:
        self._inner = inner
        self._process = process
        self._state_id = state_id
        # Only the main run's engine has the failpoints: a child stopped mid-run would be
        # reported FAILED to its parent's await, which no honest fault may cause.
        self._main = main
        meta = getattr(inner, "meta", None)
        if meta is not None:
            self.meta = meta  # one call less per attempt; the method below is the fallback

    def meta(self) -> Any:
        return self._inner.meta()  # raises as the state itself would

    async def handle(self, ctx: Any, io: Any, events: Any) -> Any:
        h = self._process.handle
        assert h is not None
        injector = h.injector
        if injector.quiet and h.alive:  # nothing can fire: count the step directly
            injector.advance()
            fault = None
        else:
            fault = h.point("handler", target=self._state_id)
            if fault is not None:
                fault = await h.settle(fault)
            if fault is not None:
                if fault.kind is K.HANDLER_FAILURE:
                    raise StateError(
                        info(
                            "sim_handler_failure",
                            ErrorCategory.UNKNOWN,
                            "injected handler failure",
                            retryable=bool(fault.arg),
                        )
                    )
                if fault.kind is K.CRASH_IN_HANDLER and fault.arg == 0:
                    h.crash(fault)
        if self._process.feed is not None:
            io = self._process.feed(io)
        entry, ctx, io, events = journal_proxies(
            self._process.journal, h.number, self._state_id, ctx, io, events
        )
        token = enter_handler(self._state_id)
        try:
            result = await self._inner.handle(ctx, io, events)
        except BaseException as exc:
            # A dead process's handler never returned: its entry keeps `ended` None.
            if h.alive:
                entry.finish(exc)
                if fault is not None and fault.kind is K.STOP_AFTER_HANDLER:
                    self._stop()  # ENGINE.md: the failpoint applies after an error too
            raise
        else:
            entry.finish(None)
        finally:
            # Not contextlib.suppress: that is three more calls on every handler call.
            try:  # noqa: SIM105
                leave_handler(token)
            except ValueError:
                pass  # closed later from another context, after a crash
        if fault is not None:
            self._after(h, fault)
        return result

    def _after(self, h: IncarnationHandle, fault: Any) -> None:
        if fault.kind is K.CRASH_IN_HANDLER:
            h.crash(fault)
        if fault.kind is K.STOP_AFTER_HANDLER:
            self._stop()

    def _stop(self) -> None:
        # Nothing awaits between here and the engine's check, so this attempt consumes it.
        if self._main:
            self._process.failpoints.stop_after_handler_once = True
            handle = self._process.handle
            if handle is not None:
                self._process.stopped_in.append(handle.number)


class FaultyResolver:
    """Wraps each resolved plan's states once per simulation (the same plan object every
    incarnation, as a real process would resolve it)."""

    def __init__(self, inner: Any, process: Process) -> None:
        self._inner = inner
        self._process = process
        # Keyed by the inner plan's id; the inner plan is kept so the id stays its own.
        self._wrapped: dict[int, tuple[ExecutionPlan, ExecutionPlan]] = {}

    def wrap(self, plan: ExecutionPlan, *, main: bool = False) -> ExecutionPlan:
        """`plan`'s states wrapped; `main` (the runner's first call, with the main run's plan)
        lets the engine's failpoint stop them."""
        known = self._wrapped.get(id(plan))
        if known is not None:
            return known[1]
        states = tuple(
            StateNode(n.id, FaultyState(n.state, self._process, n.id, main=main))
            for n in plan.graph.states
        )
        wrapped = ExecutionPlan(plan.op_id, StateGraph(states, plan.graph.edges))
        self._wrapped[id(plan)] = (plan, wrapped)
        return wrapped

    def resolve(self, manifest: Any) -> ExecutionPlan:
        return self.wrap(self._inner.resolve(manifest))
