"""A run in replay mode: with no recorded facts, a handler that needs one fails the run."""

from __future__ import annotations

import itertools
from typing import Any

import attrs
from mfm_engine import DependencyEdge, ExecutionPlan, IoCall, StateGraph, StateMeta, StateNode
from mfm_engine.config import IoMode
from mfm_engine.errors import IoError
from mfm_engine.events import RunPhase
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import apply_step

from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng

PURE = "pure"  # no IO: runs the same in replay
KEYED = "keyed"  # io.call with a fact key: missing_fact (retryable as the run config says)
CLOCK = "clock"  # io.now_millis(): a derived key, missing_fact as well
UNKEYED = "unkeyed"  # io.call without a key: missing_fact_key, never retryable
FALLBACK = "fallback"  # catches the missing fact and carries on with a default
KINDS = (PURE, KEYED, CLOCK, UNKEYED, FALLBACK)
NEEDS_FACT = (KEYED, CLOCK, UNKEYED)


class ReplayStep:
    def __init__(self, name: str, value: int, kind: str) -> None:
        self.name = name
        self.value = value
        self.kind = kind
        self.calls = 0

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        self.calls += 1
        if self.kind == KEYED:
            ctx.write(
                f"{self.name}.quote",
                await io.call(IoCall("prices", {"pair": "a/b"}, f"quote:{self.name}")),
            )
        elif self.kind == CLOCK:
            ctx.write(f"{self.name}.now", await io.now_millis())
        elif self.kind == UNKEYED:
            ctx.write(f"{self.name}.quote", await io.call(IoCall("prices", {"pair": "a/b"})))
        elif self.kind == FALLBACK:
            try:
                quote = await io.call(IoCall("prices", {"pair": "c/d"}, f"quote:{self.name}"))
            except IoError as exc:
                quote = {"fallback": exc.info.code}
            ctx.write(f"{self.name}.quote", quote)
        apply_step(ctx, self.name, self.value)


def build(rng: Rng) -> ScenarioRun:
    n = rng.between(2, 5)
    needs_fact = rng.chance(0.5)
    kinds = [rng.choice((PURE, PURE, FALLBACK)) for _ in range(n)]
    if needs_fact:
        kinds[rng.below(n)] = rng.choice(NEEDS_FACT)
    names = [f"replay.s{i}.run" for i in range(n)]
    steps = [
        ReplayStep(sid, i + 1, kind) for i, (sid, kind) in enumerate(zip(names, kinds, strict=True))
    ]
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(names)]
    plan = ExecutionPlan("replay", StateGraph([StateNode(s.name, s) for s in steps], edges))
    cfg = draw_run_config(rng, io_mode=IoMode.REPLAY)
    cfg = attrs.evolve(cfg, replay_missing_fact_retryable=rng.chance(0.5))

    # Nothing was recorded before this run: the first state that needs a fact fails the run,
    # after every attempt when missing_fact is retryable, at once otherwise.
    ctx: dict[str, Any] = {}
    phase = RunPhase.COMPLETED
    for step in steps:
        if step.kind in NEEDS_FACT:
            phase = RunPhase.FAILED
            break
        if step.kind == FALLBACK:
            ctx[f"{step.name}.quote"] = {"fallback": "missing_fact"}
        ctx["sum"] = ctx.get("sum", 0) + step.value
        ctx["path"] = [*ctx.get("path", []), step.name]
    return ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context={},
        input_params={"kinds": kinds},
        model=Reference(phase, ctx),
    )


SCENARIO = register(
    Scenario(
        "replay_mode",
        "replay mode with nothing recorded: pure handlers complete, one needing a fact fails it",
        build,
        in_default=False,
    )
)
