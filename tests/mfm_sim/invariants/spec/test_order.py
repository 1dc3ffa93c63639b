"""`spec.order` agrees with the engine's Kahn order and predecessors on random DAGs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.plan import (
    DependencyEdge,
    ExecutionPlan,
    StateGraph,
    StateNode,
    topological_order,
)

from mfm_sim.invariants.spec.order import plan_order, predecessors


@st.composite
def dags(draw: st.DrawFn) -> ExecutionPlan:
    """States listed in a random order; edges only from a lower to a higher rank (acyclic),
    in a random order, some repeated."""
    n = draw(st.integers(min_value=1, max_value=8))
    ids = [f"m.s{i}.run" for i in range(n)]
    listed = draw(st.permutations(ids))
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=12)) if pairs else []
    edges = [DependencyEdge(ids[a], ids[b]) for a, b in chosen]
    return ExecutionPlan("m", StateGraph([StateNode(s, None) for s in listed], edges))


@settings(max_examples=400, deadline=None)
@given(dags())
def test_plan_order_agrees_with_the_engine(plan: ExecutionPlan) -> None:
    assert plan_order(plan) == [node.id for node in topological_order(plan)]


@settings(max_examples=200, deadline=None)
@given(dags())
def test_predecessors_are_the_edges_into_each_state(plan: ExecutionPlan) -> None:
    preds = predecessors(plan)
    assert set(preds) == {n.id for n in plan.graph.states}
    for sid, before in preds.items():
        assert list(before) == [e.from_ for e in plan.graph.edges if e.to == sid]


def _plan(ids: list[str], edges: list[tuple[str, str]]) -> ExecutionPlan:
    return ExecutionPlan(
        "m",
        StateGraph(
            [StateNode(f"m.{s}.run", None) for s in ids],
            [DependencyEdge(f"m.{a}.run", f"m.{b}.run") for a, b in edges],
        ),
    )


def test_ties_leave_in_plan_order_first_in_first_out() -> None:
    # c and a are ready first, in plan order; b (freed by c) queues behind a.
    plan = _plan(["c", "a", "b", "d"], [("c", "b"), ("a", "d"), ("b", "d")])
    assert plan_order(plan) == ["m.c.run", "m.a.run", "m.b.run", "m.d.run"]


def test_a_cycle_has_no_order() -> None:
    with pytest.raises(ValueError, match="cycle"):
        plan_order(_plan(["a", "b"], [("a", "b"), ("b", "a")]))
