"""The whole `ErrorInfo` of every refusal `seed/runtime.rs` builds in start, resume and plan
validation, transcribed from the seed; and the comparison of a raised error with it.

ENGINE.md "Start and resume": start and resume are exactly `seed/runtime.rs` with the fixes
it lists. The seed builds each refusal with a fixed code, category and message, `retryable:
false` and `details: None` (its `info()`, `invalid_plan()`, `storage_not_found()` and
`context_err()` helpers), so an operator sees exactly those. Where ENGINE.md changes one, the
table holds ENGINE.md's version: `manifest_corrupt` is a `StorageError` CORRUPTION ("Attempt
envelopes": "the manifest keeps `manifest_corrupt`") where the seed raised it as an invalid
plan, with the seed's message; a gap or a repeat in a history's seqs is refused "as it refuses
other malformed histories", so with the seed's `invalid_attempt_envelopes` refusal. Codes only
ENGINE.md's later checks name (`recovery_state_not_in_plan`, `manifest_artifact_mismatch`,
`artifact_not_canonical`, ...) give no message and are not here: other checks compare their
code and kind.

The seed's `manifest_decode_failed` and `manifest_serialize_failed` are transcribed too,
though the port does not reach them (ENGINE.md's re-validation of every JSON artifact read
comes first; a manifest value is always JSON in the seed).
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = [
    "ORIGINAL_ERRORS",
    "OriginalError",
    "original_error",
    "original_problem",
    "raised_problem",
]


@attrs.frozen
class OriginalError:
    """One refusal as the seed builds it. `run_kind` is the `RunError` kind start and resume
    raise it as (ENGINE.md: "a `RunError` wraps the underlying error's info"), `cause` the
    typed error it wraps (class name, kind value), None for the seed's `RunError::InvalidPlan`."""

    family: str  # the seed's constructor, e.g. "RunError::InvalidPlan"
    run_kind: str
    cause: tuple[str, str] | None
    code: str
    category: str
    message: str
    retryable: bool = False
    details: Any = None


def _plan(code: str, message: str) -> OriginalError:
    # seed: `invalid_plan(code, message)` = RunError::InvalidPlan(info(code, Unknown, message))
    return OriginalError("RunError::InvalidPlan", "invalid_plan", None, code, "unknown", message)


def _not_found(code: str, message: str) -> OriginalError:
    # seed: `storage_not_found(code, message)`, wrapped by `RunError::Storage`
    return OriginalError(
        "StorageError::NotFound", "storage", ("StorageError", "not_found"), code, "storage", message
    )


def _context(code: str, message: str) -> OriginalError:
    # seed: `context_err(code, message)`, a ContextError::Serialization in `RunError::Context`
    return OriginalError(
        "ContextError::Serialization",
        "context",
        ("ContextError", "serialization"),
        code,
        "context",
        message,
    )


_ALL = (
    # validate_execution_mode
    _plan("unsupported_execution_mode", "execution_mode FanOutJoin is not supported"),
    # validate_start_run_contract
    _plan("manifest_serialize_failed", "failed to serialize run manifest"),
    _plan(
        "manifest_not_canonical",
        "run manifest is not canonical-json-hashable (floats are forbidden)",
    ),
    _plan("secrets_detected", "run manifest contained secrets (policy forbids persisting secrets)"),
    _plan("manifest_id_mismatch", "manifest_id did not match canonical JSON hash of the manifest"),
    _plan("manifest_op_id_mismatch", "manifest.op_id did not match plan.op_id"),
    _plan("run_config_mismatch", "run_config did not match manifest.run_config"),
    # start: the manifest artifact must exist
    _not_found("manifest_not_found", "manifest artifact was not found"),
    # run_states and resume: any failure to order the plan
    _plan("invalid_plan", "execution plan failed validation"),
    # read_run_history
    _plan("invalid_attempt_envelopes", "invalid attempt envelopes in event stream"),
    _plan("run_id_mismatch", "event stream run_id mismatch"),
    _plan("terminal_without_entered", "state terminal without StateEntered"),
    _plan("missing_run_started", "missing RunStarted kernel event"),
    # read_manifest; `manifest_corrupt` as ENGINE.md retypes it (see the module's docstring)
    _context("manifest_decode_failed", "failed to decode manifest JSON"),
    OriginalError(
        "StorageError::Corruption (ENGINE.md; the seed: RunError::InvalidPlan)",
        "storage",
        ("StorageError", "corruption"),
        "manifest_corrupt",
        "storage",
        "manifest artifact content hash mismatch",
    ),
    _context("manifest_deserialize_failed", "failed to deserialize manifest"),
    # resume
    _not_found("run_not_found", "run event stream was not found"),
    _plan("run_started_op_id_mismatch", "RunStarted.op_id did not match manifest.op_id"),
    _plan("plan_op_id_mismatch", "resolved plan.op_id did not match manifest.op_id"),
)
# (RunError kind, code) -> the refusal: a code alone is not enough (`secrets_detected` of a
# manifest is the seed's invalid plan, of an initial context a ContextError of ENGINE.md's).
ORIGINAL_ERRORS: dict[tuple[str, str], OriginalError] = {(e.run_kind, e.code): e for e in _ALL}


def _value(member: object) -> object:
    return member.value if isinstance(member, enum.Enum) else member


def original_error(kind: object, code: object) -> OriginalError | None:
    """The seed's refusal a `RunError` of `kind` (a RunErrorKind or its value) with `code` is,
    or None if the seed fixes no such refusal."""
    got = _value(kind)
    if not isinstance(got, str) or not isinstance(code, str):
        return None
    return ORIGINAL_ERRORS.get((got, code))


def original_problem(kind: object, info: Any, cause_type: str | None, cause_kind: object) -> str:
    """What in a raised `RunError` (its kind, info, and the typed error it chains) differs from
    the seed's refusal with its kind and code ("" if nothing, or if the seed fixes none)."""
    want = original_error(kind, getattr(info, "code", None))
    if want is None:
        return ""
    out = []
    if want.cause is not None and (cause_type, _value(cause_kind)) != want.cause:
        out.append(f"wraps {cause_type} {_value(cause_kind)!r}, not {want.family}")
    category = _value(getattr(info, "category", None))
    if category != want.category:
        out.append(f"category {category!r}, not {want.category!r}")
    retryable = getattr(info, "retryable", None)
    if retryable is not want.retryable:
        out.append(f"retryable {retryable!r}, not {want.retryable}")
    message = getattr(info, "message", None)
    if message != want.message:
        out.append(f"message {message!r}, not {want.message!r}")
    details = getattr(info, "details", None)
    if details != want.details:
        out.append(f"details {details!r}, not {want.details!r}")
    if not out:
        return ""
    return f"{want.code}: " + "; ".join(out) + " (seed/runtime.rs)"


def raised_problem(raised: Any) -> str:
    """`original_problem` of a recorded raised error (`RaisedError`: kind, info, cause_type,
    cause_kind); "" for None."""
    if raised is None:
        return ""
    return original_problem(raised.kind, raised.info, raised.cause_type, raised.cause_kind)
