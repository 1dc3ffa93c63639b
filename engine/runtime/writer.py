"""The sequence-numbering writer: one per run per engine call, tracking the head it appended."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from mfm_engine.events import Event, EventEnvelope
from mfm_engine.sources import Clock
from mfm_engine.stores import EventStore


class EventWriter:
    def __init__(self, events: EventStore, run_id: uuid.UUID, head: int, clock: Clock) -> None:
        self._events = events
        self.run_id = run_id
        self.head = head
        self._clock = clock

    @classmethod
    async def open(cls, events: EventStore, run_id: uuid.UUID, clock: Clock) -> EventWriter:
        return cls(events, run_id, await events.head_seq(run_id), clock)

    async def append(self, events: Sequence[Event]) -> int:
        """Append atomically at the head this writer knows; a store error leaves the head as is."""
        ts = self._clock.now_millis()
        base = self.head
        envelopes = [
            EventEnvelope(self.run_id, base + i, event, ts)
            for i, event in enumerate(events, start=1)
        ]
        self.head = await self._events.append(self.run_id, base, envelopes)
        return self.head
