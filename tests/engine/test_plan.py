"""Plans: validation and deterministic Kahn order."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.config import RunConfig, RunManifest
from mfm_engine.errors import ErrorCategory, RunError, RunErrorKind
from mfm_engine.plan import (
    DependencyEdge,
    ExecutionPlan,
    PlanErrorKind,
    PlanValidationError,
    StateGraph,
    StateNode,
    StaticPlanResolver,
    topological_order,
)


def sid(n: int | str) -> str:
    return f"m.s.s{n}"


def plan(states: list[str], edges: list[tuple[str, str]] = (), op: object = "op") -> ExecutionPlan:
    return ExecutionPlan(
        op,  # type: ignore[arg-type]
        StateGraph(
            [StateNode(s, object()) for s in states], [DependencyEdge(a, b) for a, b in edges]
        ),
    )


def order(p: ExecutionPlan) -> list[str]:
    return [n.id for n in topological_order(p)]


def refused(p: ExecutionPlan, kind: PlanErrorKind) -> PlanValidationError:
    with pytest.raises(PlanValidationError) as exc:
        topological_order(p)
    assert exc.value.kind is kind
    assert exc.value.code == kind.value
    return exc.value


# ------------------------------------------------------------------------------ order


def test_no_edges_keeps_plan_order() -> None:
    states = [sid(n) for n in (3, 1, 2, 0)]
    assert order(plan(states)) == states


def test_single_state() -> None:
    assert order(plan([sid(0)])) == [sid(0)]


def test_ready_states_leave_fifo() -> None:
    a, b, c, d = (sid(n) for n in "abcd")
    assert order(plan([a, b, c, d], [(a, d)])) == [a, b, c, d]
    assert order(plan([a, b, c], [(c, a)])) == [b, c, a]
    # d becomes ready (after a) before c does (after b): FIFO puts d first.
    assert order(plan([a, b, c, d], [(a, d), (b, c)])) == [a, b, d, c]
    assert order(plan([a, b, c, d], [(b, c), (a, d)])) == [a, b, d, c]


def test_diamond_and_duplicate_edges() -> None:
    a, b, c, d = (sid(n) for n in "abcd")
    edges = [(a, b), (a, c), (b, d), (c, d)]
    # b and c become ready together, in edge order.
    assert order(plan([d, c, b, a], edges)) == [a, b, c, d]
    assert order(plan([d, c, b, a], [(a, c), (a, b), (b, d), (c, d)])) == [a, c, b, d]
    assert order(plan([a, b, c, d], edges + edges)) == [a, b, c, d]


def test_order_returns_the_nodes_themselves() -> None:
    p = plan([sid(0), sid(1)], [(sid(1), sid(0))])
    nodes = topological_order(p)
    assert [id(n) for n in nodes] == [id(p.graph.states[1]), id(p.graph.states[0])]


def _reference_kahn(states: list[str], edges: list[tuple[str, str]]) -> list[str]:
    indeg = dict.fromkeys(states, 0)
    succ: dict[str, list[str]] = {s: [] for s in states}
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    queue = deque(s for s in states if indeg[s] == 0)
    out = []
    while queue:
        s = queue.popleft()
        out.append(s)
        for t in succ[s]:
            indeg[t] -= 1
            if indeg[t] == 0:
                queue.append(t)
    return out


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]]]:
    n = draw(st.integers(min_value=1, max_value=12))
    rank = draw(st.permutations(range(n)))  # edges go from lower to higher rank
    pairs = [(i, j) for i in range(n) for j in range(n) if rank[i] < rank[j]]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=25)) if pairs else []
    plan_order = draw(st.permutations(range(n)))
    return [sid(i) for i in plan_order], [(sid(i), sid(j)) for i, j in chosen]


@settings(max_examples=200, deadline=None)
@given(dags())
def test_kahn_order_respects_every_edge(dag: tuple[list[str], list[tuple[str, str]]]) -> None:
    states, edges = dag
    got = order(plan(states, edges))
    assert sorted(got) == sorted(states)
    position = {s: i for i, s in enumerate(got)}
    for a, b in edges:
        assert position[a] < position[b], f"edge {a}->{b} violated in {got}"
    roots = [s for s in states if all(b != s for _, b in edges)]
    assert [s for s in got if s in roots] == roots, "zero in-degree states leave in plan order"
    assert got == _reference_kahn(states, edges)
    assert order(plan(states, edges)) == got, "deterministic"


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_any_back_edge_is_a_cycle(
    dag: tuple[list[str], list[tuple[str, str]]], data: st.DataObject
) -> None:
    states, edges = dag
    if not edges:
        return
    a, b = data.draw(st.sampled_from(edges))
    err = refused(plan(states, [*edges, (b, a)]), PlanErrorKind.CIRCULAR_DEPENDENCY)
    assert a in err.subject and b in err.subject


# ---------------------------------------------------------------------- validation


def test_cycles() -> None:
    a, b, c, d = (sid(n) for n in "abcd")
    err = refused(plan([a, b], [(a, b), (b, a)]), PlanErrorKind.CIRCULAR_DEPENDENCY)
    assert set(err.subject) == {a, b}
    refused(plan([a], [(a, a)]), PlanErrorKind.CIRCULAR_DEPENDENCY)
    err = refused(
        plan([d, a, b, c], [(a, b), (b, c), (c, a), (d, a)]), PlanErrorKind.CIRCULAR_DEPENDENCY
    )
    assert set(err.subject) == {a, b, c}
    assert "circular" in str(err)


def test_empty_plan() -> None:
    refused(plan([]), PlanErrorKind.EMPTY_PLAN)


def test_duplicate_state_ids() -> None:
    err = refused(plan([sid(0), sid(1), sid(0)]), PlanErrorKind.DUPLICATE_STATE_ID)
    assert err.subject == sid(0)


@pytest.mark.parametrize("dangling", ["from", "to"])
def test_dangling_edges(dangling: str) -> None:
    ghost = sid("ghost")
    edge = (ghost, sid(0)) if dangling == "from" else (sid(0), ghost)
    err = refused(plan([sid(0), sid(1)], [edge]), PlanErrorKind.MISSING_STATE_FOR_EDGE)
    assert err.subject == ghost


@pytest.mark.parametrize(
    "bad", ["m.s", "m.s.l.x", "M.s.l", "m.s.1", "m..l", "", "m.s.l\n", "m.s." + "l" * 64, None, 7]
)
def test_invalid_state_ids(bad: object) -> None:
    err = refused(plan([sid(0), bad]), PlanErrorKind.INVALID_STATE_ID)  # type: ignore[list-item]
    assert err.subject == bad


@pytest.mark.parametrize("bad", ["", "Op", "1op", "op-x", "op\n", "o" * 64, None, 3])
def test_invalid_op_id(bad: object) -> None:
    refused(plan([sid(0)], op=bad), PlanErrorKind.INVALID_OP_ID)


@pytest.mark.parametrize(
    ("p", "reason"),
    [
        (plan([]), "empty_plan"),
        (plan([sid(0), sid(0)]), "duplicate_state_id"),
        (plan([sid(0)], [(sid(0), sid(9))]), "missing_state_for_edge"),
        (plan([sid(0)], [(sid(0), sid(0))]), "circular_dependency"),
        (plan(["bad"]), "invalid_state_id"),
    ],
)
def test_as_run_error_is_invalid_plan(p: ExecutionPlan, reason: str) -> None:
    with pytest.raises(PlanValidationError) as exc:
        topological_order(p)
    run = exc.value.as_run_error()
    assert isinstance(run, RunError)
    assert run.kind is RunErrorKind.INVALID_PLAN
    assert run.info.code == "invalid_plan"
    assert run.info.retryable is False
    assert exc.value.code == reason
    # seed/runtime.rs: the one fixed refusal, whatever the reason (no reason in it).
    assert run.info.category is ErrorCategory.UNKNOWN
    assert run.info.message == "execution plan failed validation"
    assert run.info.details is None


# ------------------------------------------------------------------------- the rest


def test_static_resolver_and_node_equality() -> None:
    p = plan([sid(0)])
    manifest = RunManifest("op", "1", {}, RunConfig())
    assert StaticPlanResolver(p).resolve(manifest) is p
    assert StateNode(sid(0), object()) == StateNode(sid(0), object()), "state is not compared"
    assert StateGraph([StateNode(sid(0), None)]).edges == ()
