"""raised_error: a raised engine error and the typed error it chains, kept as data."""

from __future__ import annotations

import pytest
from mfm_engine.errors import (
    ContextError,
    ContextErrorKind,
    RunErrorKind,
    StorageErrorKind,
    as_run_error,
    invalid_plan,
    storage,
)

from mfm_sim.run.raised import raised_error


def _raise_wrapped() -> None:
    inner = storage(StorageErrorKind.NOT_FOUND, "run_not_found", "no stream")
    raise as_run_error(inner) from inner


def test_a_wrapped_error_keeps_its_cause_class_and_kind() -> None:
    with pytest.raises(Exception) as caught:
        _raise_wrapped()
    got = raised_error(caught.value)
    assert got.kind is RunErrorKind.STORAGE
    assert got.info.code == "run_not_found" and got.info.message == "no stream"
    assert (got.cause_type, got.cause_kind) == ("StorageError", StorageErrorKind.NOT_FOUND)


def test_an_error_raised_from_none_has_no_cause() -> None:
    try:
        raise invalid_plan("cycle", "a cycle") from None
    except Exception as exc:
        got = raised_error(exc)
    assert got.kind is RunErrorKind.INVALID_PLAN
    assert (got.cause_type, got.cause_kind) == (None, None)


def test_a_context_error_keeps_its_own_kind() -> None:
    err = ContextError(ContextErrorKind.SERIALIZATION, invalid_plan("x", "y").info)
    got = raised_error(err)
    assert got.kind is ContextErrorKind.SERIALIZATION and got.cause_type is None
