"""A linear chain of states, one of which depends on a flaky external call that fails at first."""

from __future__ import annotations

import itertools
from typing import Any

from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateMeta, StateNode
from mfm_engine.errors import ErrorCategory, StateError, info
from mfm_engine.events import RunPhase
from mfm_scenarios.knobs import draw_run_config

from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng


class AddStep:
    """Adds its value to `sum` and appends its name to `path`: the result shows order and count."""

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("sum", ctx.read("sum", 0) + self.value)
        ctx.write("path", [*ctx.read("path", []), self.name])
        events.emit("step_done", {"step": self.name})


class FlakyStep(AddStep):
    """Fails retryably the first `failures` times it runs in a simulation (a flaky dependency)."""

    def __init__(self, name: str, value: int, failures: int) -> None:
        super().__init__(name, value)
        self.failures = failures
        self.calls = 0

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise StateError(
                info(
                    "dependency_unavailable", ErrorCategory.RPC, "flaky dependency", retryable=True
                )
            )
        await super().handle(ctx, io, events)


def build(rng: Rng) -> ScenarioRun:
    n = rng.between(2, 6)
    flaky_at = rng.below(n)
    failures = rng.below(3)
    names = [f"chain.s{i}.run" for i in range(n)]
    states = []
    for i, sid in enumerate(names):
        step = FlakyStep(sid, i + 1, failures) if i == flaky_at else AddStep(sid, i + 1)
        states.append(StateNode(sid, step))
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(names)]
    cfg = draw_run_config(rng)
    plan = ExecutionPlan("chain", StateGraph(states, edges))
    completes = failures < cfg.retry_policy.max_attempts
    done = names if completes else names[:flaky_at]
    final = {"sum": sum(names.index(s) + 1 for s in done), "path": done} if done else {}
    model = Reference(RunPhase.COMPLETED if completes else RunPhase.FAILED, final)
    return ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context={},
        input_params={"n": n, "flaky_at": flaky_at, "failures": failures},
        model=model,
    )


SCENARIO = register(
    Scenario(
        "linear", "a chain of 2-6 states; one flaky state fails 0-2 times before succeeding", build
    )
)
