"""A random DAG of 3-10 states drawn from the seed; the model is the engine's Kahn order."""

from __future__ import annotations

from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import RETRY, ScriptedStep, plan_shape, predict

from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng


def build(rng: Rng) -> ScenarioRun:
    n = rng.between(3, 10)
    density = rng.choice((0.15, 0.3, 0.5, 0.8))
    names = [f"dag.s{i}.run" for i in range(n)]
    # Edges only from a lower to a higher index: acyclic by construction.
    edges = [
        DependencyEdge(names[i], names[j])
        for i in range(n)
        for j in range(i + 1, n)
        if rng.chance(density)
    ]
    steps = []
    for i, sid in enumerate(names):
        # Now and then a state fails retryably once or twice before it succeeds.
        script = (RETRY,) * rng.below(3) if rng.chance(0.2) else ()
        steps.append(ScriptedStep(sid, rng.between(1, 50) * (i + 1), script))
    # The plan lists its states in a shuffled order: Kahn order takes ready states in plan
    # order, so the shuffle decides the path whenever the DAG leaves a choice.
    order = list(range(n))
    rng.shuffle(order)
    plan = ExecutionPlan("dag", StateGraph([StateNode(names[i], steps[i]) for i in order], edges))
    cfg = draw_run_config(rng)
    initial = {"seeded": n}
    model = predict(plan, cfg.retry_policy.max_attempts, initial=initial)
    return ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context=initial,
        input_params=plan_shape(plan),
        model=model,
    )


SCENARIO = register(
    Scenario(
        "random_dag",
        "a random DAG of 3-10 states from the seed; the final path must be the Kahn order",
        build,
    )
)
