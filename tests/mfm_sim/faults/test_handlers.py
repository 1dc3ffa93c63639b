"""mfm_sim.faults.handlers: a handler entry as a fault point (a crash before or after the
handler, a fatal or retryable failure instead of it), alone and through `simulate`, and the
resolver that wraps each plan once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from mfm_engine import ExecutionPlan, Fixed, FnState, RetryPolicy, RunConfig, StateGraph, StateNode
from mfm_engine.errors import StateError
from mfm_engine.events import RunPhase, StateFailed

from mfm_sim import simulate
from mfm_sim.faults.handlers import FaultyResolver, FaultyState, Process
from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.faults.stores import IncarnationHandle, SimCrash
from mfm_sim.run.observation import Outcome
from mfm_sim.run.result import SimResult
from mfm_sim.run.world import World
from mfm_sim.testing.userplan import user_scenario
from mfm_sim.world.loop import SimLoop

K = FaultKind
STATE = "hf.s.n0"
CONFIG = RunConfig(retry_policy=RetryPolicy(3, Fixed(timedelta(milliseconds=10))))
CALLS: list[str] = []


async def _record(ctx: Any, io: Any, events: Any) -> None:
    CALLS.append(STATE)
    ctx.write(STATE, True)


def _plan() -> ExecutionPlan:
    return ExecutionPlan("hf", StateGraph([StateNode(STATE, FnState(_record))], []))


# ------------------------------------------------------------------- FaultyState, alone


class _Ctx:
    def write(self, key: str, value: Any) -> None:
        pass


def _wrapped(faults: list[Fault]) -> tuple[FaultyState, World, IncarnationHandle]:
    world = World(0, None, schedule=faults)
    process = Process()
    process.handle = IncarnationHandle(world, 0)
    return FaultyState(FnState(_record), process, STATE), world, process.handle


def _handle(state: FaultyState, world: World) -> Any:
    CALLS.clear()
    return SimLoop(world.clock).run_until_complete(state.handle(_Ctx(), None, None))


def test_without_a_fault_the_handler_runs_and_the_step_is_counted() -> None:
    state, world, _ = _wrapped([])
    assert _handle(state, world) is None
    assert CALLS == [STATE] and world.injector.step == 1


@pytest.mark.parametrize(("arg", "retryable"), [(0, False), (1, True)])
def test_handler_failure_replaces_the_handler(arg: int, retryable: bool) -> None:
    state, world, _ = _wrapped([Fault(1, K.HANDLER_FAILURE, "handler", arg)])
    with pytest.raises(StateError) as exc:
        _handle(state, world)
    assert exc.value.info.code == "sim_handler_failure"
    assert exc.value.info.retryable is retryable
    assert CALLS == []


@pytest.mark.parametrize(("arg", "ran"), [(0, []), (1, [STATE])])
def test_crash_in_handler_before_or_after_it(arg: int, ran: list[str]) -> None:
    state, world, handle = _wrapped([Fault(1, K.CRASH_IN_HANDLER, "handler", arg)])
    with pytest.raises(SimCrash) as exc:
        _handle(state, world)
    assert exc.value.fault == world.injector.fired[0]
    assert ran == CALLS and not handle.alive


def test_the_resolver_wraps_each_plan_once() -> None:
    plan = _plan()
    process = Process()
    resolver = FaultyResolver(None, process)
    wrapped = resolver.wrap(plan)
    assert resolver.wrap(plan) is wrapped
    assert [n.id for n in wrapped.graph.states] == [STATE]
    assert isinstance(wrapped.graph.states[0].state, FaultyState)


# ------------------------------------------------------------------- through simulate


def _handler_fault(kind: FaultKind, arg: int, name: str) -> SimResult:
    # No reference run (transparent=False): CALLS sees only the main run.
    scenario = user_scenario(name, _plan, run_config=CONFIG, faults="none", transparent=False)
    sites = simulate(scenario, 0, schedule=[], record_sites=True).sites
    assert sites is not None
    step = sites.index("handler") + 1
    CALLS.clear()
    return simulate(
        scenario, 0, schedule=[Fault(step, kind, "handler", arg)], keep_observation=True
    )


def _failures(result: SimResult) -> list[tuple[str, bool]]:
    obs = result.observation
    assert obs is not None and obs.main_run_id is not None
    return [
        (env.event.error.code, env.event.error.retryable)
        for env in obs.runs[obs.main_run_id].stream
        if isinstance(env.event, StateFailed)
    ]


def _first_outcome(result: SimResult) -> Outcome:
    assert result.observation is not None
    return result.observation.incarnations[0].outcome


def test_handler_failure_fatal() -> None:
    result = _handler_fault(K.HANDLER_FAILURE, 0, "handlers_hf_fatal")
    assert _failures(result) == [("sim_handler_failure", False)]
    assert result.final_phase is RunPhase.FAILED
    assert CALLS == []  # the injected failure replaced the handler
    assert result.ok, [v.describe() for v in result.violations]


def test_handler_failure_retryable() -> None:
    result = _handler_fault(K.HANDLER_FAILURE, 1, "handlers_hf_retry")
    assert _failures(result) == [("sim_handler_failure", True)]
    assert result.final_phase is RunPhase.COMPLETED
    assert CALLS == [STATE]
    assert result.ok, [v.describe() for v in result.violations]


def test_crash_in_handler_before_it_runs() -> None:
    result = _handler_fault(K.CRASH_IN_HANDLER, 0, "handlers_cih_before")
    assert _first_outcome(result) is Outcome.CRASH
    assert CALLS == [STATE]  # only the retry ran it
    assert _failures(result) == [("orphan_attempt_recovered", True)]
    assert result.final_phase is RunPhase.COMPLETED


def test_crash_in_handler_after_it_ran() -> None:
    result = _handler_fault(K.CRASH_IN_HANDLER, 1, "handlers_cih_after")
    assert _first_outcome(result) is Outcome.CRASH
    assert CALLS == [STATE, STATE]  # ran, crashed, ran again
    assert result.final_phase is RunPhase.COMPLETED


# ------------------------------------------------------------------- the engine's failpoint


def test_stop_after_handler_sets_the_failpoint_of_a_main_run_state_only() -> None:
    for main in (True, False):
        world = World(0, None, schedule=[Fault(1, K.STOP_AFTER_HANDLER, "handler", 0)])
        process = Process()
        process.handle = IncarnationHandle(world, 0)
        state = FaultyState(FnState(_record), process, STATE, main=main)
        assert _handle(state, world) is None
        assert CALLS == [STATE] and process.handle.alive  # ran; the process lives on
        assert process.failpoints.should_stop_after_handler() is main
        assert process.failpoints.should_stop_after_handler() is False  # single use


def test_stop_after_handler_stops_the_engine_and_resume_retries_the_attempt() -> None:
    result = _handler_fault(K.STOP_AFTER_HANDLER, 0, "handlers_stop")
    obs = result.observation
    assert obs is not None
    first = obs.incarnations[0]
    assert (first.outcome, first.phase) == (Outcome.RESULT, RunPhase.RUNNING)
    assert CALLS == [STATE, STATE]  # ran, the engine stopped (nothing terminal), ran again
    assert _failures(result) == [("orphan_attempt_recovered", True)]
    assert result.final_phase is RunPhase.COMPLETED
    assert result.ok, [v.describe() for v in result.violations]
