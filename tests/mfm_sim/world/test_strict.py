"""Strict mode names the handler that reaches for the wall clock or global randomness."""

from __future__ import annotations

import os
import random
import time
import uuid
from random import randint as early_randint  # bound before strict mode starts
from typing import Any

import pytest
from mfm_engine import (
    ExecutionPlan,
    FnState,
    RetryPolicy,
    RunConfig,
    StateGraph,
    StateMeta,
    StateNode,
)

from mfm_sim import simulate
from mfm_sim.testing.userplan import user_scenario
from mfm_sim.world.strict import NondeterminismError, strict_mode


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


def test_a_state_wrapper_on_the_stack_names_its_state() -> None:
    # The fallback for handlers outside userplan: strict mode finds the runner's wrapper.
    import sys

    from mfm_engine import FnState

    from mfm_sim.faults.handlers import FaultyState, Process
    from mfm_sim.faults.stores import IncarnationHandle
    from mfm_sim.run.world import World
    from mfm_sim.world.loop import SimLoop
    from mfm_sim.world.strict import _handler_on_stack

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
