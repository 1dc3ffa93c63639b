"""User plans that drive what no built-in scenario does (write-then-fail, deletes, secrets,
error details), so each promise check's broken-engine variant shows it can fire."""

from __future__ import annotations

import itertools
from typing import Any

import attrs
from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateMeta, StateNode
from mfm_engine.config import EventProfile, RetryPolicy, RunConfig
from mfm_engine.errors import ErrorCategory, StateError, info

from mfm_sim import simulate
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.scenario import Scenario
from mfm_sim.testing.userplan import user_scenario

__all__ = [
    "SEEDS",
    "caught",
    "clean",
    "deleting",
    "detailed_error",
    "secret_event",
    "write_then_fail",
]

SEEDS = range(6)
CONFIG = RunConfig(retry_policy=RetryPolicy(max_attempts=3), event_profile=EventProfile.NORMAL)


@attrs.frozen
class _Step:
    body: Any

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        await self.body(ctx, io, events)


def _plan(op: str, *bodies: Any) -> ExecutionPlan:
    ids = [f"{op}.s{i}.run" for i in range(len(bodies))]
    nodes = [StateNode(sid, _Step(b)) for sid, b in zip(ids, bodies, strict=True)]
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(ids)]
    return ExecutionPlan(op, StateGraph(nodes, edges))


async def _write_then_fail(ctx: Any, io: Any, events: Any) -> None:
    seen = ctx.read("tmp", 0)
    ctx.write("tmp", seen + 1)
    raise StateError(info("flaky", ErrorCategory.RPC, "try again", retryable=True))


async def _write_two(ctx: Any, io: Any, events: Any) -> None:
    ctx.write("a", 1)
    ctx.write("b", 2)


async def _delete_one(ctx: Any, io: Any, events: Any) -> None:
    ctx.delete("a")
    ctx.write("c", ctx.read("b", 0) + 1)


async def _emit_secret(ctx: Any, io: Any, events: Any) -> None:
    events.emit("audit", {"who": "me"})
    try:
        events.emit("audit", {"password": "hunter2"})
    except StateError:
        ctx.write("refused", True)


async def _fail_with_details(ctx: Any, io: Any, events: Any) -> None:
    raise StateError(
        info(
            "bad_login",
            ErrorCategory.OFF_CHAIN,
            "password rejected",
            details={"private_key": "k"},
        )
    )


def write_then_fail() -> Scenario:
    """One state that writes `tmp` (read first) and fails retryably, every attempt."""
    return user_scenario(
        "write_then_fail", _plan("wtf", _write_then_fail), run_config=CONFIG, transparent=False
    )


def deleting() -> Scenario:
    """Writes a and b, then deletes a in the next state."""
    return user_scenario("deleting", _plan("del", _write_two, _delete_one), run_config=CONFIG)


def secret_event() -> Scenario:
    """Emits a plain domain event and one with a secret, catching the refusal."""
    return user_scenario("secret_event", _plan("sec", _emit_secret), run_config=CONFIG)


def detailed_error() -> Scenario:
    """Fails with a secret in the message and a secret detail."""
    return user_scenario("detailed_error", _plan("det", _fail_with_details), run_config=CONFIG)


def caught(scenario: Scenario, variant: str, invariant: str) -> list[Violation]:
    """The first of SEEDS on which `variant` breaks `invariant`; the violations there."""
    for seed in SEEDS:
        found = [v for v in simulate(scenario, seed, variant=variant).violations]
        if any(v.invariant == invariant for v in found):
            return found
    raise AssertionError(f"{variant} not caught by {invariant} in seeds {list(SEEDS)}")


def clean(scenario: Scenario) -> None:
    """The correct engine passes every check on every seed of SEEDS."""
    for seed in SEEDS:
        result = simulate(scenario, seed)
        assert not result.violations, [v.describe() for v in result.violations]
