"""buggify: fault points in users' own code, live only inside a simulation, seeded by it."""

from __future__ import annotations

import asyncio
from typing import Any

from mfm_engine import (
    ErrorCategory,
    ExecutionPlan,
    IoCall,
    RetryPolicy,
    RunConfig,
    StateGraph,
    StateMeta,
    StateNode,
)
from mfm_engine.errors import IoErrorKind
from mfm_engine.live_io import io_error

from mfm_sim import simulate
from mfm_sim.faults.buggify import buggify
from mfm_sim.testing.history import replay_history
from mfm_sim.testing.userplan import user_scenario
from mfm_sim.world.scope import current_world


class Gateway:
    """A user's own transport with a buggify fault point: a timeout that never happens live."""

    def __init__(self, world: Any) -> None:
        self.calls = 0

    async def call(self, call: IoCall) -> Any:
        self.calls += 1
        if buggify("gateway.timeout", 1.0, activation=1.0):
            raise io_error(
                IoErrorKind.TRANSPORT,
                "gateway_timeout",
                ErrorCategory.RPC,
                "buggified timeout",
                retryable=True,
            )
        return {"authorized": True}


class Authorize:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        answer = await io.call(IoCall("gateway", {"amount": 5}, "auth:o1"))
        ctx.write("authorized", answer["authorized"])


def _plan() -> ExecutionPlan:
    return ExecutionPlan("buggify", StateGraph([StateNode("buggify.auth.card", Authorize())]))


SCENARIO = user_scenario(
    "buggify_gateway",
    _plan,
    run_config=RunConfig(retry_policy=RetryPolicy(10)),
    services={"gateway": Gateway},
)


def _fired(result: Any) -> list[str]:
    return [detail for _, _, kind, detail in result.trace if kind == "buggify"]


def test_never_fires_outside_a_simulation() -> None:
    assert buggify("anything", 1.0, activation=1.0) is False

    async def on_a_stock_loop() -> bool:
        return buggify("anything", 1.0, activation=1.0)

    assert asyncio.run(on_a_stock_loop()) is False
    simulate(SCENARIO, 1)  # leaves a (dead) world behind in this context
    assert current_world() is None
    assert buggify("anything", 1.0, activation=1.0) is False
    assert asyncio.run(on_a_stock_loop()) is False


def test_deterministic_inside_a_simulation() -> None:
    runs = [simulate(SCENARIO, seed) for seed in range(12)]
    fired = [_fired(r) for r in runs]
    assert any(fired), "buggify never fired in 12 seeds"
    assert all(f.endswith("in buggify.auth.card") for fs in fired for f in fs)
    again = [simulate(SCENARIO, seed) for seed in range(12)]
    assert [r.digest for r in runs] == [r.digest for r in again]
    assert [_fired(r) for r in again] == fired
    # The gateway's timeouts are retried; the outcome never depends on them.
    assert all(r.ok for r in runs), [v.describe() for r in runs for v in r.violations]


def test_silent_in_the_fault_free_run() -> None:
    for seed in range(5):
        result = simulate(SCENARIO, seed, schedule=[])
        assert _fired(result) == []


def test_silent_in_history_replay() -> None:
    # Replay runs on a simulated loop too, but no simulated world: buggify stays off.
    class Probe:
        def meta(self) -> StateMeta:
            return StateMeta()

        async def handle(self, ctx: Any, io: Any, events: Any) -> None:
            ctx.write("fired", buggify("probe", 1.0, activation=1.0))

    from tests.mfm_sim.testing.test_history import LINES, plan

    report = replay_history(LINES, plan(quote=Probe()))
    assert report.divergence is not None
    assert "false now" in report.divergence.message
