"""Handlers that read the clock and entropy through recorded facts (not crash-transparent)."""

from __future__ import annotations

import itertools
from typing import Any

from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateMeta, StateNode
from mfm_engine.errors import ErrorCategory, StateError, info
from mfm_engine.events import RunPhase
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import RETRY, attempts_outcome

from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng


class Stamp:
    """Reads `now_millis` `clocks` times and `random_bytes(n)` once, stores them, then maybe fails.

    A failure comes after the facts are recorded, so a retry (a new attempt: new derived keys)
    records fresh ones.
    """

    def __init__(self, name: str, clocks: int, nbytes: int, failures: int) -> None:
        self.name = name
        self.clocks = clocks
        self.nbytes = nbytes
        self.failures = failures
        self.calls = 0

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        self.calls += 1
        times = [await io.now_millis() for _ in range(self.clocks)]
        noise = await io.random_bytes(self.nbytes)
        if self.calls <= self.failures:
            raise StateError(
                info("clock_skew", ErrorCategory.RPC, f"{self.name}: retry later", retryable=True)
            )
        if times != sorted(times):
            raise StateError(
                info("clock_went_back", ErrorCategory.UNKNOWN, f"{self.name}: {times}")
            )
        if len(noise) != self.nbytes:
            raise StateError(
                info("short_entropy", ErrorCategory.UNKNOWN, f"{self.name}: {len(noise)} bytes")
            )
        ctx.write(f"{self.name}.times", times)
        ctx.write(f"{self.name}.noise", noise.hex())
        ctx.write("stamped", [*ctx.read("stamped", []), self.name])


def build(rng: Rng) -> ScenarioRun:
    n = rng.between(1, 4)
    names = [f"stamp.s{i}.run" for i in range(n)]
    steps = [Stamp(sid, rng.between(1, 3), rng.between(1, 40), rng.below(2)) for sid in names]
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(names)]
    plan = ExecutionPlan("stamp", StateGraph([StateNode(s.name, s) for s in steps], edges))
    cfg = draw_run_config(rng)
    max_attempts = cfg.retry_policy.max_attempts
    completes = all(attempts_outcome((RETRY,) * s.failures, max_attempts) for s in steps)
    # The values are the clock's and the entropy's: only the status is predictable.
    model = Reference(RunPhase.COMPLETED if completes else RunPhase.FAILED, None)
    return ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context={},
        input_params={"states": [[s.name, s.clocks, s.nbytes, s.failures] for s in steps]},
        transparent=False,
        model=model,
    )


SCENARIO = register(
    Scenario(
        "facts_time_random",
        "1-4 states record now_millis and random_bytes as facts; only the status is predictable",
        build,
        in_default=False,
    )
)
