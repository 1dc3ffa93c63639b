"""The "oracle" variants: engine bugs in rules the oracle once took from the engine itself.

Under each variant the engine's own helper gives the wrong answer, so a check that asked it
would have agreed with the broken engine; the oracle's `spec` module keeps the documented
answer, and a sweep catches the variant (`test_variants.py` holds the seed and the invariant).
"""

from __future__ import annotations

from datetime import timedelta

from mfm_engine import config as engine_config
from mfm_engine import plan as engine_plan
from mfm_engine.config import Exponential
from mfm_engine.plan import DependencyEdge, ExecutionPlan, StateGraph, StateNode

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.spec.backoff import backoff
from mfm_sim.invariants.spec.order import plan_order
from mfm_sim.selfcheck.variants import VARIANTS, variant_context

MS = timedelta(milliseconds=1)
PLAN = ExecutionPlan(
    "m",
    StateGraph(
        [StateNode(f"m.{s}.run", None) for s in ("a", "b", "c")],
        [DependencyEdge("m.a.run", "m.c.run")],
    ),
)


def test_both_variants_are_registered() -> None:
    assert {"backoff_off_by_one_power", "plan_order_lifo"} <= set(VARIANTS)


def test_under_backoff_off_by_one_power_the_engine_helper_is_wrong_and_the_oracle_is_not() -> None:
    policy = Exponential(10 * MS, 10_000 * MS)
    with variant_context("backoff_off_by_one_power"):
        assert engine_config.compute_backoff(policy, 0) == 20 * MS  # the engine's answer
        assert backoff(policy, 0) == 10 * MS  # the documented one
    assert engine_config.compute_backoff(policy, 0) == 10 * MS  # restored


def test_under_plan_order_lifo_the_engine_helper_is_wrong_and_the_oracle_is_not() -> None:
    right = ["m.a.run", "m.b.run", "m.c.run"]
    with variant_context("plan_order_lifo"):
        assert [n.id for n in engine_plan.topological_order(PLAN)] != right
        assert plan_order(PLAN) == right
    assert [n.id for n in engine_plan.topological_order(PLAN)] == right


def test_backoff_off_by_one_power_is_caught_by_retry_timing() -> None:
    result = simulate(get_scenario("retry_heavy"), 0, variant="backoff_off_by_one_power")
    messages = [v.message for v in result.violations if v.invariant == "retry_timing"]
    assert messages and all("retried" in m for m in messages)


def test_plan_order_lifo_is_caught_by_model_agreement() -> None:
    result = simulate(get_scenario("diamond_io"), 0, variant="plan_order_lifo")
    assert "model_agreement" in {v.invariant for v in result.violations}
    assert not simulate(get_scenario("diamond_io"), 0).violations
