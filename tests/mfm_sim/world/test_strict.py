"""Strict mode names the handler that reaches for the wall clock or global randomness, and the
diagnostics name the handler behind a double effect or a schedule-dependent result."""

from __future__ import annotations

import os
import random
import time
import uuid
from random import randint as early_randint  # bound before strict mode starts
from typing import Any

import attrs
import pytest
from mfm_engine import (
    DependencyEdge,
    ExecutionPlan,
    FnState,
    IoCall,
    RetryPolicy,
    RunConfig,
    StateGraph,
    StateMeta,
    StateNode,
)

from mfm_sim import simulate
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.testing.userplan import captured_worlds, clear_captured, user_scenario
from mfm_sim.world.strict import NondeterminismError, diagnose, strict_mode


class Calls:
    """A handler that calls one forbidden function."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("value", str(self.fn()))


def _plan(fn: Any) -> ExecutionPlan:
    return ExecutionPlan("strict", StateGraph([StateNode("strict.call.fn", Calls(fn))]))


CONFIG = RunConfig(retry_policy=RetryPolicy(3))


@pytest.mark.parametrize(
    ("fn", "label"),
    [
        (lambda: time.time(), "time.time"),
        (lambda: time.monotonic(), "time.monotonic"),
        (lambda: time.perf_counter_ns(), "time.perf_counter_ns"),
        (lambda: random.random(), "random.random"),
        (lambda: random.randint(1, 6), "random.randint"),
        (lambda: early_randint(1, 6), "random.getrandbits"),
        (lambda: uuid.uuid4(), "uuid.uuid4"),
        (lambda: os.urandom(4).hex(), "os.urandom"),
    ],
)
def test_handler_use_is_named(fn: Any, label: str) -> None:
    # The lambdas look the function up when called, as handler code does.
    scenario = user_scenario("strict_named", _plan(fn), run_config=CONFIG, services=())
    with strict_mode() as log:
        simulate(scenario, 1, faults=())
    assert log.records, label
    rec = log.records[0]
    assert rec.handler == "strict.call.fn"
    assert rec.call == label
    assert rec.filename == __file__
    assert rec.message().startswith(f"nondeterminism: handler strict.call.fn called {label}()")


def test_strict_mode_raises_in_the_handler_and_the_state_fails() -> None:
    seen: list[BaseException] = []

    async def handler(ctx: Any, io: Any, events: Any) -> None:
        try:
            time.time()
        except NondeterminismError as exc:
            seen.append(exc)
            raise

    plan = ExecutionPlan("strict", StateGraph([StateNode("strict.clock.read", FnState(handler))]))
    scenario = user_scenario("strict_raise", plan, run_config=CONFIG, services=())
    with strict_mode():
        result = simulate(scenario, 2, faults=())
    assert seen and "handler strict.clock.read called time.time()" in str(seen[0])
    assert result.final_phase is not None and result.final_phase.value == "failed"


def test_outside_handlers_and_after_the_block_nothing_changes() -> None:
    original = time.time
    with strict_mode() as log:
        assert time.time() > 0  # test code, not a handler
        assert random.random() < 1
        assert uuid.uuid4()
    assert time.time is original
    assert "getrandbits" not in vars(random._inst)  # type: ignore[attr-defined]
    assert log.records == []


def test_logging_from_a_handler_is_not_nondeterminism() -> None:
    import logging

    def log_something() -> int:
        logging.getLogger("mfm_sim.tests").warning("charging")
        return 1

    scenario = user_scenario("strict_logging", _plan(log_something), run_config=CONFIG, services=())
    with strict_mode() as log:
        assert simulate(scenario, 5, faults=()).ok
    assert log.records == []


def test_without_strict_mode_handlers_may_read_the_clock() -> None:
    scenario = user_scenario("strict_off", _plan(lambda: 0), run_config=CONFIG, services=())
    assert simulate(scenario, 3, faults=()).ok


def test_strict_mode_is_reentrant() -> None:
    with strict_mode() as outer:
        with strict_mode() as inner:
            scenario = user_scenario(
                "strict_nested", _plan(lambda: time.time()), run_config=CONFIG, services=()
            )
            simulate(scenario, 4, faults=())
        assert inner.records and outer.records
        assert time.time is not _ORIGINAL_TIME
    assert time.time is _ORIGINAL_TIME


_ORIGINAL_TIME = time.time


# ------------------------------------------------------------------------------ diagnosis


class UnkeyedCharge:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        receipt = await io.call(IoCall("ledger", {"op": "charge", "account": "a", "amount": 5}))
        ctx.write("receipt", receipt)


class Copy:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("copy", ctx.read("receipt"))


def _charge_plan() -> ExecutionPlan:
    states = [
        StateNode("shop.charge.card", UnkeyedCharge()),
        StateNode("shop.copy.receipt", Copy()),
    ]
    return ExecutionPlan(
        "shop", StateGraph(states, [DependencyEdge("shop.charge.card", "shop.copy.receipt")])
    )


def _first_failure(scenario: Any, invariant: str) -> Any:
    for seed in range(200):
        result = simulate(scenario, seed, faults=(FaultKind.CRASH_IN_HANDLER,))
        if any(v.invariant == invariant for v in result.violations):
            return seed
    raise AssertionError(f"no seed broke {invariant}")


def test_double_charge_names_the_state_of_the_second_charge() -> None:
    scenario = user_scenario("strict_double", _charge_plan, run_config=CONFIG)
    seed = _first_failure(scenario, "effects_at_most_once")
    clear_captured(scenario)
    result = simulate(scenario, seed, faults=(FaultKind.CRASH_IN_HANDLER,), keep_observation=True)
    world = captured_worlds(scenario)[0]
    diag = diagnose(result, world=world)
    assert diag.invariant == "effects_at_most_once"
    assert diag.handlers[0] == "shop.charge.card"
    assert "shop.charge.card attempt 1" in diag.headline and "second time" in diag.headline
    assert any("without a fact key" in d for d in diag.details)
    assert diag.seqs  # the StateEntered of both attempts


def test_schedule_dependent_result_names_the_first_differing_state() -> None:
    scenario = user_scenario(
        "strict_transparency", _charge_plan, run_config=CONFIG, services=("ledger",)
    )
    seed = _first_failure(scenario, "crash_transparency")
    result = simulate(scenario, seed, faults=(FaultKind.CRASH_IN_HANDLER,), keep_observation=True)
    only = attrs.evolve(
        result,
        violations=tuple(v for v in result.violations if v.invariant == "crash_transparency"),
    )
    reference = simulate(
        scenario, seed, schedule=[], interleave=False, keep_observation=True
    ).observation
    diag = diagnose(only, reference=reference)
    assert diag.invariant == "crash_transparency"
    assert diag.handlers[0] == "shop.charge.card"
    assert "shop.charge.card's snapshot differs" in diag.headline
    assert "receipt" in diag.headline
    assert "shop.copy.receipt" in diag.handlers  # downstream, named after the culprit


def test_a_state_wrapper_on_the_stack_names_its_state() -> None:
    # The fallback for handlers outside userplan: strict mode finds the runner's wrapper.
    import sys

    from mfm_engine import FnState

    from mfm_sim.faults.handlers import FaultyState, Process
    from mfm_sim.faults.stores import IncarnationHandle
    from mfm_sim.world.loop import SimLoop
    from mfm_sim.world.strict import _handler_on_stack
    from mfm_sim.world.world import World

    seen: list[str | None] = []

    async def handler(ctx: Any, io: Any, events: Any) -> None:
        seen.append(_handler_on_stack(sys._getframe()))

    world = World(0, None, schedule=[])
    process = Process()
    process.handle = IncarnationHandle(world, 0)
    state = FaultyState(FnState(handler), process, "shop.charge.card")
    SimLoop(world.clock).run_until_complete(state.handle(None, None, None))
    assert seen == ["shop.charge.card"]
    assert _handler_on_stack(sys._getframe()) is None
