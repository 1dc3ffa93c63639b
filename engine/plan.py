"""Plans: states, dependency edges, validation and Kahn order."""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import attrs
from mfm_engine.config import RunManifest
from mfm_engine.errors import RunError, invalid_plan
from mfm_engine.ids import OP_ID_RE, STATE_ID_RE


class PlanErrorKind(enum.Enum):
    EMPTY_PLAN = "empty_plan"
    DUPLICATE_STATE_ID = "duplicate_state_id"
    MISSING_STATE_FOR_EDGE = "missing_state_for_edge"
    CIRCULAR_DEPENDENCY = "circular_dependency"
    INVALID_STATE_ID = "invalid_state_id"
    INVALID_OP_ID = "invalid_op_id"


class PlanValidationError(ValueError):
    def __init__(self, kind: PlanErrorKind, message: str, subject: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.subject = subject

    @property
    def code(self) -> str:
        return self.kind.value

    def as_run_error(self) -> RunError:
        # seed/runtime.rs maps every plan validation error to one fixed refusal: its message
        # names no reason and its details are None, so neither says which check failed.
        return invalid_plan("invalid_plan", "execution plan failed validation")


@attrs.frozen
class StateNode:
    id: str
    state: Any = attrs.field(eq=False)


@attrs.frozen
class DependencyEdge:
    from_: str
    to: str


@attrs.frozen
class StateGraph:
    states: tuple[StateNode, ...] = attrs.field(converter=tuple)
    edges: tuple[DependencyEdge, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class ExecutionPlan:
    op_id: str
    graph: StateGraph


class PlanResolver(Protocol):
    def resolve(self, manifest: RunManifest) -> ExecutionPlan: ...


@attrs.frozen
class StaticPlanResolver:
    """Resolves every manifest to one plan, as most tests and scenarios need."""

    plan: ExecutionPlan

    def resolve(self, manifest: RunManifest) -> ExecutionPlan:
        return self.plan


def topological_order(plan: ExecutionPlan) -> list[StateNode]:
    """Kahn order; ready states leave in plan order (FIFO), so the order is deterministic."""
    states: Sequence[StateNode] = plan.graph.states
    if not states:
        raise PlanValidationError(PlanErrorKind.EMPTY_PLAN, "plan has no states")
    if not isinstance(plan.op_id, str) or not OP_ID_RE.match(plan.op_id):
        raise PlanValidationError(
            PlanErrorKind.INVALID_OP_ID, f"invalid op id {plan.op_id!r}", plan.op_id
        )
    nodes: dict[str, StateNode] = {}
    for node in states:
        if not isinstance(node.id, str) or not STATE_ID_RE.match(node.id):
            raise PlanValidationError(
                PlanErrorKind.INVALID_STATE_ID, f"invalid state id {node.id!r}", node.id
            )
        if node.id in nodes:
            raise PlanValidationError(
                PlanErrorKind.DUPLICATE_STATE_ID, f"duplicate state id {node.id}", node.id
            )
        nodes[node.id] = node
    indegree = dict.fromkeys(nodes, 0)
    successors: dict[str, list[str]] = {sid: [] for sid in nodes}
    for edge in plan.graph.edges:
        for end in (edge.from_, edge.to):
            if end not in nodes:
                raise PlanValidationError(
                    PlanErrorKind.MISSING_STATE_FOR_EDGE, f"edge names unknown state {end}", end
                )
        successors[edge.from_].append(edge.to)
        indegree[edge.to] += 1
    queue = deque(sid for sid in nodes if indegree[sid] == 0)
    out: list[StateNode] = []
    while queue:
        sid = queue.popleft()
        out.append(nodes[sid])
        for to in successors[sid]:
            indegree[to] -= 1
            if indegree[to] == 0:
                queue.append(to)
    if len(out) != len(nodes):
        cycle = [sid for sid in nodes if indegree[sid] > 0]
        raise PlanValidationError(
            PlanErrorKind.CIRCULAR_DEPENDENCY, f"circular dependency among {cycle}", cycle
        )
    return out
