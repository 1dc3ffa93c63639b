"""The seed's refusals, transcribed: a refusal with all of the seed's ErrorInfo passes; one
that differs in its family, category, retry flag, message or details is named."""

from __future__ import annotations

import pytest
from mfm_engine.errors import (
    ContextErrorKind,
    ErrorCategory,
    ErrorInfo,
    RunErrorKind,
    StorageErrorKind,
)

from mfm_sim.invariants.spec.original_errors import (
    ORIGINAL_ERRORS,
    OriginalError,
    original_error,
    original_problem,
    raised_problem,
)
from mfm_sim.run.observation import RaisedError

_CAUSE_KINDS = {"StorageError": StorageErrorKind, "ContextError": ContextErrorKind}


def _as_raised(want: OriginalError) -> tuple[object, ErrorInfo, str | None, object]:
    """The error a faithful engine raises for `want`: (kind, info, cause type, cause kind)."""
    info = ErrorInfo(want.code, ErrorCategory(want.category), False, want.message, None)
    if want.cause is None:
        return RunErrorKind(want.run_kind), info, None, None
    cause_type, cause_kind = want.cause
    return RunErrorKind(want.run_kind), info, cause_type, _CAUSE_KINDS[cause_type](cause_kind)


def test_the_seed_codes_are_transcribed_with_their_messages() -> None:
    plan = original_error(RunErrorKind.INVALID_PLAN, "invalid_plan")
    assert plan is not None
    assert (plan.category, plan.retryable, plan.details) == ("unknown", False, None)
    assert plan.message == "execution plan failed validation"
    secrets = original_error("invalid_plan", "secrets_detected")
    assert secrets is not None
    assert secrets.message == "run manifest contained secrets (policy forbids persisting secrets)"
    # ENGINE.md retypes the seed's manifest_corrupt as a StorageError CORRUPTION.
    corrupt = original_error("storage", "manifest_corrupt")
    assert corrupt is not None and corrupt.cause == ("StorageError", "corruption")
    assert original_error("invalid_plan", "manifest_corrupt") is None
    # A context's secrets are ENGINE.md's ContextError, not the seed's manifest refusal.
    assert original_error("context", "secrets_detected") is None
    assert original_error("invalid_plan", "recovery_state_not_in_plan") is None
    assert original_error(None, "invalid_plan") is None


@pytest.mark.parametrize("key", sorted(ORIGINAL_ERRORS))
def test_a_faithful_refusal_passes(key: tuple[str, str]) -> None:
    assert original_problem(*_as_raised(ORIGINAL_ERRORS[key])) == ""


@pytest.mark.parametrize("key", sorted(ORIGINAL_ERRORS))
def test_a_refusal_that_differs_from_the_seed_is_named(key: tuple[str, str]) -> None:
    kind, info, cause_type, cause_kind = _as_raised(ORIGINAL_ERRORS[key])
    for broken, word in (
        (ErrorInfo(info.code, info.category, False, "XX" + info.message, None), "message"),
        (ErrorInfo(info.code, info.category, False, info.message.upper(), None), "message"),
        (ErrorInfo(info.code, info.category, False, None, None), "message None"),  # type: ignore[arg-type]
        (ErrorInfo(info.code, info.category, False, info.message, {"reason": "x"}), "details"),
        (ErrorInfo(info.code, ErrorCategory.RPC, False, info.message, None), "category 'rpc'"),
        (ErrorInfo(info.code, info.category, True, info.message, None), "retryable True"),
    ):
        problem = original_problem(kind, broken, cause_type, cause_kind)
        assert word in problem and info.code in problem, (broken, problem)


def test_a_refusal_of_another_family_is_named() -> None:
    run_not_found = ORIGINAL_ERRORS["storage", "run_not_found"]
    kind, info, _, _ = _as_raised(run_not_found)
    problem = original_problem(kind, info, "StorageError", StorageErrorKind.CORRUPTION)
    assert "not StorageError::NotFound" in problem
    assert "wraps None" in original_problem(kind, info, None, None)


def test_a_refusal_the_seed_does_not_build_is_not_judged_here() -> None:
    info = ErrorInfo("recovery_state_not_in_plan", ErrorCategory.UNKNOWN, False, "any", {"a": 1})
    assert original_problem(RunErrorKind.INVALID_PLAN, info, None, None) == ""


def test_a_recorded_raised_error_is_judged_as_its_parts() -> None:
    want = ORIGINAL_ERRORS["invalid_plan", "invalid_plan"]
    kind, info, _, _ = _as_raised(want)
    assert raised_problem(None) == ""
    assert raised_problem(RaisedError(kind, info)) == ""
    broken = ErrorInfo(info.code, info.category, False, info.message, {"reason": "empty_plan"})
    assert "details" in raised_problem(RaisedError(kind, broken))
