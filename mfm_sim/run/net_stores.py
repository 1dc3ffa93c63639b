"""An artifact store across a network: every call yields to the loop once before it is served.

The memory stores answer an `await` without ever suspending, so two coroutines of one loop
never interleave between store calls; an object store across a network answers on a later turn
of the loop, as `NetKeyValue` does for a service (`mfm_scenarios.twins`). A scenario that asks
for it (`ScenarioRun.net_stores`) gets this wrapper over each incarnation's artifact store,
outside the fault wrappers: the store is honest, only later. Its one effect is an ordering a
latency fault could also give, so every check judges it as it judges any schedule.

The event log stays as it was (answering at once). An event log across a network makes two
calls made at once within one attempt fail: the engine's run writer (`EventWriter.append`)
reads its head, awaits the store, and only then moves the head, so a second append started
meanwhile is sent at the same expected seq and refused as `event_store_concurrency`. ENGINE.md
says nothing of appends made at once, so no oracle may call that wrong or right; it is noted
in docs/coverage.md for the engine's owners.
"""

from __future__ import annotations

import asyncio

from mfm_engine.stores import ArtifactKind, ArtifactStore, Stores

__all__ = ["NetArtifactStore", "over_network"]


class NetArtifactStore:
    """An artifact store whose answers come back on a later turn of the loop."""

    def __init__(self, inner: ArtifactStore) -> None:
        self._inner = inner

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        await asyncio.sleep(0)
        return await self._inner.put(kind, data)

    async def get(self, artifact_id: str) -> bytes:
        await asyncio.sleep(0)
        return await self._inner.get(artifact_id)

    async def exists(self, artifact_id: str) -> bool:
        await asyncio.sleep(0)
        return await self._inner.exists(artifact_id)


def over_network(stores: Stores) -> Stores:
    """`stores` with the artifacts across a network and the event log as it was."""
    return Stores(NetArtifactStore(stores.artifacts), stores.events)
