"""The ErrorInfo of a plan refusal, as `seed/runtime.rs` (which ENGINE.md's start and resume
are) builds it: every `RunError::InvalidPlan` the seed raises goes through its
`invalid_plan(code, message)` helper, or names `ErrorCategory::Unknown` itself, and its
`info` helper sets `retryable: false`. So a refusal with one of the seed's codes is category
UNKNOWN and never retryable. Codes a later check of the original added (an id validated at
decode, `recovery_state_not_in_plan`) are left out: ENGINE.md gives them no category."""

from __future__ import annotations

__all__ = ["SEED_PLAN_CODES", "plan_refusal_problem"]

SEED_PLAN_CODES = frozenset(
    {
        "invalid_plan",
        "unsupported_execution_mode",
        "manifest_serialize_failed",
        "manifest_not_canonical",
        "secrets_detected",
        "manifest_id_mismatch",
        "manifest_op_id_mismatch",
        "run_config_mismatch",
        "invalid_attempt_envelopes",
        "run_id_mismatch",
        "terminal_without_entered",
        "missing_run_started",
        "run_started_op_id_mismatch",
        "plan_op_id_mismatch",
    }
)


def plan_refusal_problem(
    code: str | None, category: str | None, retryable: bool | None, message: object = ""
) -> str:
    """What is wrong with an INVALID_PLAN refusal's info ("" if nothing): a seed code must be
    category `unknown` and not retryable; any message is text (ENGINE.md: `message: str`)."""
    if not isinstance(message, str):
        return f"a message of type {type(message).__name__}, not str"
    if code not in SEED_PLAN_CODES:
        return ""
    if category != "unknown":
        return f"category {category}, the seed's is unknown"
    if retryable is not False:
        return f"retryable {retryable}, the seed's is false"
    return ""
