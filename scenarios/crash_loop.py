"""A state that crashes the process the first K times it runs: the attempt bound must end it."""

from __future__ import annotations

from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import CRASH, ScriptedStep, plan_shape, predict

from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng


def build(rng: Rng) -> ScenarioRun:
    crashes = rng.between(0, 6)
    before = ScriptedStep("loop.before.run", 7)
    looping = ScriptedStep("loop.crashy.run", 11, (CRASH,) * crashes)
    after = ScriptedStep("loop.after.run", 13)
    states = [StateNode(s.name, s) for s in (before, looping, after)]
    edges = [DependencyEdge(before.name, looping.name), DependencyEdge(looping.name, after.name)]
    plan = ExecutionPlan("loop", StateGraph(states, edges))
    cfg = draw_run_config(rng, min_attempts=1, max_attempts=4)
    # Each crash leaves an orphan that resume closes as a retryable failure: the run completes
    # iff crashes < max_attempts, and fails (after max_attempts crashes) otherwise.
    model = predict(plan, cfg.retry_policy.max_attempts)
    return ScenarioRun(
        plan=plan, run_config=cfg, initial_context={}, input_params=plan_shape(plan), model=model
    )


SCENARIO = register(
    Scenario(
        "crash_loop",
        "a handler crashes the process its first 0-6 runs, 1-4 max attempts; resume must give up",
        build,
        # Injected faults on top of the handler's own crashes: the liveness bound counts
        # incarnations in which no *injected* fault fired, and allows one per (state, attempt).
    )
)
