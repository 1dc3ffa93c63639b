"""Handlers that fail by raising plain Python exceptions (ValueError, KeyError, ...).

Added by mutation testing (docs/mutation.md): no other scenario's handler raises anything but
a `StateError` or a `SimCrash`, so the engine's mapping of an arbitrary handler exception to
a non-retryable `handler_exception` state failure (`engine/runtime/attempt.py`,
`_handler_error`) was never exercised. A `RaisingStep` behaves like a `ScriptedStep` except
that its fatal action raises a plain exception; the model is the same (`predict`): a plain
exception is a permanent failure that ends the run FAILED at that state.
"""

from __future__ import annotations

import itertools
from typing import Any

from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import CRASH, FATAL, OK, RETRY, ScriptedStep, plan_shape, predict

from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng

_EXCEPTIONS: tuple[type[Exception], ...] = (ValueError, KeyError, ZeroDivisionError, RuntimeError)


class RaisingStep(ScriptedStep):
    """A `ScriptedStep` whose fatal action raises a plain exception instead of a `StateError`."""

    def __init__(self, name: str, value: int, script: tuple[str, ...], exc: type[Exception]):
        super().__init__(name, value, script)
        self.exc = exc

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        if (self.calls < len(self.script) and self.script[self.calls] == FATAL) or (
            self.calls >= len(self.script) and self.script and self.script[-1] == FATAL
        ):
            self.calls += 1
            raise self.exc(f"{self.name}: handler bug")
        await super().handle(ctx, io, events)


def build(rng: Rng) -> ScenarioRun:
    n = rng.between(2, 4)
    names = [f"raise.s{i}.run" for i in range(n)]
    raiser = rng.below(n)
    steps: list[ScriptedStep] = []
    for i, sid in enumerate(names):
        if i == raiser:
            prefix = tuple(rng.choice((RETRY, CRASH, OK)) for _ in range(rng.below(3)))
            prefix = tuple(a for a in prefix if a != OK)
            script = (*prefix, FATAL) if rng.chance(0.8) else prefix
            steps.append(RaisingStep(sid, 10 * (i + 1), script, rng.choice(_EXCEPTIONS)))
        else:
            steps.append(ScriptedStep(sid, 10 * (i + 1), (RETRY,) * rng.below(2)))
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(names)]
    plan = ExecutionPlan("raise", StateGraph([StateNode(s.name, s) for s in steps], edges))
    cfg = draw_run_config(rng, min_attempts=3, max_attempts=5)
    model = predict(plan, cfg.retry_policy.max_attempts)
    return ScenarioRun(
        plan=plan, run_config=cfg, initial_context={}, input_params=plan_shape(plan), model=model
    )


SCENARIO = register(
    Scenario(
        "handler_exceptions",
        "2-4 states; one fails by raising a plain Python exception (a non-retryable "
        "handler_exception), after some retryable failures or crashes",
        build,
        in_default=False,
    )
)
