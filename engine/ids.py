"""Identifiers: run ids, op ids, state ids and artifact ids, with validation."""

from __future__ import annotations

import re
import uuid

from mfm_engine.errors import ErrorCategory, ErrorInfo, RunError, RunErrorKind

RunId = uuid.UUID
OpId = str
StateId = str
ArtifactId = str

_SEGMENT = r"[a-z][a-z0-9_]{0,62}"
OP_ID_RE = re.compile(rf"^{_SEGMENT}\Z")
STATE_ID_RE = re.compile(rf"^{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}\Z")
_ARTIFACT_ID = re.compile(r"^[0-9a-f]{64}\Z")


def _invalid(code: str, message: str) -> RunError:
    return RunError(
        RunErrorKind.INVALID_PLAN, ErrorInfo(code, ErrorCategory.PARSING_INPUT, False, message)
    )


def op_id(value: str) -> OpId:
    """Return `value` if it is a valid op id, else raise `RunError` INVALID_PLAN `invalid_op_id`."""
    if not isinstance(value, str) or not OP_ID_RE.match(value):
        raise _invalid("invalid_op_id", f"op id {value!r} must match {OP_ID_RE.pattern}")
    return value


def state_id(value: str) -> StateId:
    """Return `value` if it is `machine.step.local` with three op-id-like segments."""
    if not isinstance(value, str) or not STATE_ID_RE.match(value):
        raise _invalid(
            "invalid_state_id",
            f"state id {value!r} must be three segments like 'machine.step.local'",
        )
    return value


def artifact_id(value: str) -> ArtifactId:
    """Return `value` if it is 64 lowercase hex characters (a SHA-256)."""
    if not isinstance(value, str) or not _ARTIFACT_ID.match(value):
        raise _invalid(
            "invalid_artifact_id", f"artifact id {value!r} must be 64 lowercase hex chars"
        )
    return value


def is_artifact_id(value: object) -> bool:
    return isinstance(value, str) and _ARTIFACT_ID.match(value) is not None


def run_id(value: str | uuid.UUID) -> RunId:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise _invalid("invalid_run_id", f"run id {value!r} is not a UUID") from None


def child_run_id(parent: RunId, fact_key: str) -> RunId:
    """Child run ids are a pure function of the parent and the spawning fact key."""
    return uuid.uuid5(parent, fact_key)
