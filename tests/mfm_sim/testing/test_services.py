"""Simulated services: idempotency, effect counting, caller records, seeded flakiness."""

from __future__ import annotations

import random
import uuid
from typing import Any
from unittest import mock

import pytest
from mfm_engine import IoCall, IoError, LiveIoEnv, RunConfig, Stores
from mfm_engine.stores import InMemoryArtifactStore, InMemoryEventStore

from mfm_sim.run.world import World
from mfm_sim.testing.services import (
    FlakyService,
    KeyValueService,
    Ledger,
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
