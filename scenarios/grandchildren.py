"""Generated-workload feature `grandchild`: a child run's handler spawns and awaits a child
of its own; drawn from its own fork of the seed's stream, after every other draw, so a seed
keeps the workload it had and only gains these.

ENGINE.md, "Child runs" and "Ids and values": the child-run wrapper intercepts spawn and
await in any run it serves, a child's id is uuid5(its parent's run id, the fact key), and
the await answers the grandchild's status and final snapshot. So a child's state that
spawns one completes with the grandchild's outcome written to its context, as it would in
the main run. The grandchild writes a few values and may fail its first attempt
(retryable), so its retry and its await show in the child's context.

The grandchildren join the workload's `children` after the children (the interpreter
predicts a child after the children it spawns) and never enter the main run's recorded log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mfm_engine import ExecutionPlan, StateGraph, StateNode
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.program import CHILD, FAIL, WRITE, Op, Program, ProgramState

from mfm_sim.world.rng import Rng

__all__ = ["GRANDCHILD_ODDS", "draw_grandchildren"]

GRANDCHILD_ODDS = 0.3  # a seed with children: the chance its children spawn grandchildren

Children = dict[str, tuple[ExecutionPlan, Any, dict[str, Any]]]
SpawnRequest = Callable[[str, ExecutionPlan, Any, dict[str, Any]], dict[str, Any]]


def draw_grandchildren(rng: Rng, children: Children, spawn_request: SpawnRequest) -> frozenset[str]:
    """With `GRANDCHILD_ODDS`, give some of `children` (in place) a state that spawns and
    awaits a grandchild, added to `children` after them; `spawn_request(name, plan, cfg,
    initial)` builds the spawn's request. Returns the feature name if any was added."""
    if not children or not rng.chance(GRANDCHILD_ODDS):
        return frozenset()
    added = False
    for name in sorted(children):
        if not rng.chance(0.7):
            continue
        grand = f"gg{name[2:]}"  # gc0 -> gg0
        plan = _grandchild_plan(rng, grand)
        entry = (plan, draw_run_config(rng), {"from_parent": name})
        cplan, ccfg, cinitial = children[name]
        states = list(cplan.graph.states)
        host = rng.below(len(states))
        program = states[host].state.program
        ops = list(program.ops)
        spawn = Op(CHILD, f"spawned_{grand}", fact_key=grand, value=spawn_request(grand, *entry))
        ops.insert(rng.below(len(ops) + 1), spawn)
        states[host] = StateNode(states[host].id, ProgramState(Program(tuple(ops), program.tags)))
        children[name] = (
            ExecutionPlan(cplan.op_id, StateGraph(states, cplan.graph.edges)),
            ccfg,
            cinitial,
        )
        children[grand] = entry
        added = True
    return frozenset({"grandchild"}) if added else frozenset()


def _grandchild_plan(rng: Rng, name: str) -> ExecutionPlan:
    """One state: a few writes, and maybe a retryable failure on its first attempt."""
    sid = f"{name}.s0.run"
    ops = [Op(WRITE, f"{name}_{i}", value=rng.below(1000)) for i in range(rng.between(1, 3))]
    if rng.chance(0.5):
        fail = Op(
            FAIL,
            name="gen_failure",
            retryable=True,
            message=f"{sid} gave up",
            attempts=(0,),
        )
        ops.insert(rng.below(len(ops) + 1), fail)
    return ExecutionPlan(name, StateGraph([StateNode(sid, ProgramState(Program(tuple(ops))))], []))
