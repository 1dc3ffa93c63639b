"""Attempt-envelope analysis of a run's stream: the attempt left open, or the first break."""

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


def analyze_kernel_events(stream: Sequence[EventEnvelope]) -> EnvelopeAnalysis:
    """Walk a whole stream (from seq 1) once; domain events are ignored; raise `EnvelopeError` at
    the first break, a seq that repeats, goes back or skips one included."""
    run_id: uuid.UUID | None = None
    last_seq = 0
    # The open attempt and the seq that entered it: an OrphanAttempt is made only if it stays
    # open to the end.
    opened: tuple[StateEntered, int] | None = None
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
            if opened is not None:
                raise EnvelopeError(
                    EnvelopeErrorKind.ENTERED_WHILE_OPEN,
                    env.seq,
                    f"{event.state_id} entered while {opened[0].state_id} is open",
                )
            opened = (event, env.seq)
        elif isinstance(event, (StateCompleted, StateFailed)):
            if opened is None:
                raise EnvelopeError(
                    EnvelopeErrorKind.TERMINAL_WITHOUT_ENTERED,
                    env.seq,
                    f"{event.state_id} not entered",
                )
            if event.state_id != opened[0].state_id:
                raise EnvelopeError(
                    EnvelopeErrorKind.TERMINAL_STATE_MISMATCH,
                    env.seq,
                    f"{event.state_id} closes an attempt of {opened[0].state_id}",
                )
            opened = None
        elif isinstance(event, (RunStarted, RunCompleted)) and opened is not None:
            raise EnvelopeError(
                EnvelopeErrorKind.RUN_EVENT_INSIDE_ATTEMPT,
                env.seq,
                f"{type(event).__name__} inside an open attempt of {opened[0].state_id}",
            )
    if opened is None:
        return EnvelopeAnalysis(None)
    entered, seq = opened
    return EnvelopeAnalysis(
        OrphanAttempt(entered.state_id, entered.attempt, entered.base_snapshot_id, seq)
    )
