"""The diagnostics name the handler behind a double effect or a schedule-dependent result."""

from __future__ import annotations

from typing import Any

import attrs
from mfm_engine import (
    DependencyEdge,
    ExecutionPlan,
    IoCall,
    RetryPolicy,
    RunConfig,
    StateGraph,
    StateMeta,
    StateNode,
)

from mfm_sim import simulate
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.testing.diagnostics import diagnose
from mfm_sim.testing.userplan import captured_worlds, clear_captured, user_scenario

CONFIG = RunConfig(retry_policy=RetryPolicy(3))


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
