"""Building blocks the built-in scenarios share: a scripted step and the model that predicts it.

A `ScriptedStep` adds its value to `sum` and appends its name to `path`, so the final context
shows which handlers ran, in which order and how often. Its first calls follow a script of
actions (a retryable failure, a fatal failure, a process crash); a script ending in a fatal
failure fails every later call too. The call counter lives on the step object, which
belongs to one scenario instance (one simulation): nothing leaks between simulations.

`predict` walks a plan in Kahn order the way a correct engine runs it without faults and
returns the final phase and context: the model a scenario hands to invariant 13. It orders
the plan with the oracle's own Kahn order (`mfm_sim.invariants.spec.order`), written from the
documented rule, not with the engine's own function: a model that shared the engine's ordering
would share its bugs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mfm_engine.errors import ErrorCategory, StateError, info
from mfm_engine.events import RunPhase
from mfm_engine.meta import StateMeta
from mfm_engine.plan import ExecutionPlan, StateNode

from mfm_sim.faults.stores import SimCrash
from mfm_sim.invariants.spec.order import plan_order
from mfm_sim.run.observation import Reference

OK = "ok"
RETRY = "retry"  # a retryable failure
FATAL = "fatal"  # a non-retryable failure
CRASH = "crash"  # the process dies inside the handler (SimCrash)
ACTIONS = (OK, RETRY, FATAL, CRASH)


class ScriptedStep:
    """Adds `value` to `sum` and its name to `path`; its first calls follow `script`."""

    def __init__(
        self, name: str, value: int, script: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> None:
        for action in script:
            if action not in ACTIONS:
                raise ValueError(f"unknown step action {action!r}")
        self.name = name
        self.value = value
        self.script = tuple(script)
        self.tags = tuple(tags)
        self.calls = 0
        self._meta = StateMeta(tags=self.tags)  # immutable; the engine asks every attempt

    def meta(self) -> StateMeta:
        return self._meta

    def next_action(self) -> str:
        call = self.calls
        self.calls += 1
        if call < len(self.script):
            return self.script[call]
        # A permanent failure stays permanent: a crash that closes a fatal attempt as a
        # retryable orphan must not turn the state into a success on the retry.
        return FATAL if self.script and self.script[-1] == FATAL else OK

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        action = self.next_action()
        if action == RETRY:
            raise StateError(
                info(
                    "dependency_unavailable",
                    ErrorCategory.RPC,
                    f"{self.name}: flaky dependency",
                    retryable=True,
                )
            )
        if action == FATAL:
            raise StateError(
                info(
                    "invalid_request",
                    ErrorCategory.PARSING_INPUT,
                    f"{self.name}: permanent failure",
                    retryable=False,
                )
            )
        if action == CRASH:
            raise SimCrash()
        apply_step(ctx, self.name, self.value)
        events.emit("step_done", {"step": self.name})


def apply_step(ctx: Any, name: str, value: int) -> None:
    ctx.write("sum", ctx.read("sum", 0) + value)
    ctx.write("path", [*ctx.read("path", []), name])


def attempts_outcome(script: Sequence[str], max_attempts: int) -> bool:
    """True if a state with this script completes within `max_attempts` fault-free attempts.

    A retryable failure and a crash (closed on resume as a retryable orphan) each use one
    attempt; a fatal failure ends the run at once.
    """
    for attempt in range(max_attempts):
        action = script[attempt] if attempt < len(script) else OK
        if action == OK:
            return True
        if action == FATAL:
            return False
    return False


def kahn_order(plan: ExecutionPlan) -> list[StateNode]:
    """The order a correct engine runs a valid plan in: Kahn's algorithm, where states that
    become ready leave in plan order (FIFO) and a state's successors in edge order. ValueError
    for a cycle."""
    nodes = {node.id: node for node in plan.graph.states}
    return [nodes[sid] for sid in plan_order(plan)]


def predict(
    plan: ExecutionPlan,
    max_attempts: int,
    *,
    initial: Mapping[str, Any] | None = None,
    skip_tags: Sequence[str] = (),
) -> Reference:
    """The fault-free outcome of a plan of `ScriptedStep`s: Kahn order, up to the first failure."""
    ctx: dict[str, Any] = dict(initial or {})
    skip = set(skip_tags)
    for node in kahn_order(plan):
        step = node.state
        assert isinstance(step, ScriptedStep), (
            f"predict() needs ScriptedSteps, got {type(step).__name__}"
        )
        if skip and skip.intersection(step.tags):
            continue
        if not attempts_outcome(step.script, max_attempts):
            return Reference(RunPhase.FAILED, ctx)
        ctx["sum"] = ctx.get("sum", 0) + step.value
        ctx["path"] = [*ctx.get("path", []), step.name]
    return Reference(RunPhase.COMPLETED, ctx)


def plan_shape(plan: ExecutionPlan) -> dict[str, Any]:
    """The plan as plain JSON for `input_params`: another plan gives another manifest id."""
    states = []
    for node in plan.graph.states:
        step = node.state
        entry: dict[str, Any] = {"id": node.id}
        if isinstance(step, ScriptedStep):
            entry.update(value=step.value, script=list(step.script), tags=list(step.tags))
        states.append(entry)
    return {
        "op_id": plan.op_id,
        "states": states,
        "edges": [[e.from_, e.to] for e in plan.graph.edges],
    }
