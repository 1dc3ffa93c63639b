"""Simulated services: idempotency, effect counting, caller records, seeded flakiness."""

from __future__ import annotations

import functools
import random
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from mfm_engine import (
    DependencyEdge,
    ExecutionPlan,
    IoCall,
    IoError,
    LiveIoEnv,
    RunConfig,
    StateGraph,
    StateMeta,
    StateNode,
    Stores,
)
from mfm_engine.stores import InMemoryArtifactStore, InMemoryEventStore

from mfm_sim.run.world import World
from mfm_sim.testing.check import CheckFailure, CheckResult, MfmSim
from mfm_sim.testing.services import (
    FlakyService,
    KeyValueService,
    Ledger,
    Service,
    ServiceFactory,
    flaky,
    ledger_factory,
    make_services,
    service_records,
)
from mfm_sim.world.loop import SimLoop

RUN = uuid.UUID(int=1)


def _env(state: str = "shop.charge.card", attempt: int = 0) -> LiveIoEnv:
    return LiveIoEnv(
        RUN, state, attempt, Stores(InMemoryArtifactStore(), InMemoryEventStore()), RunConfig()
    )


def _run(world: World, coro: Any) -> Any:
    loop = SimLoop(world.clock)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def test_ledger_idempotency_key_applies_once() -> None:
    world = World(1, None)
    ledger = Ledger(world)
    a = ledger.charge("alice", 10, "k1")
    b = ledger.charge("alice", 10, "k1")
    assert a == b == {"account": "alice", "amount": 10, "balance": 10}
    assert world.effects == {"k1": 1}
    assert [r.applied for r in ledger.records] == [True, False]


def test_ledger_without_key_applies_every_call() -> None:
    world = World(1, None)
    ledger = Ledger(world)
    ledger.charge("alice", 10, None)
    second = ledger.charge("alice", 10, None)
    assert second["balance"] == 20
    assert world.effects == {"alice:10:unkeyed": 2}


def test_factory_binds_the_attempt_to_every_call() -> None:
    world = World(1, None)
    factory = ledger_factory(world)
    call = IoCall("ledger", {"op": "charge", "account": "bob", "amount": 3})
    _run(world, factory.make(_env(attempt=0)).call(call))
    _run(world, factory.make(_env(attempt=1)).call(call))
    records = service_records(world)
    assert [(r.state_id, r.attempt, r.count) for r in records] == [
        ("shop.charge.card", 0, 1),
        ("shop.charge.card", 1, 2),
    ]
    assert records[1].caller() == "shop.charge.card attempt 1"
    assert records[1].fact_key is None and records[1].idempotency_key is None


def test_ledger_refuses_bad_requests() -> None:
    world = World(1, None)
    with pytest.raises(IoError) as err:
        _run(world, Ledger(world).call(IoCall("ledger", {"op": "refund"})))
    assert err.value.info.code == "ledger_bad_request"


def test_key_value_service() -> None:
    world = World(1, None)
    kv = KeyValueService(world)
    assert kv.apply({"op": "get", "key": "x"})["found"] is False
    assert kv.apply({"op": "put", "key": "x", "value": 1})["version"] == 1
    assert kv.apply({"op": "put", "key": "x", "value": 1})["version"] == 2  # not counted
    assert kv.apply({"op": "cas", "key": "x", "expected_version": 1, "value": 5})["ok"] is False
    assert kv.apply({"op": "cas", "key": "x", "expected_version": 2, "value": 5})["ok"] is True
    assert kv.apply({"op": "get", "key": "x"})["value"] == 5
    first = kv.apply({"op": "incr", "key": "n", "by": 2, "idempotency_key": "i1"})
    assert kv.apply({"op": "incr", "key": "n", "by": 2, "idempotency_key": "i1"}) == first
    kv.apply({"op": "incr", "key": "m"})
    kv.apply({"op": "incr", "key": "m"})
    assert kv.apply({"op": "delete", "key": "x"})["deleted"] is True
    assert world.effects == {"kv:i1": 1, "kv:incr:m:unkeyed": 2}
    with pytest.raises(IoError):
        kv.apply({"op": "scan", "key": "x"})


def _flaky_outcomes(seed: int, calls: int = 40) -> list[str]:
    world = World(seed, None)
    service = FlakyService(
        world, Ledger(world), transient_rate=0.3, ambiguous_rate=0.3, max_latency_ms=50
    )
    out = []

    async def go() -> None:
        for i in range(calls):
            try:
                r = await service.call_as(
                    IoCall(
                        "ledger",
                        {"op": "charge", "account": "a", "amount": 1, "idempotency_key": f"k{i}"},
                    ),
                    _env(),
                )
                out.append(f"ok {r['balance']}")
            except IoError as exc:
                out.append(exc.info.code)
            out.append(f"t={world.clock.now_ns}")

    _run(world, go())
    return out


def test_flaky_service_is_seeded_and_never_uses_global_random() -> None:
    with mock.patch.object(random, "random", side_effect=AssertionError("global random")):
        a = _flaky_outcomes(7)
    assert a == _flaky_outcomes(7)
    assert a != _flaky_outcomes(8)
    assert "service_transient_error" in a and "service_ambiguous_error" in a
    assert any(o.startswith("ok") for o in a)


def test_flaky_ambiguous_error_applies_the_effect_transient_does_not() -> None:
    world = World(3, None)
    inner = Ledger(world)
    service = FlakyService(world, inner, transient_rate=0.5, ambiguous_rate=0.5, max_latency_ms=0)
    codes = []

    async def go() -> None:
        for i in range(30):
            try:
                await service.call_as(
                    IoCall(
                        "ledger",
                        {"op": "charge", "account": "a", "amount": 1, "idempotency_key": f"k{i}"},
                    ),
                    None,
                )
                codes.append("ok")
            except IoError as exc:
                codes.append(exc.info.code)

    _run(world, go())
    applied = sum(world.effects.values())
    assert applied == codes.count("ok") + codes.count("service_ambiguous_error")
    assert service.transient_errors == codes.count("service_transient_error") > 0


def test_make_services_gives_each_world_fresh_services() -> None:
    transports = make_services({"ledger": "ledger", "kv": flaky("kv", transient_rate=0.0)})
    w1, w2 = World(1, None), World(1, None)
    f1 = transports(w1)
    transports(w2)
    assert isinstance(f1, ServiceFactory)
    assert w1.services["ledger"] is not w2.services["ledger"]
    assert isinstance(w1.services["kv"], FlakyService)
    assert isinstance(w1.services["kv"].inner, KeyValueService)
    with pytest.raises(ValueError, match="unknown service"):
        make_services(["nope"])


# --------------------------------------------------------------------- the Service base class


GUIDE = (Path(__file__).resolve().parents[3] / "docs" / "library-users.md").read_text()


def _carrier_from_the_docs() -> type:
    """The custom carrier exactly as docs/library-users.md prints it."""
    block = GUIDE.split("```python\nfrom mfm_sim.testing import Service\n", 1)[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec("from mfm_sim.testing import Service\n" + block, namespace)
    return namespace["Carrier"]


class _Ship:
    """Ships the order without a fact key or idempotency key: a retry ships again."""

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        order = ctx.require("order")
        await io.call(IoCall("carrier", {"op": "ship", "order": order["id"]}))
        ctx.write("shipped", True)


class _ShipOnce:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        order = ctx.require("order")
        key = f"ship:{order['id']}"
        req = {"op": "ship", "order": order["id"], "idempotency_key": key}
        parcel = await io.call(IoCall("carrier", req, fact_key=key))
        ctx.write("parcel", parcel)


class _Reserve:
    """A read-modify-write of the stock that never puts the stock in the context."""

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        got = await io.call(IoCall("kv", {"op": "get", "key": "stock"}))
        await io.call(IoCall("kv", {"op": "put", "key": "stock", "value": got["value"] - 1}))
        ctx.write("reserved", True)


def _plan(first: Any, state_id: str) -> Any:
    def build() -> ExecutionPlan:
        states = (StateNode(state_id, first()), StateNode("shop.order.done", _Done()))
        return ExecutionPlan(
            "shop", StateGraph(states, (DependencyEdge(state_id, "shop.order.done"),))
        )

    return build


class _Done:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("done", True)


def _shape(report: str) -> list[str]:
    """A report's labelled lines (`handler:`, `why:`, `fix:`, ...) and its service timeline."""
    kinds = set()
    for line in report.splitlines():
        words = line.split()
        if len(words) > 2 and words[1].startswith("i") and words[1][1:].isdigit():
            if words[2] == "service":  # "  0.000s  i0  service ledger charge ..."
                kinds.add("timeline service")
        elif words and words[0].endswith(":") and not words[0].startswith("#"):
            kinds.add(words[0])
    return sorted(kinds)


def test_service_takes_initial_data_and_compares_its_state_modulo_idempotent_fields() -> None:
    world = World(1, None)
    data = {"stock": 10}
    kv = KeyValueService(world, data=data)
    _run(world, kv.call(IoCall("kv", {"op": "put", "key": "stock", "value": 10})))
    assert data == {"stock": 10} and kv.data == {"stock": 10}  # copied, not shared
    assert kv.state() == {"data": {"stock": 10}, "versions": {"stock": 2}}
    assert kv.compared_state() == {"data": {"stock": 10}}  # a repeated put: versions only
    ledger = Ledger(world, data={"alice": 100})
    ledger.charge("alice", 5, None)
    assert ledger.balances == {"alice": 105} and ledger.compared_state() == {"data": ledger.data}
    assert isinstance(ledger, Service) and isinstance(kv, Service)
    assert FlakyService(world, kv).compared_state() == {"data": {"stock": 10}}
    assert world.service_states() == {}  # only services the world holds
    world.services["kv"] = kv
    world.services["plain"] = object()  # duck-typed: nothing to compare
    assert world.service_states() == {"kv": {"data": {"stock": 10}}}


def test_service_is_exported_where_users_import_from() -> None:
    import mfm_sim.testing

    assert mfm_sim.testing.Service is Service
    assert "Service" in mfm_sim.testing.__all__


def test_service_record_counts_the_effect_and_names_the_caller() -> None:
    world = World(1, None)
    carrier = _carrier_from_the_docs()(world, trace=True)
    env = _env("shop.ship.parcel", 2)
    call = IoCall("carrier", {"op": "ship", "order": "o-1"})
    _run(world, carrier.call_as(call, env))
    _run(world, carrier.call_as(call, env))
    (first, second) = carrier.records
    assert (second.effect_key, second.count, second.state_id, second.attempt) == (
        "o-1:unkeyed",
        2,
        "shop.ship.parcel",
        2,
    )
    assert first.applied and world.effects == {"o-1:unkeyed": 2}
    assert [e[3] for e in world.trace.entries if e[2] == "service"][-1] == (
        "carrier ship o-1 idempotency_key=- by shop.ship.parcel#2 -> applied "
        "(effect 'o-1:unkeyed' x2)"
    )


def test_a_carrier_from_the_docs_gets_the_report_the_ledger_gets() -> None:
    from mfm_sim.examples.payments import ORDER, buggy_plan

    carrier = _carrier_from_the_docs()
    sim = MfmSim(nodeid="test_shipping.py::test_ship")
    shipped = sim.run(
        _plan(_Ship, "shop.ship.parcel"),
        initial_context={"order": ORDER},
        services={"carrier": carrier},
        seeds=300,
        shrink=False,
    )
    charged = MfmSim(nodeid="test_payments.py::test_charge").run(
        buggy_plan, initial_context={"order": ORDER}, seeds=300, shrink=False
    )
    assert isinstance(shipped, CheckFailure) and isinstance(charged, CheckFailure)
    assert shipped.invariant == charged.invariant == "effects_at_most_once"
    assert shipped.handlers == ("shop.ship.parcel",)
    assert "handler shop.ship.parcel attempt" in shipped.report
    assert "applied carrier effect 'o-1001:unkeyed' a second time" in shipped.report
    assert "timeline service" in _shape(shipped.report)
    assert _shape(shipped.report) == _shape(charged.report)


def test_a_correct_workflow_with_a_custom_service_passes() -> None:
    from mfm_sim.examples.payments import ORDER

    outcome = MfmSim().run(
        _plan(_ShipOnce, "shop.ship.parcel"),
        initial_context={"order": ORDER},
        services={"carrier": _carrier_from_the_docs()},
        seeds=200,
    )
    assert isinstance(outcome, CheckResult), getattr(outcome, "report", "")
    assert outcome.crashes > 0


def test_a_double_effect_only_in_service_state_is_caught() -> None:
    stocked = functools.partial(KeyValueService, data={"stock": 10})
    outcome = MfmSim(nodeid="test_stock.py::test_reserve").run(
        _plan(_Reserve, "shop.stock.reserve"),
        services={"kv": stocked},
        seeds=200,
        shrink=False,
    )
    assert isinstance(outcome, CheckFailure)
    assert outcome.invariant == "service_state"
    assert outcome.handlers[0] == "shop.stock.reserve"
    assert "data.stock: 8 != 9" in outcome.report
    assert "why: handler shop.stock.reserve changed kv" in outcome.report
    assert "fix: make the write idempotent" in outcome.report
