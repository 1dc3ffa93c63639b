"""Kernel and domain events, the envelope that sequences them, and their stable JSON form."""

from __future__ import annotations

import enum
import json
import uuid
from typing import Any

import attrs
from mfm_engine.errors import ErrorCategory, ErrorInfo, RunError, RunErrorKind, info
from mfm_engine.ids import artifact_id, op_id, state_id


class RunStatus(enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunPhase(enum.Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


PHASE_FOR_STATUS = {
    RunStatus.COMPLETED: RunPhase.COMPLETED,
    RunStatus.FAILED: RunPhase.FAILED,
    RunStatus.CANCELLED: RunPhase.CANCELLED,
}


@attrs.frozen
class RunStarted:
    op_id: str
    manifest_id: str
    initial_snapshot_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "run_started",
            "op_id": self.op_id,
            "manifest_id": self.manifest_id,
            "initial_snapshot_id": self.initial_snapshot_id,
        }


@attrs.frozen
class StateEntered:
    state_id: str
    attempt: int
    base_snapshot_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "state_entered",
            "state_id": self.state_id,
            "attempt": self.attempt,
            "base_snapshot_id": self.base_snapshot_id,
        }


@attrs.frozen
class StateCompleted:
    state_id: str
    context_snapshot_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "state_completed",
            "state_id": self.state_id,
            "context_snapshot_id": self.context_snapshot_id,
        }


@attrs.frozen
class StateFailed:
    state_id: str
    error: ErrorInfo
    failure_snapshot_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "state_failed",
            "state_id": self.state_id,
            "error": self.error.to_json(),
            "failure_snapshot_id": self.failure_snapshot_id,
        }


@attrs.frozen
class RunCompleted:
    status: RunStatus
    final_snapshot_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "run_completed",
            "status": self.status.value,
            "final_snapshot_id": self.final_snapshot_id,
        }


KernelEvent = RunStarted | StateEntered | StateCompleted | StateFailed | RunCompleted
KERNEL_TYPES = (RunStarted, StateEntered, StateCompleted, StateFailed, RunCompleted)
TERMINAL_TYPES = (StateCompleted, StateFailed)

FACT_RECORDED = "fact_recorded"
ARTIFACT_WRITTEN = "artifact_written"
OP_BOUNDARY = "op_boundary"
CHILD_RUN_SPAWNED = "child_run_spawned"
CHILD_RUN_COMPLETED = "child_run_completed"


@attrs.frozen
class DomainEvent:
    name: str
    payload: Any
    payload_ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "domain",
            "name": self.name,
            "payload": self.payload,
            "payload_ref": self.payload_ref,
        }


Event = KernelEvent | DomainEvent


@attrs.frozen
class EventEnvelope:
    run_id: uuid.UUID
    seq: int
    event: Event
    ts_millis: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": str(self.run_id),
            "seq": self.seq,
            "ts_millis": self.ts_millis,
            "event": self.event.to_json(),
        }

    @classmethod
    def from_json(cls, value: Any) -> EventEnvelope:
        try:
            return cls(
                run_id=uuid.UUID(value["run_id"]),
                seq=int(value["seq"]),
                event=event_from_json(value["event"]),
                ts_millis=value.get("ts_millis"),
            )
        except RunError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise _malformed(f"malformed event envelope: {exc}") from None


def _malformed(message: str) -> RunError:
    return RunError(
        RunErrorKind.OTHER, info("event_malformed", ErrorCategory.PARSING_INPUT, message)
    )


def _optional_artifact_id(value: str | None) -> None:
    if value is not None:
        artifact_id(value)


def check_event_ids(event: Event) -> None:
    """Refuse an event read back from a store that names an invalid op, state or artifact id
    (`RunError` `invalid_op_id` / `invalid_state_id` / `invalid_artifact_id`), so a bad id is
    reported where it was read, never carried into a run."""
    if isinstance(event, StateEntered):
        state_id(event.state_id)
        artifact_id(event.base_snapshot_id)
    elif isinstance(event, DomainEvent):
        _optional_artifact_id(event.payload_ref)
    elif isinstance(event, StateCompleted):
        state_id(event.state_id)
        artifact_id(event.context_snapshot_id)
    elif isinstance(event, StateFailed):
        state_id(event.state_id)
        _optional_artifact_id(event.failure_snapshot_id)
    elif isinstance(event, RunStarted):
        op_id(event.op_id)
        artifact_id(event.manifest_id)
        artifact_id(event.initial_snapshot_id)
    elif isinstance(event, RunCompleted):
        _optional_artifact_id(event.final_snapshot_id)


def event_from_json(value: Any) -> Event:
    """The event of a stable JSON form, its ids checked (`check_event_ids`)."""
    event = _event_from_json(value)
    check_event_ids(event)
    return event


def _event_from_json(value: Any) -> Event:
    try:
        kind = value["type"]
        if kind == "run_started":
            return RunStarted(value["op_id"], value["manifest_id"], value["initial_snapshot_id"])
        if kind == "state_entered":
            return StateEntered(value["state_id"], int(value["attempt"]), value["base_snapshot_id"])
        if kind == "state_completed":
            return StateCompleted(value["state_id"], value["context_snapshot_id"])
        if kind == "state_failed":
            return StateFailed(
                value["state_id"],
                ErrorInfo.from_json(value["error"]),
                value.get("failure_snapshot_id"),
            )
        if kind == "run_completed":
            return RunCompleted(RunStatus(value["status"]), value.get("final_snapshot_id"))
        if kind == "domain":
            return DomainEvent(value["name"], value.get("payload"), value.get("payload_ref"))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise _malformed(f"malformed event: {exc}") from None
    raise _malformed(f"unknown event type {kind!r}")


def envelope_to_json_line(env: EventEnvelope) -> str:
    return json.dumps(env.to_json(), sort_keys=True, separators=(",", ":"))


def envelope_from_json_line(line: str) -> EventEnvelope:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _malformed(f"event line is not JSON: {exc}") from None
    return EventEnvelope.from_json(value)
