"""Crash transparency modulo recorded facts: the reference run is fed the schedule's facts."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any

import pytest
from mfm_engine import DependencyEdge, ExecutionPlan, IoCall, StateGraph, StateMeta, StateNode

import mfm_sim.run.reference as reference
from mfm_sim import simulate
from mfm_sim.run.recorded_facts import MAIN, FedIo, RecordedFacts, feeder, recorded_facts
from mfm_sim.run.world import World
from mfm_sim.testing.userplan import user_scenario


class Ship:
    """The documented fix for wall-clock time: the time comes from a recorded fact."""

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("shipped_at_ms", await io.now_millis())
        ctx.write("label", (await io.random_bytes(4)).hex())


class Stock:
    """A keyed call: its recorded reply is an input, whatever the service answers later."""

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        reply = await io.call(
            IoCall("kv", {"op": "incr", "key": "orders", "idempotency_key": "o-1"}, "kv:o-1")
        )
        ctx.write("order_no", reply["value"])


class Counter:
    """State kept on the handler object: a retry writes another number."""

    def __init__(self) -> None:
        self.calls = 0

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        self.calls += 1
        ctx.write("calls", self.calls)


class Done:
    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("done", True)


def _builder(first: type) -> Any:
    def build() -> ExecutionPlan:
        states = (StateNode("shop.order.first", first()), StateNode("shop.order.done", Done()))
        edges = (DependencyEdge("shop.order.first", "shop.order.done"),)
        return ExecutionPlan("shop", StateGraph(states, edges))

    return build


def _failing(scenario: Any, seeds: range) -> list[int]:
    return [s for s in seeds if not simulate(scenario, s, keep_trace=False).ok]


def test_time_and_random_facts_in_the_context_pass_500_seeds() -> None:
    scenario = user_scenario("facts_now", _builder(Ship), services=())
    assert _failing(scenario, range(500)) == []


def test_a_keyed_reply_in_the_context_passes() -> None:
    scenario = user_scenario("facts_keyed", _builder(Stock), services=("kv",))
    assert _failing(scenario, range(200)) == []


def test_state_on_the_handler_object_is_still_caught() -> None:
    scenario = user_scenario("facts_counter", _builder(Counter), services=())
    bad = _failing(scenario, range(100))
    assert bad
    result = simulate(scenario, bad[0], keep_trace=False)
    assert [v.invariant for v in result.violations] == ["crash_transparency"]
    assert "calls: 2 != 1" in result.violations[0].message


def _observed(scenario: Any, crash: bool) -> Any:
    for seed in range(200):
        result = simulate(scenario, seed, keep_trace=False, keep_observation=True)
        if bool(result.stats.crashes) is crash and result.final_phase is not None:
            return result.observation
    raise AssertionError("no such schedule in 200 seeds")


def test_recorded_facts_come_from_the_last_attempt_that_recorded_them() -> None:
    scenario = user_scenario("facts_slots", _builder(Ship), services=(), faults="crash_in_handler")
    obs = _observed(scenario, crash=True)
    facts = recorded_facts(obs)
    assert set(facts.derived) == {
        (MAIN, "now_millis", "shop.order.first", 0),
        (MAIN, "random_bytes", "shop.order.first", 1),
    }
    assert facts.keyed == {}
    # What the final snapshot holds is what the fed reference gets.
    final = simulate(scenario, obs.seed, keep_trace=False, keep_observation=True)
    assert final.observation is not None
    shipped = facts.derived[(MAIN, "now_millis", "shop.order.first", 0)]["now_millis"]
    import json

    snapshot = json.loads(obs.pristine[obs.final_snapshot_id])
    assert snapshot["shipped_at_ms"] == shipped
    assert snapshot["label"] == facts.derived[(MAIN, "random_bytes", "shop.order.first", 1)]["hex"]


def test_keyed_facts_are_matched_by_key() -> None:
    scenario = user_scenario("facts_keys", _builder(Stock), services=("kv",), faults="latency")
    obs = _observed(scenario, crash=False)
    facts = recorded_facts(obs)
    assert facts.derived == {}
    assert facts.keyed == {"kv:o-1": {"key": "orders", "value": 1, "version": 1}}
    assert facts and not RecordedFacts()


class _Io:
    """An engine IO as FedIo sees it: its run, state and live answers."""

    def __init__(self, run_id: uuid.UUID) -> None:
        self._run_id = run_id
        self._state_id = "shop.order.first"
        self.asked: list[str] = []

    async def now_millis(self) -> int:
        self.asked.append("now")
        return 5

    async def random_bytes(self, n: int) -> bytes:
        self.asked.append("random")
        return b"\x00" * n

    async def call(self, call: IoCall) -> Any:
        self.asked.append(call.namespace)
        return {"live": True}


def test_fed_io_answers_with_the_facts_and_still_asks_the_live_sources() -> None:
    import asyncio

    main = uuid.UUID(int=1)
    facts = RecordedFacts(
        {
            (MAIN, "now_millis", "shop.order.first", 0): {"now_millis": 1100},
            ("other", "random_bytes", "shop.order.first", 1): {"hex": "ffff"},
        },
        {"k": {"recorded": True}},
    )
    inner = _Io(main)
    io = feeder(facts, [main])(inner)
    assert isinstance(io, FedIo)

    async def use() -> list[Any]:
        return [
            await io.now_millis(),  # ord 0: recorded
            await io.random_bytes(2),  # ord 1: recorded for another run only
            await io.call(IoCall("kv", {}, "k")),
            await io.call(IoCall("kv", {}, "unrecorded")),
            await io.call(IoCall("kv", {})),
        ]

    got = asyncio.run(use())
    assert got == [1100, b"\x00\x00", {"recorded": True}, {"live": True}, {"live": True}]
    assert inner.asked == ["now", "random", "kv", "kv", "kv"]
    assert io._state_id == "shop.order.first"  # anything else is the engine IO's


def test_the_reference_cache_keys_on_the_facts_fed(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: OrderedDict[Any, Any] = OrderedDict()
    monkeypatch.setattr(reference, "_REFERENCE_CACHE", cache)
    scenario = user_scenario("facts_cache", _builder(Ship), services=(), run_config=None)
    world = World(0, None)
    instance = scenario.build(world.streams.stream("scenario"))
    slot = (MAIN, "now_millis", "shop.order.first", 0)
    plain = reference.reference_outcome(scenario, 0, None, instance)
    fed = reference.reference_outcome(
        scenario, 0, None, instance, RecordedFacts({slot: {"now_millis": 1100}})
    )
    again = reference.reference_outcome(
        scenario, 0, None, instance, RecordedFacts({slot: {"now_millis": 1100}})
    )
    assert plain is not None and fed is not None
    assert plain.final_snapshot is not None and fed.final_snapshot is not None
    assert plain.final_snapshot["shipped_at_ms"] == 0
    assert fed.final_snapshot["shipped_at_ms"] == 1100
    assert again is fed
    assert [key[-1] for key in cache] == [
        None,
        RecordedFacts({slot: {"now_millis": 1100}}).digest(),
    ]
