"""Live IO as a simulated process performs it: a fault point at each service call, where the
call may fail before or after taking effect, the process crash after it, or it take virtual
time; and live IO for a fact the run had already recorded is flagged as a second effect."""

from __future__ import annotations

import uuid
from typing import Any

from mfm_engine.errors import ErrorCategory, IoErrorKind, StorageError
from mfm_engine.live_io import IoCall, LiveIoEnv, LiveIoTransport, LiveIoTransportFactory, io_error
from mfm_engine.stores import InMemoryEventStore

from mfm_sim.faults.journal import TransportUse, note_use
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.faults.stores import IncarnationHandle

__all__ = ["FaultyTransport", "FaultyTransportFactory"]

K = FaultKind


class FaultyTransport:
    def __init__(
        self,
        inner: LiveIoTransport,
        handle: IncarnationHandle,
        env: LiveIoEnv,
        durable: InMemoryEventStore,
        uses: list[TransportUse] | None = None,
    ) -> None:
        self._inner = inner
        self._h = handle
        self._env = env
        self._durable = durable
        self._uses = uses

    async def call(self, call: IoCall) -> Any:
        h = self._h
        if self._uses is not None:
            note_use(self._uses, h.number, self._env, call.namespace)
        # Judged as the engine decides to call, before the fault point may yield: a call made
        # at once under the same key may bind and record it meanwhile, which is no re-call.
        bound = call.fact_key is not None and _durably_bound(
            self._durable, self._env.run_id, call.fact_key, h.unacknowledged
        )
        try:
            fault = await h.before("service", target=call.namespace)
        except StorageError:
            raise io_error(
                IoErrorKind.TRANSPORT,
                "sim_transport_error",
                ErrorCategory.RPC,
                "injected transient transport error",
                retryable=True,
            ) from None
        if bound:
            # The engine performed live IO for a fact it had already recorded.
            # Counted as a second effect, so invariant 9 names it.
            key = f"recorded fact re-performed: {call.fact_key}"
            h.world.effects[key] = 2  # type: ignore[attr-defined]
        result = await self._inner.call(call)
        if fault is not None:
            if fault.kind is K.CRASH_AFTER_EFFECT:
                h.crash(fault)
            if fault.kind is K.AMBIGUOUS_ERROR:
                raise io_error(
                    IoErrorKind.TRANSPORT,
                    "sim_transport_ambiguous",
                    ErrorCategory.RPC,
                    "injected ambiguous transport error (the call took effect)",
                    retryable=True,
                )
        return result


def _durably_bound(
    events: InMemoryEventStore,
    run_id: uuid.UUID,
    key: str,
    unacknowledged: set[tuple[uuid.UUID, int]],
) -> bool:
    """Whether the engine knows `key` is recorded: a durable fact record it read or was told
    was appended. One whose append raised (ambiguous) it cannot know of until it rereads the
    log: two calls of one key in flight may then both reach the transport."""
    for env in events.streams.get(run_id, ()):
        if (run_id, env.seq) in unacknowledged:
            continue
        payload = getattr(env.event, "payload", None)
        if (
            isinstance(payload, dict)
            and payload.get("key") == key
            and env.event.name == "fact_recorded"
        ):  # type: ignore[union-attr]
            return True
    return False


class FaultyTransportFactory:
    def __init__(
        self,
        inner: LiveIoTransportFactory,
        handle: IncarnationHandle,
        durable: InMemoryEventStore,
        uses: list[TransportUse] | None = None,
    ) -> None:
        self._inner = inner
        self._h = handle
        self._durable = durable
        self._uses = uses  # where every transport made and called is noted (the journal's)

    def make(self, env: LiveIoEnv) -> LiveIoTransport:
        if self._uses is not None:
            note_use(self._uses, self._h.number, env, None)
        return FaultyTransport(self._inner.make(env), self._h, env, self._durable, self._uses)
