"""Simulated services routed by the engine's own RouterTransportFactory."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from mfm_engine.config import RunConfig
from mfm_engine.live_io import IoCall, LiveIoEnv
from mfm_engine.stores import InMemoryArtifactStore, InMemoryEventStore, Stores

from mfm_sim.testing.routed import EngineRouted, engine_routed


def _env() -> LiveIoEnv:
    stores = Stores(InMemoryArtifactStore(), InMemoryEventStore())
    return LiveIoEnv(uuid.UUID(int=1), "gen.s0.run", 0, stores, RunConfig())


class _World:
    def __init__(self) -> None:
        self.services: dict[str, Any] = {}
        self.effects: dict[str, int] = {}

    def effect(self, key: str) -> None:
        self.effects[key] = self.effects.get(key, 0) + 1


def test_engine_routed_sends_each_namespace_to_its_service() -> None:
    world = _World()
    factory = engine_routed(("ledger", "kv"), trace=False)(world)
    assert isinstance(factory, EngineRouted)
    call = IoCall("kv.deeper", {"op": "get", "key": "a"})
    got = asyncio.run(factory.make(_env()).call(call))
    assert got["found"] is False
    assert world.services["kv"].records and not world.services["ledger"].records
    # Made for the attempt: the service records who called.
    assert [(r.state_id, r.attempt) for r in world.services["kv"].records] == [("gen.s0.run", 0)]


def test_engine_routed_makes_each_namespace_s_factory_with_route() -> None:
    made: list[tuple[str, Any]] = []

    class _Echo:
        def __init__(self, namespace: str) -> None:
            self.namespace = namespace

        async def call(self, call: IoCall) -> Any:
            return {"by": self.namespace, "env": made[-1][1].state_id}

    class _Route:
        def __init__(self, namespace: str, service: Any) -> None:
            self.namespace = namespace

        def make(self, env: LiveIoEnv) -> Any:
            made.append((self.namespace, env))
            return _Echo(self.namespace)

    factory = engine_routed(("ledger", "kv"), trace=False, route=_Route)(_World())
    # The engine's router: the longest matching prefix, `kv` for `kv.x`.
    got = asyncio.run(factory.make(_env()).call(IoCall("kv.x", {})))
    assert got == {"by": "kv", "env": "gen.s0.run"}
    assert sorted(ns for ns, _ in made) == ["kv", "ledger"]
