"""mfm_sim.faults.transports: a service call as a fault point (transient, ambiguous, crash
after the effect, latency) and live IO for an already recorded fact flagged as a second
effect."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from mfm_engine import IoCall
from mfm_engine.errors import IoError, IoErrorKind
from mfm_engine.events import DomainEvent, EventEnvelope
from mfm_engine.stores import InMemoryEventStore

from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.faults.stores import IncarnationHandle, SimCrash
from mfm_sim.faults.transports import FaultyTransport
from mfm_sim.run.world import World
from mfm_sim.world.loop import SimLoop

K = FaultKind


class _Inner:
    def __init__(self) -> None:
        self.calls: list[IoCall] = []

    async def call(self, call: IoCall) -> Any:
        self.calls.append(call)
        return {"applied": len(self.calls)}


class _Env:
    run_id = uuid.UUID("00000000-0000-4000-8000-0000000000cc")


def _transport(faults: Sequence[Fault] = ()) -> tuple[Any, _Inner, World, InMemoryEventStore]:
    world = World(0, None, schedule=list(faults))
    inner = _Inner()
    durable = InMemoryEventStore()
    handle = IncarnationHandle(world, 0)
    return FaultyTransport(inner, handle, _Env(), durable), inner, world, durable  # type: ignore[arg-type]


def _io(world: World, call: Any) -> Any:

    return SimLoop(world.clock).run_until_complete(call)


CALL = IoCall("ledger", {"op": "charge"}, "charge:1")


def test_transport_without_faults_passes_through() -> None:
    transport, inner, world, _ = _transport()
    assert _io(world, transport.call(CALL)) == {"applied": 1}
    assert inner.calls == [CALL] and world.effects == {}


def test_transport_transient_error_has_no_effect() -> None:
    transport, inner, world, _ = _transport([Fault(1, K.TRANSIENT_ERROR, "service")])
    with pytest.raises(IoError) as exc:
        _io(world, transport.call(CALL))
    assert exc.value.kind is IoErrorKind.TRANSPORT
    assert exc.value.info.code == "sim_transport_error" and exc.value.info.retryable
    assert inner.calls == []


def test_transport_ambiguous_error_took_effect() -> None:
    transport, inner, world, _ = _transport([Fault(1, K.AMBIGUOUS_ERROR, "service")])
    with pytest.raises(IoError) as exc:
        _io(world, transport.call(CALL))
    assert exc.value.info.code == "sim_transport_ambiguous" and exc.value.info.retryable
    assert inner.calls == [CALL]


def test_transport_crash_after_effect() -> None:
    transport, inner, world, _ = _transport([Fault(1, K.CRASH_AFTER_EFFECT, "service")])
    with pytest.raises(SimCrash):
        _io(world, transport.call(CALL))
    assert inner.calls == [CALL]
    with pytest.raises(SimCrash):  # dead afterwards: no second effect
        _io(world, transport.call(CALL))
    assert inner.calls == [CALL]


def test_transport_latency() -> None:
    transport, _inner, world, _ = _transport([Fault(1, K.LATENCY, "service", 40)])
    assert _io(world, transport.call(CALL)) == {"applied": 1}
    assert world.clock.now_ns == 40_000_000


def test_transport_flags_live_io_for_an_already_recorded_fact() -> None:
    transport, _inner, world, durable = _transport()
    fact = DomainEvent("fact_recorded", {"key": "charge:1", "payload_id": "0" * 64}, None)
    durable.streams[_Env.run_id] = [EventEnvelope(_Env.run_id, 1, fact, None)]
    _io(world, transport.call(CALL))
    assert world.effects == {"recorded fact re-performed: charge:1": 2}
    # Without a fact key, or for another key, nothing is flagged.
    world.effects.clear()
    _io(world, transport.call(IoCall("ledger", {}, "other")))
    _io(world, transport.call(IoCall("ledger", {}, None)))
    assert world.effects == {}
