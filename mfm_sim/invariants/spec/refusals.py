"""The ErrorInfo of a refusal, typed as ENGINE.md says; and of a plan refusal, as
`seed/runtime.rs` (which ENGINE.md's start and resume are) builds it: every
`RunError::InvalidPlan` the seed raises goes through its `invalid_plan(code, message)` helper,
or names `ErrorCategory::Unknown` itself, and its `info` helper sets `retryable: false`. So a
refusal with one of the seed's codes is category UNKNOWN and never retryable. Codes a later
check of the original added (an id validated at decode, `recovery_state_not_in_plan`) are left
out: ENGINE.md gives them no category."""

from __future__ import annotations

from mfm_sim.invariants.spec.original_errors import ORIGINAL_ERRORS

__all__ = ["CATEGORIES", "CONTEXT_KINDS", "SEED_PLAN_CODES", "refusal_problem"]

# The seed's `RunError::InvalidPlan` codes, from the transcription of its refusals.
SEED_PLAN_CODES = frozenset(code for kind, code in ORIGINAL_ERRORS if kind == "invalid_plan")


# ENGINE.md, "Ids and values": the categories, and the kinds of a `ContextError`.
CATEGORIES = frozenset(
    {"parsing_input", "on_chain", "off_chain", "rpc", "storage", "context", "unknown"}
)
CONTEXT_KINDS = frozenset({"missing_key", "serialization", "other"})


def refusal_problem(
    kind: str | None,
    code: object,
    category: object,
    retryable: object,
    message: object = "",
    context_kind: object = None,
) -> str:
    """What is wrong with a refusal's `ErrorInfo` ("" if nothing), by ENGINE.md's types:
    `ErrorInfo(code: str, category, retryable: bool, message: str, ...)`, a category of the
    list, a `ContextError` of one of its kinds; and a seed plan refusal (`SEED_PLAN_CODES`)
    is category `unknown` and not retryable."""
    if not isinstance(code, str):
        return f"a code of type {type(code).__name__}, not str"
    if not isinstance(message, str):
        return f"a message of type {type(message).__name__}, not str"
    if category not in CATEGORIES:
        return f"category {category}, not a documented one"
    if not isinstance(retryable, bool):
        return f"retryable {retryable}, not a bool"
    # A RunError CONTEXT carries the info alone: a kind is judged where the ContextError was.
    if context_kind is not None and context_kind not in CONTEXT_KINDS:
        return f"ContextError kind {context_kind}, not a documented one"
    if kind == "invalid_plan" and code in SEED_PLAN_CODES:
        if category != "unknown":
            return f"category {category}, the seed's is unknown"
        if retryable:
            return f"retryable {retryable}, the seed's is false"
    return ""
