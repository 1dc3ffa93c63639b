"""Walking a run's stream for its attempt envelopes, as ENGINE.md ("Attempt envelopes" and the
later read-back checks) says: another run id, a seq that is not the next one (a repeat, a step
back or a gap, from seq 1), `StateEntered` while an attempt is open, a terminal event with no
open attempt or for another state, and `RunStarted`/`RunCompleted` inside an open attempt are
errors; domain events are ignored; an attempt still open at the end is the orphan."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import attrs
from mfm_engine.events import (
    EventEnvelope,
    RunCompleted,
    RunStarted,
    StateCompleted,
    StateEntered,
    StateFailed,
)

__all__ = ["Orphan", "Walk", "walk"]


@attrs.frozen
class Orphan:
    """An attempt left open: its state, attempt, base snapshot and the seq that entered it."""

    state_id: str
    attempt: int
    base_snapshot_id: str
    seq: int


@attrs.frozen
class Walk:
    """The walk's verdict: the first `problem` as (reason, seq), or the orphan and the number
    of closed attempts of a well-formed stream."""

    problem: tuple[str, int] | None
    orphan: Orphan | None
    closed: int


def walk(stream: Iterable[EventEnvelope]) -> Walk:
    """Walk a whole stream from seq 1; stop at the first problem. Reasons: `run_id_mismatch`,
    `seq_not_increasing`, `seq_gap`, `entered_while_open`, `terminal_without_entered`,
    `terminal_state_mismatch`, `run_event_inside_attempt`."""
    run: uuid.UUID | None = None
    last = 0
    open_attempt: tuple[StateEntered, int] | None = None
    closed = 0
    for env in stream:
        if run is None:
            run = env.run_id
        elif env.run_id != run:
            return Walk(("run_id_mismatch", env.seq), None, closed)
        if env.seq <= last:
            return Walk(("seq_not_increasing", env.seq), None, closed)
        if env.seq != last + 1:
            return Walk(("seq_gap", env.seq), None, closed)
        last = env.seq
        event = env.event
        if isinstance(event, StateEntered):
            if open_attempt is not None:
                return Walk(("entered_while_open", env.seq), None, closed)
            open_attempt = (event, env.seq)
        elif isinstance(event, (StateCompleted, StateFailed)):
            if open_attempt is None:
                return Walk(("terminal_without_entered", env.seq), None, closed)
            if event.state_id != open_attempt[0].state_id:
                return Walk(("terminal_state_mismatch", env.seq), None, closed)
            open_attempt = None
            closed += 1
        elif isinstance(event, (RunStarted, RunCompleted)) and open_attempt is not None:
            return Walk(("run_event_inside_attempt", env.seq), None, closed)
    if open_attempt is None:
        return Walk(None, None, closed)
    entered, seq = open_attempt
    orphan = Orphan(entered.state_id, entered.attempt, entered.base_snapshot_id, seq)
    return Walk(None, orphan, closed)
