"""raised_error: a raised engine error and the typed error it chains, kept as data."""

from __future__ import annotations

import pytest
from mfm_engine.envelopes import EnvelopeError, EnvelopeErrorKind
from mfm_engine.errors import (
    ContextError,
    ContextErrorKind,
    RunErrorKind,
    StorageErrorKind,
    as_run_error,
    invalid_plan,
    storage,
)
from mfm_engine.plan import PlanErrorKind, PlanValidationError

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


def test_a_refusals_reason_is_kept_as_plain_values() -> None:
    """A fixed refusal chains its reason (ENGINE.md names no ErrorInfo for it): the reason's
    kind, seq, subject (a list as a tuple) and message are kept for the oracle to judge."""
    gap = EnvelopeError(EnvelopeErrorKind.SEQ_GAP, 3, "after seq 1")
    try:
        raise invalid_plan("invalid_attempt_envelopes", "invalid") from gap
    except Exception as exc:
        got = raised_error(exc)
    assert (got.cause_type, got.cause_kind, got.cause_seq) == (
        "EnvelopeError",
        EnvelopeErrorKind.SEQ_GAP,
        3,
    )
    assert got.cause_message == "seq_gap at seq 3: after seq 1" and got.cause_subject is None
    cycle = PlanValidationError(PlanErrorKind.CIRCULAR_DEPENDENCY, "a cycle", ["a.b.c", "a.b.d"])
    try:
        raise invalid_plan("invalid_plan", "failed") from cycle
    except Exception as exc:
        got = raised_error(exc)
    assert (got.cause_type, got.cause_kind) == ("PlanValidationError", cycle.kind)
    assert (got.cause_seq, got.cause_subject, got.cause_message) == (
        None,
        ("a.b.c", "a.b.d"),
        "a cycle",
    )
