"""The event recorder a handler emits domain events through, filtered by the event profile."""

from __future__ import annotations

from typing import Any

from mfm_engine.config import EventProfile
from mfm_engine.errors import ErrorCategory, StateError, info
from mfm_engine.events import FACT_RECORDED, DomainEvent
from mfm_engine.hashing import contains_secrets, string_has_secret


class EventRecorder:
    """Buffers the attempt's domain events; they are appended with the attempt's terminal event."""

    def __init__(self, profile: EventProfile) -> None:
        self._profile = profile
        self.events: list[DomainEvent] = []

    def emit(self, name: str, payload: Any = None, payload_ref: str | None = None) -> None:
        if string_has_secret(name) or contains_secrets(payload):
            raise StateError(
                info("secrets_detected", ErrorCategory.UNKNOWN, "domain event contained secrets")
            )
        if self._profile is EventProfile.MINIMAL and name != FACT_RECORDED:
            return
        self.events.append(DomainEvent(name, payload, payload_ref))
