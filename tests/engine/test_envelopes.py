"""Attempt-envelope analysis: every error kind, orphan detection, domain events ignored."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine import (
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from mfm_engine.envelopes import (
    EnvelopeAnalysis,
    EnvelopeError,
    EnvelopeErrorKind,
    OrphanAttempt,
    analyze_kernel_events,
)
from mfm_engine.errors import ErrorCategory, info

RID = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("00000000-0000-4000-8000-000000000002")
A, B = "op.s.one", "op.s.two"
SNAP0, SNAP1 = "0" * 64, "1" * 64
ERR = info("boom", ErrorCategory.UNKNOWN, "boom", retryable=True)


def stream(*events: Any, run_id: uuid.UUID = RID) -> list[EventEnvelope]:
    return [EventEnvelope(run_id, i, e) for i, e in enumerate(events, start=1)]


def started() -> RunStarted:
    return RunStarted("op", SNAP0, SNAP0)


def entered(state: str = A, attempt: int = 0, base: str = SNAP0) -> StateEntered:
    return StateEntered(state, attempt, base)


def fact(key: str = "k") -> DomainEvent:
    return DomainEvent("fact_recorded", {"key": key, "payload_id": SNAP1, "meta": {}})


def test_empty_stream_is_fine() -> None:
    assert analyze_kernel_events([]) == EnvelopeAnalysis(None)


def test_well_formed_stream() -> None:
    s = stream(
        started(),
        entered(A),
        fact(),
        StateFailed(A, ERR),
        entered(A, 1),
        StateCompleted(A, SNAP1),
        entered(B, 0, SNAP1),
        StateCompleted(B, SNAP1),
        RunCompleted(RunStatus.COMPLETED, SNAP1),
    )
    assert analyze_kernel_events(s) == EnvelopeAnalysis(None)


def test_orphan_is_the_open_attempt_at_the_end() -> None:
    s = stream(
        started(), entered(A), StateCompleted(A, SNAP1), entered(B, 2, SNAP1), fact(), fact("j")
    )
    analysis = analyze_kernel_events(s)
    assert analysis.orphan_attempt == OrphanAttempt(B, 2, SNAP1, 4)


def test_domain_events_are_ignored_anywhere() -> None:
    plain = [started(), entered(A), StateCompleted(A, SNAP1), entered(B, 0, SNAP1)]
    noisy = [
        fact(),
        started(),
        fact(),
        entered(A),
        fact("x"),
        DomainEvent("op_boundary", {}),
        StateCompleted(A, SNAP1),
        fact(),
        entered(B, 0, SNAP1),
        DomainEvent("anything", None),
    ]
    a, b = analyze_kernel_events(stream(*plain)), analyze_kernel_events(stream(*noisy))
    assert a.orphan_attempt is not None and b.orphan_attempt is not None
    assert (
        a.orphan_attempt.state_id,
        a.orphan_attempt.attempt,
        a.orphan_attempt.base_snapshot_id,
    ) == (b.orphan_attempt.state_id, b.orphan_attempt.attempt, b.orphan_attempt.base_snapshot_id)
    assert b.orphan_attempt.seq == 9


def _error(envs: list[EventEnvelope]) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as err:
        analyze_kernel_events(envs)
    return err.value


def test_another_run_id() -> None:
    envs = stream(started(), entered(A))
    envs[1] = EventEnvelope(OTHER, 2, entered(A))
    err = _error(envs)
    assert err.kind is EnvelopeErrorKind.RUN_ID_MISMATCH and err.seq == 2


@pytest.mark.parametrize("seqs", [[1, 1], [1, 2, 1], [1, 2, 2]])
def test_seq_not_strictly_increasing(seqs: list[int]) -> None:
    evs = [started(), fact(), fact()][: len(seqs)]
    envs = [EventEnvelope(RID, s, e) for s, e in zip(seqs, evs, strict=True)]
    err = _error(envs)
    assert err.kind is EnvelopeErrorKind.SEQ_NOT_INCREASING and err.seq == seqs[-1]


@pytest.mark.parametrize("seqs", [[2], [1, 3], [1, 2, 4], [2, 1]])
def test_seq_gap(seqs: list[int]) -> None:
    """A stream is read from seq 1: a first seq above 1, or a skipped seq, is a gap."""
    evs = [started(), fact(), fact()][: len(seqs)]
    envs = [EventEnvelope(RID, s, e) for s, e in zip(seqs, evs, strict=True)]
    err = _error(envs)
    gap = next(s for i, s in enumerate(seqs, start=1) if s != i)
    assert err.kind is EnvelopeErrorKind.SEQ_GAP and err.seq == gap
    assert f"seq_gap at seq {gap}" in str(err)


def test_entered_while_open() -> None:
    err = _error(stream(started(), entered(A), entered(A, 1)))
    assert err.kind is EnvelopeErrorKind.ENTERED_WHILE_OPEN and err.seq == 3


@pytest.mark.parametrize("terminal", [StateCompleted(A, SNAP1), StateFailed(A, ERR)])
def test_terminal_without_entered(terminal: Any) -> None:
    err = _error(stream(started(), terminal))
    assert err.kind is EnvelopeErrorKind.TERMINAL_WITHOUT_ENTERED
    err = _error(stream(started(), entered(A), StateCompleted(A, SNAP1), terminal))
    assert err.kind is EnvelopeErrorKind.TERMINAL_WITHOUT_ENTERED and err.seq == 4


@pytest.mark.parametrize("terminal", [StateCompleted(B, SNAP1), StateFailed(B, ERR)])
def test_terminal_for_another_state(terminal: Any) -> None:
    err = _error(stream(started(), entered(A), terminal))
    assert err.kind is EnvelopeErrorKind.TERMINAL_STATE_MISMATCH and err.seq == 3


@pytest.mark.parametrize("run_event", [started(), RunCompleted(RunStatus.FAILED, SNAP0)])
def test_run_event_inside_open_attempt(run_event: Any) -> None:
    err = _error(stream(started(), entered(A), run_event))
    assert err.kind is EnvelopeErrorKind.RUN_EVENT_INSIDE_ATTEMPT and err.seq == 3


def test_every_error_kind_is_covered() -> None:
    cases = {
        EnvelopeErrorKind.RUN_ID_MISMATCH: [
            EventEnvelope(RID, 1, started()),
            EventEnvelope(OTHER, 2, fact()),
        ],
        EnvelopeErrorKind.SEQ_NOT_INCREASING: [
            EventEnvelope(RID, 1, started()),
            EventEnvelope(RID, 1, fact()),
        ],
        EnvelopeErrorKind.SEQ_GAP: [
            EventEnvelope(RID, 1, started()),
            EventEnvelope(RID, 3, fact()),
        ],
        EnvelopeErrorKind.ENTERED_WHILE_OPEN: stream(entered(A), entered(B)),
        EnvelopeErrorKind.TERMINAL_WITHOUT_ENTERED: stream(StateFailed(A, ERR)),
        EnvelopeErrorKind.TERMINAL_STATE_MISMATCH: stream(entered(A), StateFailed(B, ERR)),
        EnvelopeErrorKind.RUN_EVENT_INSIDE_ATTEMPT: stream(entered(A), started()),
    }
    assert set(cases) == set(EnvelopeErrorKind)
    for kind, envs in cases.items():
        assert _error(envs).kind is kind


def test_envelope_error_is_a_value_error_with_kind_and_seq() -> None:
    err = _error(stream(entered(A), entered(B)))
    assert isinstance(err, ValueError)
    assert "entered_while_open" in str(err)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["enter_a", "enter_b", "done_a", "done_b", "fail_a", "domain"]), max_size=12
    )
)
def test_analysis_agrees_with_a_simple_model(ops: list[str]) -> None:
    """Random kernel sequences: valid iff each terminal closes the open attempt of its state."""
    evs: list[Any] = []
    open_state: str | None = None
    valid = True
    orphan: tuple[str, int] | None = None
    for i, op in enumerate(ops, start=1):
        if op == "domain":
            evs.append(fact())
            continue
        kind, which = op.split("_")
        state = A if which == "a" else B
        if kind == "enter":
            evs.append(entered(state, i))
            if open_state is not None:
                valid = False
            open_state = state
            orphan = (state, i)
        else:
            evs.append(StateCompleted(state, SNAP1) if kind == "done" else StateFailed(state, ERR))
            if open_state != state:
                valid = False
            open_state = None
        if not valid:
            break
    envs = stream(*evs)
    if not valid:
        with pytest.raises(EnvelopeError):
            analyze_kernel_events(envs)
        return
    analysis = analyze_kernel_events(envs)
    if open_state is None:
        assert analysis.orphan_attempt is None
    else:
        assert orphan is not None and analysis.orphan_attempt is not None
        assert (analysis.orphan_attempt.state_id, analysis.orphan_attempt.attempt) == orphan
