"""The reason a plan or history refusal chains, predicted from the input alone: each rule fires
on a hand-made wrong reason and passes the right one; on random plans and streams the
prediction holds the reason the engine gives."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.envelopes import EnvelopeError, EnvelopeErrorKind, analyze_kernel_events
from mfm_engine.errors import RunErrorKind, invalid_plan
from mfm_engine.events import DomainEvent, EventEnvelope, RunStarted, StateEntered
from mfm_engine.plan import (
    DependencyEdge,
    ExecutionPlan,
    PlanErrorKind,
    PlanValidationError,
    StateGraph,
    StateNode,
    topological_order,
)

from mfm_sim.invariants.spec.refusal_causes import (
    envelope_cause_problem,
    plan_cause_problem,
    plan_reasons,
)
from mfm_sim.run.observation import RaisedError
from tests.mfm_sim.invariants.spec.test_envelopes import streams

RUN = uuid.UUID(int=7)
SNAP = "a" * 64
INFO = invalid_plan("invalid_attempt_envelopes", "invalid attempt envelopes in event stream").info


def _raised(kind: Any, seq: Any = None, subject: Any = None, message: Any = "why") -> RaisedError:
    cause = "EnvelopeError" if isinstance(kind, EnvelopeErrorKind) else "PlanValidationError"
    return RaisedError(RunErrorKind.INVALID_PLAN, INFO, cause, kind, seq, subject, message)


def _entered_twice() -> list[EventEnvelope]:
    events = [
        RunStarted("op", SNAP, SNAP),
        DomainEvent("op_boundary", {}),
        StateEntered("op.s1.run", 0, SNAP),
        StateEntered("op.s1.run", 1, SNAP),
    ]
    return [EventEnvelope(RUN, n, e) for n, e in enumerate(events, 1)]


def test_the_right_break_at_its_seq_passes() -> None:
    assert (
        envelope_cause_problem(_raised(EnvelopeErrorKind.ENTERED_WHILE_OPEN, 4), _entered_twice())
        == ""
    )


@pytest.mark.parametrize(
    ("raised", "words"),
    [
        (_raised(EnvelopeErrorKind.ENTERED_WHILE_OPEN, 3), "at seq 3"),  # the open one's seq
        (_raised(EnvelopeErrorKind.TERMINAL_WITHOUT_ENTERED, 4), "names terminal_without"),
        (_raised(EnvelopeErrorKind.ENTERED_WHILE_OPEN, 4, message=""), "message ''"),
        (_raised(EnvelopeErrorKind.ENTERED_WHILE_OPEN, 4, message=None), "message None"),
        (RaisedError(RunErrorKind.INVALID_PLAN, INFO), "chains None None"),  # no reason
        (_raised(PlanErrorKind.EMPTY_PLAN, 4), "chains PlanValidationError"),
    ],
)
def test_a_wrong_or_missing_break_is_caught(raised: RaisedError, words: str) -> None:
    problem = envelope_cause_problem(raised, _entered_twice())
    assert words in problem and "entered_while_open at seq 4" in problem, problem


def test_a_stream_without_a_break_predicts_nothing() -> None:
    clean = _entered_twice()[:3]
    assert envelope_cause_problem(_raised(EnvelopeErrorKind.SEQ_GAP, 9), clean) == ""


def _plan(ids: list[str], edges: list[tuple[str, str]] = (), op: str = "op") -> ExecutionPlan:  # type: ignore[assignment]
    nodes = [StateNode(i, None) for i in ids]
    return ExecutionPlan(op, StateGraph(nodes, [DependencyEdge(a, b) for a, b in edges]))


GOOD = "op.a.run"
OTHER = "op.b.run"
PLANS = {
    "empty": (_plan([]), PlanErrorKind.EMPTY_PLAN, None),
    "op_id": (_plan([GOOD], op="Bad-Op"), PlanErrorKind.INVALID_OP_ID, "Bad-Op"),
    "state_id": (_plan([GOOD, "op.Bad"]), PlanErrorKind.INVALID_STATE_ID, "op.Bad"),
    "duplicate": (_plan([GOOD, OTHER, GOOD]), PlanErrorKind.DUPLICATE_STATE_ID, GOOD),
    "edge_to": (
        _plan([GOOD], [(GOOD, "op.x.run")]),
        PlanErrorKind.MISSING_STATE_FOR_EDGE,
        "op.x.run",
    ),
    "edge_from": (
        _plan([GOOD], [("op.y.run", "op.x.run")]),
        PlanErrorKind.MISSING_STATE_FOR_EDGE,
        "op.y.run",
    ),
    "cycle": (
        _plan(["op.c.run", GOOD, OTHER], [(GOOD, OTHER), (OTHER, GOOD)]),
        PlanErrorKind.CIRCULAR_DEPENDENCY,
        (GOOD, OTHER),
    ),
}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_each_plan_reason_passes_when_named_with_its_subject(name: str) -> None:
    plan, kind, subject = PLANS[name]
    assert plan_cause_problem(_raised(kind, subject=subject), plan) == ""


@pytest.mark.parametrize("name", sorted(PLANS))
def test_another_plan_reason_or_subject_is_caught(name: str) -> None:
    plan, kind, subject = PLANS[name]
    other = (
        PlanErrorKind.EMPTY_PLAN
        if kind is not PlanErrorKind.EMPTY_PLAN
        else PlanErrorKind.INVALID_OP_ID
    )
    assert "the plan's reason is" in plan_cause_problem(_raised(other, subject=subject), plan)
    assert "the plan's reason is" in plan_cause_problem(_raised(kind, subject="op.z.run"), plan)
    assert "message" in plan_cause_problem(_raised(kind, subject=subject, message=""), plan)
    assert "chains" in plan_cause_problem(RaisedError(RunErrorKind.INVALID_PLAN, INFO), plan)


def test_a_cycle_left_with_an_ordered_state_is_caught() -> None:
    plan, kind, _ = PLANS["cycle"]
    assert "the plan's reason is" in plan_cause_problem(
        _raised(kind, subject=("op.c.run", GOOD, OTHER)), plan
    )


def test_a_plan_with_an_order_predicts_nothing() -> None:
    plan = _plan([GOOD, OTHER], [(GOOD, OTHER)])
    assert plan_reasons(plan) == set()
    assert plan_cause_problem(_raised(PlanErrorKind.EMPTY_PLAN), plan) == ""


@st.composite
def plans(draw: st.DrawFn) -> ExecutionPlan:
    pool = ["op.a.run", "op.b.run", "op.c.run", "op.d.run", "op.Bad", "x"]
    ids = draw(st.lists(st.sampled_from(pool), max_size=5))
    ends = st.sampled_from([*pool, "op.e.run"])
    edges = draw(st.lists(st.tuples(ends, ends), max_size=5))
    op = draw(st.sampled_from(["op", "op_2", "Op", ""]))
    return _plan(ids, edges, op)


@settings(max_examples=400, deadline=None)
@given(plans())
def test_the_engines_plan_reason_is_one_predicted(plan: ExecutionPlan) -> None:
    try:
        topological_order(plan)
    except PlanValidationError as exc:
        subject = frozenset(exc.subject) if isinstance(exc.subject, list) else exc.subject
        assert (exc.kind.value, subject) in plan_reasons(plan)
    else:
        assert plan_reasons(plan) == set()


@settings(max_examples=300, deadline=None)
@given(streams())
def test_the_engines_envelope_break_is_the_one_predicted(stream: list[EventEnvelope]) -> None:
    try:
        analyze_kernel_events(stream)
    except EnvelopeError as exc:
        got = _raised(exc.kind, exc.seq, message=exc.args[0])
        assert envelope_cause_problem(got, stream) == ""
