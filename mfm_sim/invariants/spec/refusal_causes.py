"""Why a plan or a history was refused: the reason a fixed refusal chains, predicted.

`seed/runtime.rs` refuses every plan that cannot be ordered with one ErrorInfo
(`invalid_plan`) and every broken stream with another (`invalid_attempt_envelopes`); the
port keeps both byte for byte and chains the reason as the `RunError`'s cause (recorded by
the runner as `RaisedError.cause_*`). Here the reason is derived from the input alone:

- a stream: the first break of the oracle's own envelope walk (`spec/envelopes.py`, ENGINE.md
  "Attempt envelopes" and "Later checks": another run id, a seq that repeats or steps back,
  a gap, `StateEntered` while open, a terminal with no open attempt or for another state,
  `RunStarted`/`RunCompleted` inside an attempt), at its seq;
- a plan: ENGINE.md's ids (`OpId` `^[a-z][a-z0-9_]{0,62}$`, a `StateId` three such segments
  joined by dots), then `seed/runtime.rs`'s `topological_order`: no state, a state id twice,
  an edge naming an unknown state (its `from` before its `to`), a cycle (the states left
  unordered). Where the two are silent about which comes first, every plausible first
  reason is accepted (see `plan_reasons`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Any

from mfm_engine.envelopes import EnvelopeErrorKind
from mfm_engine.events import EventEnvelope
from mfm_engine.plan import ExecutionPlan, PlanErrorKind

from mfm_sim.invariants.spec.envelopes import walk
from mfm_sim.invariants.spec.order import unordered_states

__all__ = ["envelope_cause_problem", "plan_cause_problem", "plan_reasons"]

_OP = r"[a-z][a-z0-9_]{0,62}"
OP_ID = re.compile(rf"^{_OP}$")
STATE_ID = re.compile(rf"^{_OP}\.{_OP}\.{_OP}$")


def _value(member: object) -> object:
    return member.value if isinstance(member, enum.Enum) else member


def _message_problem(message: object, what: str) -> str:
    if not isinstance(message, str) or not message:
        return f"chains {what} with the message {message!r}, not a non-empty string"
    return ""


def envelope_cause_problem(raised: Any, stream: Iterable[EventEnvelope]) -> str:
    """What is wrong with the reason an `invalid_attempt_envelopes` refusal of `stream` (the
    stream as the engine read it) chains ("" if nothing). A stream the walk finds no break in
    gives no prediction: the refusal's code is judged elsewhere."""
    problem = walk(stream).problem
    if problem is None or raised is None:
        return ""
    reason, seq = problem
    kind = raised.cause_kind
    if not isinstance(kind, EnvelopeErrorKind):
        return f"chains {raised.cause_type} {kind!r}, not the envelope break {reason} at seq {seq}"
    if kind.value != reason or raised.cause_seq != seq:
        return (
            f"names {kind.value} at seq {raised.cause_seq!r}; the stream's first break is "
            f"{reason} at seq {seq}"
        )
    return _message_problem(raised.cause_message, f"{reason} at seq {seq}")


def _first_unknown_end(plan: ExecutionPlan, ids: set[str]) -> str | None:
    for edge in plan.graph.edges:
        for end in (edge.from_, edge.to):  # seed/runtime.rs: `from` is checked first
            if end not in ids:
                return end
    return None


def plan_reasons(plan: ExecutionPlan) -> set[tuple[str, Any]]:
    """Every (reason, subject) a correct engine may name first for `plan`; empty for a plan
    it can order. In the seed an id is checked when it is made, so a bad op or state id comes
    before the plan is looked at; ENGINE.md does not say which of an empty plan, a bad op id,
    the first bad state id and the first repeated one is named first, so each present is
    accepted. Then the first edge end naming no state, then a cycle."""
    states = plan.graph.states
    first: set[tuple[str, Any]] = set()
    if not states:
        first.add((PlanErrorKind.EMPTY_PLAN.value, None))
    if not isinstance(plan.op_id, str) or not OP_ID.match(plan.op_id):
        first.add((PlanErrorKind.INVALID_OP_ID.value, plan.op_id))
    bad = next(
        (n.id for n in states if not isinstance(n.id, str) or not STATE_ID.match(n.id)), None
    )
    if bad is not None:
        first.add((PlanErrorKind.INVALID_STATE_ID.value, bad))
    seen: set[str] = set()
    for node in states:
        if node.id in seen:
            first.add((PlanErrorKind.DUPLICATE_STATE_ID.value, node.id))
            break
        seen.add(node.id)
    if first:
        return first
    end = _first_unknown_end(plan, seen)
    if end is not None:
        return {(PlanErrorKind.MISSING_STATE_FOR_EDGE.value, end)}
    left = unordered_states(plan)
    if left:
        # ENGINE.md names no order for the states left: compared as a set.
        return {(PlanErrorKind.CIRCULAR_DEPENDENCY.value, frozenset(left))}
    return set()


def plan_cause_problem(raised: Any, plan: ExecutionPlan) -> str:
    """What is wrong with the reason an `invalid_plan` refusal of `plan` chains ("" if
    nothing, or if the plan is one a correct engine orders)."""
    reasons = plan_reasons(plan)
    if not reasons or raised is None:
        return ""
    want = " or ".join(sorted(f"{r} ({s!r})" for r, s in reasons))
    kind = raised.cause_kind
    if not isinstance(kind, PlanErrorKind):
        return f"chains {raised.cause_type} {kind!r}, not the plan's reason {want}"
    subject = raised.cause_subject
    if kind is PlanErrorKind.CIRCULAR_DEPENDENCY and isinstance(subject, (tuple, list)):
        subject = frozenset(subject)
    if (kind.value, subject) not in reasons:
        return f"names {kind.value} ({raised.cause_subject!r}); the plan's reason is {want}"
    return _message_problem(raised.cause_message, f"{kind.value} ({raised.cause_subject!r})")
