"""Simulated external services that handlers reach through live IO; they count effects per key."""

from __future__ import annotations

from typing import Any

from engine.errors import ErrorCategory, IoErrorKind
from engine.live_io import IoCall, LiveIoEnv, LiveIoTransport, io_error


class Ledger:
    """A payment-like ledger. An idempotency key makes a charge apply once; without one, every call applies.

    `world.effects[key]` counts *applied* charges, so invariant 9 sees any double charge.
    """

    NAMESPACE = "ledger"

    def __init__(self, world: Any) -> None:
        self._world = world
        self.balances: dict[str, int] = {}
        self._applied: dict[str, dict[str, Any]] = {}
        self.calls = 0

    def charge(self, account: str, amount: int, idempotency_key: str | None) -> dict[str, Any]:
        self.calls += 1
        if idempotency_key is not None and idempotency_key in self._applied:
            return self._applied[idempotency_key]
        self.balances[account] = self.balances.get(account, 0) + amount
        key = idempotency_key or f"{account}:{amount}:unkeyed"
        self._world.effect(key)
        receipt = {"account": account, "amount": amount, "balance": self.balances[account]}
        if idempotency_key is not None:
            self._applied[idempotency_key] = receipt
        return receipt

    async def call(self, call: IoCall) -> Any:
        req = call.request
        if not isinstance(req, dict) or req.get("op") != "charge":
            raise io_error(IoErrorKind.OTHER, "ledger_bad_request", ErrorCategory.PARSING_INPUT,
                           "ledger requests are {op: charge, account, amount, idempotency_key}")
        return self.charge(str(req["account"]), int(req["amount"]), req.get("idempotency_key"))


class ServiceFactory:
    """A live-IO transport factory over a fixed set of services, routed by namespace prefix."""

    def __init__(self, services: dict[str, LiveIoTransport]) -> None:
        from engine.live_io import NamespaceRouter

        self._router = NamespaceRouter(services)

    def make(self, env: LiveIoEnv) -> LiveIoTransport:
        return self._router


def ledger_factory(world: Any) -> ServiceFactory:
    ledger = world.services.get("ledger")
    if ledger is None:
        ledger = world.services["ledger"] = Ledger(world)
    return ServiceFactory({Ledger.NAMESPACE: ledger})  # type: ignore[dict-item]
