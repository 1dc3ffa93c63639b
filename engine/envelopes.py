"""Attempt-envelope analysis of a run's stream: which attempts are open, closed or broken."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence

import attrs
from mfm_engine.events import (
    EventEnvelope,
    RunCompleted,
    RunStarted,
    StateCompleted,
    StateEntered,
    StateFailed,
)


class EnvelopeErrorKind(enum.Enum):
    RUN_ID_MISMATCH = "run_id_mismatch"
    SEQ_NOT_INCREASING = "seq_not_increasing"
    SEQ_GAP = "seq_gap"
    ENTERED_WHILE_OPEN = "entered_while_open"
    TERMINAL_WITHOUT_ENTERED = "terminal_without_entered"
    TERMINAL_STATE_MISMATCH = "terminal_state_mismatch"
    RUN_EVENT_INSIDE_ATTEMPT = "run_event_inside_attempt"


class EnvelopeError(ValueError):
    def __init__(self, kind: EnvelopeErrorKind, seq: int, message: str) -> None:
        super().__init__(f"{kind.value} at seq {seq}: {message}")
        self.kind = kind
        self.seq = seq


@attrs.frozen
class OrphanAttempt:
    state_id: str
    attempt: int
    base_snapshot_id: str
    seq: int


@attrs.frozen
class EnvelopeAnalysis:
    orphan_attempt: OrphanAttempt | None
    closed_attempts: int


def analyze_kernel_events(stream: Sequence[EventEnvelope]) -> EnvelopeAnalysis:
    """Walk a whole stream (from seq 1) once; domain events are ignored; raise `EnvelopeError` at
    the first break, a seq that repeats, goes back or skips one included."""
    run_id: uuid.UUID | None = None
    last_seq = 0
    # The open attempt's envelope: its OrphanAttempt record is made only if it stays open.
    open_env: EventEnvelope | None = None
    open_attempt: StateEntered | None = None
    closed = 0
    for env in stream:
        if run_id is None:
            run_id = env.run_id
        elif env.run_id is not run_id and env.run_id != run_id:  # `is` first: UUID eq is slow
            raise EnvelopeError(EnvelopeErrorKind.RUN_ID_MISMATCH, env.seq, "another run's event")
        if env.seq <= last_seq:
            raise EnvelopeError(
                EnvelopeErrorKind.SEQ_NOT_INCREASING, env.seq, f"after seq {last_seq}"
            )
        if env.seq != last_seq + 1:  # a stream is read from seq 1: the first must be 1
            raise EnvelopeError(EnvelopeErrorKind.SEQ_GAP, env.seq, f"after seq {last_seq}")
        last_seq = env.seq
        event = env.event
        if isinstance(event, StateEntered):
            if open_attempt is not None:
                raise EnvelopeError(
                    EnvelopeErrorKind.ENTERED_WHILE_OPEN,
                    env.seq,
                    f"{event.state_id} entered while {open_attempt.state_id} is open",
                )
            open_env, open_attempt = env, event
        elif isinstance(event, (StateCompleted, StateFailed)):
            if open_attempt is None:
                raise EnvelopeError(
                    EnvelopeErrorKind.TERMINAL_WITHOUT_ENTERED,
                    env.seq,
                    f"{event.state_id} not entered",
                )
            if event.state_id != open_attempt.state_id:
                raise EnvelopeError(
                    EnvelopeErrorKind.TERMINAL_STATE_MISMATCH,
                    env.seq,
                    f"{event.state_id} closes an attempt of {open_attempt.state_id}",
                )
            open_env = open_attempt = None
            closed += 1
        elif isinstance(event, (RunStarted, RunCompleted)) and open_attempt is not None:
            raise EnvelopeError(
                EnvelopeErrorKind.RUN_EVENT_INSIDE_ATTEMPT,
                env.seq,
                f"{type(event).__name__} inside an open attempt of {open_attempt.state_id}",
            )
    if open_env is None or open_attempt is None:
        return EnvelopeAnalysis(None, closed)
    orphan = OrphanAttempt(
        open_attempt.state_id, open_attempt.attempt, open_attempt.base_snapshot_id, open_env.seq
    )
    return EnvelopeAnalysis(orphan, closed)
