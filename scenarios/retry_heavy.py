"""Several flaky states that fail 1-4 times each under exponential backoff; some fail for good."""

from __future__ import annotations

import itertools
from datetime import timedelta

import attrs
from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_engine.config import Exponential
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import FATAL, RETRY, ScriptedStep, plan_shape, predict

from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng


def build(rng: Rng) -> ScenarioRun:
    n = rng.between(2, 4)
    names = [f"retry.s{i}.run" for i in range(n)]
    steps = []
    for i, sid in enumerate(names):
        failures = rng.choice((1, 1, 2, 2, 3, 4))
        script: tuple[str, ...] = (RETRY,) * failures
        if rng.chance(0.12):
            # After some retryable failures, a permanent one: no attempt bound saves it.
            script = (RETRY,) * rng.below(failures) + (FATAL,)
        steps.append(ScriptedStep(sid, 10 * (i + 1), script))
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(names)]
    plan = ExecutionPlan("retry", StateGraph([StateNode(s.name, s) for s in steps], edges))
    cfg = draw_run_config(rng, min_attempts=2, max_attempts=6)
    base = rng.choice((1, 5, 50, 500))
    backoff = Exponential(
        timedelta(milliseconds=base), timedelta(milliseconds=base * rng.choice((2, 8, 1000)))
    )
    cfg = attrs.evolve(cfg, retry_policy=attrs.evolve(cfg.retry_policy, backoff=backoff))
    model = predict(plan, cfg.retry_policy.max_attempts)
    return ScenarioRun(
        plan=plan, run_config=cfg, initial_context={}, input_params=plan_shape(plan), model=model
    )


SCENARIO = register(
    Scenario(
        "retry_heavy",
        "2-4 states failing 1-4 times each (some for good) under exponential backoff, 2-6 attempts",
        build,
    )
)
