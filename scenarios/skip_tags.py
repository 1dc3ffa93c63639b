"""States tagged and skipped through `run_config.skip_tags`: a skipped handler never runs."""

from __future__ import annotations

import itertools

from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import FATAL, RETRY, ScriptedStep, plan_shape, predict

from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng

TAGS = ("audit", "slow", "optional", "beta")


def build(rng: Rng) -> ScenarioRun:
    n = rng.between(3, 7)
    skip_tags = tuple(t for t in TAGS if rng.chance(0.4))
    names = [f"tags.s{i}.run" for i in range(n)]
    steps = []
    for i, sid in enumerate(names):
        tags = tuple(t for t in TAGS if rng.chance(0.25))
        skipped = bool(set(tags) & set(skip_tags))
        # A skipped state fails for good if its handler ever runs: skipping it is the only
        # way through. A state that runs may be flaky once.
        if skipped:
            script: tuple[str, ...] = (FATAL,)
        else:
            script = (RETRY,) if rng.chance(0.15) else ()
        steps.append(ScriptedStep(sid, i + 1, script, tags))
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(names)]
    plan = ExecutionPlan("tags", StateGraph([StateNode(s.name, s) for s in steps], edges))
    cfg = draw_run_config(rng, min_attempts=2, skip_tags=skip_tags)
    model = predict(plan, cfg.retry_policy.max_attempts, skip_tags=skip_tags)
    return ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context={},
        input_params=plan_shape(plan),
        model=model,
    )


SCENARIO = register(
    Scenario(
        "skip_tags",
        "3-7 tagged states, some skipped by run_config.skip_tags; a skipped handler never runs",
        build,
    )
)
