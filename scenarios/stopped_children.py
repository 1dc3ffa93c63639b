"""Child runs whose engine stops after its first handler: an await finds its child RUNNING.

A user who tests how a workflow copes with children that do not finish hands the child-run
wrapper an engine factory that arms each engine's failpoint (`stop_after_handler_once`).
ENGINE.md, "One attempt", 4: after the handler returns, nothing terminal is written and the
run returns RUNNING at its checkpoint; "Child runs": an await joins the child's task, or
resumes the child, and "a child still RUNNING is reported FAILED", with its final snapshot
id and final snapshot (here the child's initial snapshot: no state of it ever completes).
A later await of the same child, after the parent's process died before recording the
first, resumes it on a fresh armed engine: the orphan is retried and stopped again, until
the orphan rule ends the child FAILED at the same checkpoint, so the answer never changes.

The parent's first state spawns and awaits one or two children (each a plan of one or two
states writing to their context) and writes each await's status and final snapshot; a
second state reads them. The reference interpreter predicts it (`interpret`'s
`stopped_children`); no other workload arms a child's failpoint.
"""

from __future__ import annotations

import itertools

from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_engine.config import RunConfig
from mfm_scenarios.child_runs import OpResolver
from mfm_scenarios.generated import spawn_request
from mfm_scenarios.interpreter import interpret
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.program import CHILD, READ, WRITE, Op, Program, ProgramState

from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.testing.services import make_services
from mfm_sim.world.rng import Rng

__all__ = ["build"]


def _chain(op_id: str, programs: list[Program]) -> ExecutionPlan:
    names = [f"{op_id}.s{i}.run" for i in range(len(programs))]
    states = [StateNode(n, ProgramState(p)) for n, p in zip(names, programs, strict=True)]
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(names)]
    return ExecutionPlan(op_id, StateGraph(states, edges))


def build(rng: Rng) -> ScenarioRun:
    children: dict[str, tuple[ExecutionPlan, RunConfig, dict[str, int]]] = {}
    awaits = []
    for c in range(rng.between(1, 2)):
        name = f"kid{c}"
        programs = [
            Program((Op(WRITE, f"k{i}", value=rng.below(1000)),)) for i in range(rng.between(1, 2))
        ]
        children[name] = (_chain(name, programs), draw_run_config(rng), {"from_parent": c})
        awaits.append(Op(CHILD, name, fact_key=name, value=spawn_request(name, *children[name])))
    reads = tuple(Op(READ, f"seen_{name}", src=name) for name in children)
    plan = _chain("stopper", [Program(tuple(awaits)), Program(reads)])
    cfg = draw_run_config(rng)
    result = interpret(plan, cfg, {}, children, stopped_children=True, routes=(("kv", "kv"),))
    plans = {plan.op_id: plan, **{p.op_id: p for p, _, _ in children.values()}}
    return ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context={},
        resolver=OpResolver(plans),
        input_params={"children": sorted(children)},
        transports=make_services(("kv",), trace=False),
        child_runs=True,
        stopped_children=True,
        model=Reference(result.phase, None, result.prediction),
    )


SCENARIO = register(
    Scenario(
        "stopped_children",
        "1-2 child runs whose engine stops after its first handler (the factory arms its "
        "failpoint): every await finds its child RUNNING and reports it failed",
        build,
        in_default=False,
    )
)
