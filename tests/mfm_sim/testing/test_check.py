"""MfmSim, the object the `mfm_sim` fixture hands out, used directly: seeds and outcomes."""

from __future__ import annotations

from mfm_sim.testing.check import CheckResult, MfmSim
from mfm_sim.testing.pytest_plugin import DEFAULT_SEEDS


def test_default_is_a_hundred_seeds() -> None:
    assert DEFAULT_SEEDS == 100
    assert MfmSim().seeds_for(None) == tuple(range(100))
    assert MfmSim(only_seed=5, seeds=9).seeds_for(3) == (5,)


class _Write:
    def __init__(self, value: int) -> None:
        self.value = value

    def meta(self) -> object:
        from mfm_engine import StateMeta

        return StateMeta()

    async def handle(self, ctx: object, io: object, events: object) -> None:
        ctx.write("value", self.value)  # type: ignore[attr-defined]


def test_a_plan_drawn_from_the_seed_is_judged_against_its_own_reference() -> None:
    from mfm_engine import ExecutionPlan, RunConfig, StateGraph, StateNode

    def build(rng: object) -> ExecutionPlan:
        value = rng.between(1, 1000)  # type: ignore[attr-defined]
        return ExecutionPlan("drawn", StateGraph([StateNode("drawn.write.value", _Write(value))]))

    # Same knobs for every seed: only the drawn plan tells the seeds' references apart.
    outcome = MfmSim().run(build, services=(), seeds=60, run_config=RunConfig())
    assert isinstance(outcome, CheckResult), getattr(outcome, "report", "")
