"""An artifact store across a network: the same answers, one turn of the loop later."""

from __future__ import annotations

import asyncio

from mfm_engine.stores import ArtifactKind, InMemoryArtifactStore, InMemoryEventStore, Stores

from mfm_sim.run.net_stores import NetArtifactStore, over_network


def test_answers_are_the_inner_stores() -> None:
    inner = InMemoryArtifactStore()
    net = NetArtifactStore(inner)

    async def go() -> tuple[str, bytes, bool, bool]:
        key = await net.put(ArtifactKind.OTHER, b"hello")
        return key, await net.get(key), await net.exists(key), await net.exists("0" * 64)

    key, data, there, absent = asyncio.run(go())
    assert data == b"hello" and there and not absent
    assert key == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_two_calls_made_at_once_interleave() -> None:
    net = NetArtifactStore(InMemoryArtifactStore())
    order: list[str] = []

    async def one(name: str) -> None:
        order.append(f"{name} asks")
        await net.put(ArtifactKind.OTHER, name.encode())
        order.append(f"{name} answered")

    async def both() -> None:
        await asyncio.gather(one("a"), one("b"))

    asyncio.run(both())
    # On the memory store alone, "a" would be answered before "b" asks.
    assert order == ["a asks", "b asks", "a answered", "b answered"]


def test_the_event_log_stays_as_it_was() -> None:
    events = InMemoryEventStore()
    stores = over_network(Stores(InMemoryArtifactStore(), events))
    assert stores.events is events and isinstance(stores.artifacts, NetArtifactStore)
