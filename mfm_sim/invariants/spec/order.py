"""Plan order and predecessors, as ENGINE.md ("Start and resume") says: Kahn's algorithm, the
states with no unfinished predecessor leaving in plan order, first in first out."""

from __future__ import annotations

from mfm_engine.plan import ExecutionPlan

__all__ = ["plan_order", "predecessors", "unordered_states"]


def predecessors(plan: ExecutionPlan) -> dict[str, tuple[str, ...]]:
    """Each plan state's predecessors, in edge order (edges naming unknown states ignored:
    the engine refuses such a plan before it writes anything)."""
    preds: dict[str, list[str]] = {node.id: [] for node in plan.graph.states}
    for edge in plan.graph.edges:
        if edge.to in preds and edge.from_ in preds:
            preds[edge.to].append(edge.from_)
    return {sid: tuple(p) for sid, p in preds.items()}


def _kahn(plan: ExecutionPlan) -> tuple[list[str], dict[str, int]]:
    """Kahn's order of the plan's state ids, and each state's predecessors left unordered."""
    ids = [node.id for node in plan.graph.states]
    remaining = {sid: 0 for sid in ids}
    after: dict[str, list[str]] = {sid: [] for sid in ids}
    for edge in plan.graph.edges:
        after[edge.from_].append(edge.to)
        remaining[edge.to] += 1
    queue = [sid for sid in ids if remaining[sid] == 0]
    head = 0
    while head < len(queue):  # `queue` grows at its end: first in, first out
        sid = queue[head]
        head += 1
        for nxt in after[sid]:
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                queue.append(nxt)
    return queue, remaining


def plan_order(plan: ExecutionPlan) -> list[str]:
    """State ids in the order a correct engine runs them; ValueError for a cycle."""
    queue, _ = _kahn(plan)
    if len(queue) != len(plan.graph.states):
        raise ValueError(f"plan {plan.op_id} has a cycle: it has no order")
    return queue


def unordered_states(plan: ExecutionPlan) -> list[str]:
    """The states a cycle keeps out of Kahn's order (a predecessor never ordered), in plan
    order; [] for a plan with an order. Its edges must name plan states."""
    _, remaining = _kahn(plan)
    return [sid for sid, left in remaining.items() if left > 0]
