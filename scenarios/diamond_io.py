"""A diamond DAG whose middle states charge a ledger through live IO facts."""

from __future__ import annotations

from typing import Any

from mfm_engine import DependencyEdge, ExecutionPlan, IoCall, StateGraph, StateMeta, StateNode
from mfm_engine.events import RunPhase
from mfm_engine.meta import Idempotency, SideEffectKind
from mfm_scenarios.knobs import draw_run_config

from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.testing.services import ledger_factory
from mfm_sim.world.rng import Rng


class Prepare:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("charges", [])


class Charge:
    """Charges the ledger once: the fact key makes a retry reuse the recorded receipt."""

    def __init__(self, account: str, amount: int) -> None:
        self.account = account
        self.amount = amount

    def meta(self) -> StateMeta:
        return StateMeta(
            side_effects=SideEffectKind.EXTERNAL_STATE_WRITE, idempotency=Idempotency.KEYED
        )

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        key = f"charge:{self.account}"
        receipt = await io.call(
            IoCall(
                "ledger",
                {
                    "op": "charge",
                    "account": self.account,
                    "amount": self.amount,
                    "idempotency_key": key,
                },
                key,
            )
        )
        ctx.write("charges", [*ctx.read("charges", []), receipt])


class Settle:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("total", sum(c["amount"] for c in ctx.read("charges", [])))


def build(rng: Rng) -> ScenarioRun:
    a, b = rng.between(1, 100), rng.between(1, 100)
    states = [
        StateNode("pay.prepare.run", Prepare()),
        StateNode("pay.charge.alice", Charge("alice", a)),
        StateNode("pay.charge.bob", Charge("bob", b)),
        StateNode("pay.settle.run", Settle()),
    ]
    edges = [
        DependencyEdge("pay.prepare.run", "pay.charge.alice"),
        DependencyEdge("pay.prepare.run", "pay.charge.bob"),
        DependencyEdge("pay.charge.alice", "pay.settle.run"),
        DependencyEdge("pay.charge.bob", "pay.settle.run"),
    ]
    cfg = draw_run_config(rng)
    final = {
        "charges": [
            {"account": "alice", "amount": a, "balance": a},
            {"account": "bob", "amount": b, "balance": b},
        ],
        "total": a + b,
    }
    return ScenarioRun(
        plan=ExecutionPlan("pay", StateGraph(states, edges)),
        run_config=cfg,
        initial_context={},
        input_params={"a": a, "b": b},
        transports=ledger_factory,
        model=Reference(RunPhase.COMPLETED, final),
    )


SCENARIO = register(
    Scenario(
        "diamond_io", "a diamond DAG; two branches charge a ledger through recorded facts", build
    )
)
