"""A child run that spawns a child of its own: drawn, predicted, run as predicted, and an
engine whose children lose the child-run wrapper caught."""

from __future__ import annotations

from typing import Any

from mfm_engine import ExecutionPlan, StateGraph, StateNode
from mfm_engine.config import RunConfig
from mfm_engine.events import RunPhase
from mfm_scenarios.generated import SCENARIO, draw, spawn_request
from mfm_scenarios.grandchildren import draw_grandchildren
from mfm_scenarios.interpreter import interpret
from mfm_scenarios.program import CHILD, WRITE, Op, Program, ProgramState

from mfm_sim import simulate
from mfm_sim.world.rng import Rng, Streams
from tests.scenarios.test_replays import _plan


def _draw(seed: int) -> Any:
    return draw(Streams(seed).stream("scenario"))


def _seeds(limit: int) -> list[int]:
    return [s for s in range(300) if "grandchild" in _draw(s).features][:limit]


def _one(op_id: str, *ops: Op) -> ExecutionPlan:
    sid = f"{op_id}.s0.run"
    return ExecutionPlan(op_id, StateGraph([StateNode(sid, ProgramState(Program(ops)))], []))


def test_a_grandchild_follows_the_child_that_spawns_it() -> None:
    children = {"gc0": (_one("gc0", Op(WRITE, "a", value=1)), RunConfig(), {"from_parent": "gc0"})}
    found = frozenset[str]()
    for seed in range(40):  # the feature's odds: some seed of a few dozen draws it
        trial = dict(children)
        found = draw_grandchildren(Rng(seed, "grand"), trial, spawn_request)
        if found:
            children = trial
            break
    assert found == {"grandchild"}
    assert list(children) == ["gc0", "gg0"]
    ops = children["gc0"][0].graph.states[0].state.program.ops
    spawns = [op for op in ops if op.kind == CHILD]
    assert [op.fact_key for op in spawns] == ["gg0"]
    assert spawns[0].value["op_id"] == "gg0"


def test_the_interpreter_predicts_the_grandchild_in_the_child() -> None:
    grand = _one("gg0", Op(WRITE, "g", value=5))
    cfg = RunConfig()
    spawn = Op(CHILD, "got", fact_key="gg0", value=spawn_request("gg0", grand, cfg, {"i": 1}))
    child = _one("gc0", spawn)
    request = spawn_request("gc0", child, cfg, {})
    children = {"gc0": (child, cfg, {}), "gg0": (grand, cfg, {"i": 1})}
    result = interpret(_plan(Op(CHILD, "top", fact_key="gc0", value=request)), cfg, {}, children)
    assert result.phase is RunPhase.COMPLETED
    # The parent's await answers the child's final snapshot by value, the grandchild's in it.
    done = result.prediction.fact_fields["await:gc0"]
    assert done["final_snapshot"] == {"got": {"status": "completed", "final": {"i": 1, "g": 5}}}
    assert ("gg0.s0.run", 0) in result.prediction.attempts


def test_the_engine_runs_grandchildren_as_predicted() -> None:
    seeds = _seeds(8)
    assert len(seeds) >= 4
    for seed in seeds:
        result = simulate(SCENARIO, seed, faults=(), keep_trace=False, keep_observation=True)
        assert result.violations == (), (seed, result.violations)
        obs = result.observation
        assert obs.final_phase is obs.model.phase, seed


def test_children_without_the_wrapper_are_caught() -> None:
    caught = [
        s
        for s in _seeds(30)
        if simulate(SCENARIO, s, variant="grandchild_without_wrapper").violations
    ]
    assert caught
