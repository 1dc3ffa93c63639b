"""One engine kept across the incarnations of a process that ends alive."""

from __future__ import annotations

from typing import Any

from mfm_engine import ExecutionPlan, StateGraph
from mfm_engine.plan import StaticPlanResolver
from mfm_engine.runtime import DefaultExecutionEngine
from mfm_scenarios.generated import SCENARIO

from mfm_sim.run.kept_engine import CurrentTransports, KeptEngine, draw_kept
from mfm_sim.run.simulate import simulate
from mfm_sim.world.rng import Streams

_PLAN = ExecutionPlan("kept", StateGraph([], []))


class _Factory:
    def __init__(self, name: str) -> None:
        self.name = name

    def make(self, env: Any) -> Any:
        return (self.name, env)


def test_transports_are_the_current_incarnations() -> None:
    current = CurrentTransports()
    current.target = _Factory("first")
    assert current.make("env") == ("first", "env")
    current.target = _Factory("second")
    assert current.make("env") == ("second", "env")


def test_the_engine_is_kept_until_the_process_dies() -> None:
    kept = KeptEngine()
    assert kept.reuse(_Factory("a")) is None  # nothing built yet
    engine = DefaultExecutionEngine(StaticPlanResolver(_PLAN))
    kept.engine = engine
    assert kept.reuse(_Factory("b")) is engine
    assert kept.transports.make("e") == ("b", "e")
    kept.lose()
    assert kept.reuse(_Factory("c")) is None


def test_drawn_only_for_child_runs_and_not_always() -> None:
    assert all(draw_kept(Streams(seed), False) is None for seed in range(40))
    drawn = [draw_kept(Streams(seed), True) is not None for seed in range(40)]
    assert 0 < sum(drawn) < 40


def test_a_seed_that_keeps_its_engine_across_loops_is_clean() -> None:
    # Generated seed 62 keeps its engine and awaits a child a finished loop left a task for
    # (variant `supervisor_joins_dead_loop` is caught there).
    assert draw_kept(Streams(62), True) is not None
    assert not simulate(SCENARIO, 62, keep_trace=False).violations
