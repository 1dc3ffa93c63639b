"""A payments plan: validate an order, charge the card, send a receipt.

`ChargeCard` is the handler as first written: it is NOT crash-safe. It calls the ledger
without a fact key and without an idempotency key, so when the process dies after the
charge but before the state's completion is durable, the resumed run retries the state and
charges the card a second time.

`ChargeCardFixed` is the fix: a stable fact key (a retry reuses the recorded receipt) and
the same value as the ledger's idempotency key (a charge whose fact was never recorded is
deduplicated by the ledger).
"""

from __future__ import annotations

from typing import Any

from mfm_engine import (
    DependencyEdge,
    ExecutionPlan,
    Idempotency,
    IoCall,
    SideEffectKind,
    StateGraph,
    StateMeta,
    StateNode,
)

ORDER = {"id": "o-1001", "account": "alice", "amount": 2500}


class ValidateOrder:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        order = ctx.require("order")
        ctx.write("validated", order["amount"] > 0)


class ChargeCard:
    """Charges the order's amount. Not crash-safe: a retry charges again."""

    def meta(self) -> StateMeta:
        return StateMeta(side_effects=SideEffectKind.EXTERNAL_STATE_WRITE)

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        order = ctx.require("order")
        receipt = await io.call(
            IoCall(
                "ledger", {"op": "charge", "account": order["account"], "amount": order["amount"]}
            )
        )
        ctx.write("receipt", receipt)


class ChargeCardFixed:
    """Charges the order's amount once, however often the state is retried."""

    def meta(self) -> StateMeta:
        return StateMeta(
            side_effects=SideEffectKind.EXTERNAL_STATE_WRITE, idempotency=Idempotency.KEYED
        )

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        order = ctx.require("order")
        key = f"charge:{order['id']}"
        receipt = await io.call(
            IoCall(
                "ledger",
                {
                    "op": "charge",
                    "account": order["account"],
                    "amount": order["amount"],
                    "idempotency_key": key,
                },
                fact_key=key,
            )
        )
        ctx.write("receipt", receipt)


class SendReceipt:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        receipt = ctx.require("receipt")
        ctx.write("email", f"charged {receipt['amount']} to {receipt['account']}")


def payment_plan(charge: Any) -> ExecutionPlan:
    states = [
        StateNode("payments.validate.order", ValidateOrder()),
        StateNode("payments.charge.card", charge),
        StateNode("payments.send.receipt", SendReceipt()),
    ]
    edges = [
        DependencyEdge("payments.validate.order", "payments.charge.card"),
        DependencyEdge("payments.charge.card", "payments.send.receipt"),
    ]
    return ExecutionPlan("payments", StateGraph(states, edges))


def buggy_plan() -> ExecutionPlan:
    return payment_plan(ChargeCard())


def fixed_plan() -> ExecutionPlan:
    return payment_plan(ChargeCardFixed())
