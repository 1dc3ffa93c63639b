"""Error values, typed exceptions and their wrapping as `RunError`."""

from __future__ import annotations

import pytest
from mfm_engine.errors import (
    ContextError,
    ContextErrorKind,
    EngineError,
    ErrorCategory,
    ErrorInfo,
    IoError,
    IoErrorKind,
    RunError,
    RunErrorKind,
    StateError,
    StorageError,
    StorageErrorKind,
    as_run_error,
    context,
    info,
    invalid_plan,
    storage,
)


def test_enum_members_match_the_contract() -> None:
    assert {c.name for c in ErrorCategory} == {
        "PARSING_INPUT",
        "ON_CHAIN",
        "OFF_CHAIN",
        "RPC",
        "STORAGE",
        "CONTEXT",
        "UNKNOWN",
    }
    assert {k.name for k in IoErrorKind} == {
        "MISSING_FACT_KEY",
        "MISSING_FACT",
        "TRANSPORT",
        "RATE_LIMITED",
        "OTHER",
    }
    assert {k.name for k in ContextErrorKind} == {"MISSING_KEY", "SERIALIZATION", "OTHER"}
    assert {k.name for k in StorageErrorKind} == {"CONCURRENCY", "NOT_FOUND", "CORRUPTION", "OTHER"}
    assert {k.name for k in RunErrorKind} == {
        "INVALID_PLAN",
        "STORAGE",
        "CONTEXT",
        "IO",
        "STATE",
        "OTHER",
    }


@pytest.mark.parametrize(
    "value",
    [
        ErrorInfo("c", ErrorCategory.RPC, True, "m"),
        ErrorInfo("c", ErrorCategory.ON_CHAIN, False, "m", {"a": [1, {"b": None}]}),
        ErrorInfo("c", ErrorCategory.UNKNOWN, False, "", "text details"),
    ],
)
def test_error_info_json_round_trip(value: ErrorInfo) -> None:
    assert ErrorInfo.from_json(value.to_json()) == value


def test_error_info_json_omits_absent_details() -> None:
    assert ErrorInfo("c", ErrorCategory.RPC, True, "m").to_json() == {
        "code": "c",
        "category": "rpc",
        "retryable": True,
        "message": "m",
    }


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "x",
        {},
        {"code": "c"},
        {"code": "c", "category": "nope", "retryable": 1, "message": ""},
    ],
)
def test_error_info_from_malformed_json_is_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="malformed error info"):
        ErrorInfo.from_json(value)


def test_exceptions_carry_info_and_kind() -> None:
    i = info("boom", ErrorCategory.OFF_CHAIN, "went boom", retryable=True, details={"n": 1})
    assert i == ErrorInfo("boom", ErrorCategory.OFF_CHAIN, True, "went boom", {"n": 1})
    for exc in (
        StorageError(StorageErrorKind.OTHER, i),
        ContextError(ContextErrorKind.OTHER, i),
        IoError(IoErrorKind.TRANSPORT, i),
        StateError(i, state_id="m.s.l"),
        RunError(RunErrorKind.OTHER, i),
    ):
        assert isinstance(exc, EngineError)
        assert exc.info is i
        assert exc.code == "boom"
        assert "boom" in str(exc) and "went boom" in str(exc)
    assert StateError(i).state_id is None
    assert StateError(i, "m.s.l").state_id == "m.s.l"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (
            StorageError(StorageErrorKind.CONCURRENCY, info("s", ErrorCategory.STORAGE, "")),
            "STORAGE",
        ),
        (
            ContextError(ContextErrorKind.MISSING_KEY, info("c", ErrorCategory.CONTEXT, "")),
            "CONTEXT",
        ),
        (IoError(IoErrorKind.MISSING_FACT, info("i", ErrorCategory.RPC, "")), "IO"),
        (StateError(info("x", ErrorCategory.UNKNOWN, "")), "STATE"),
        (EngineError(info("e", ErrorCategory.UNKNOWN, "")), "OTHER"),
    ],
)
def test_as_run_error_wraps_the_underlying_info(exc: EngineError, kind: str) -> None:
    run = as_run_error(exc)
    assert isinstance(run, RunError)
    assert run.kind is RunErrorKind[kind]
    assert run.info is exc.info


def test_as_run_error_passes_run_errors_through() -> None:
    run = invalid_plan("bad", "bad plan")
    assert as_run_error(run) is run
    assert run.kind is RunErrorKind.INVALID_PLAN
    assert run.info.code == "bad"
    assert repr(run) == "RunError(INVALID_PLAN, 'bad')"


def test_helpers_set_categories() -> None:
    s = storage(StorageErrorKind.NOT_FOUND, "artifact_not_found", "gone", retryable=True)
    assert (s.kind, s.info.category, s.info.retryable) == (
        StorageErrorKind.NOT_FOUND,
        ErrorCategory.STORAGE,
        True,
    )
    c = context(ContextErrorKind.SERIALIZATION, "secrets_detected", "no")
    assert (c.kind, c.info.category, c.info.code) == (
        ContextErrorKind.SERIALIZATION,
        ErrorCategory.CONTEXT,
        "secrets_detected",
    )
