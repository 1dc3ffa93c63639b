"""A lying log's rewritten history: records numbered 1, 2, 3... as an honest stream is, whose
attempts or facts no engine could have written (the `lie_rewritten_history` kind).

The seq-level lies (`log_lies.py`) are caught by the seq checks before anything else looks at
the records; these pass them, so the engine's later checks must refuse them (ENGINE.md,
"Attempt envelopes": `StateEntered` while an attempt is open, a terminal event with no open
attempt or for another state, `RunStarted` inside an open attempt; "Start and resume": a
history without `RunStarted`, or whose `RunStarted` names another op than its manifest;
"Facts": a malformed `fact_recorded`). Each shape applies only where the stream allows it,
else the stream loses its `RunStarted`, which every stream allows.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from mfm_engine.events import (
    FACT_RECORDED,
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    StateCompleted,
    StateEntered,
    StateFailed,
)

__all__ = ["OTHER_OP", "OTHER_STATE", "SHAPES", "rewrite"]

# The shapes, by argument: an attempt entered twice, a terminal with no entry, a terminal for
# another state, RunStarted inside an attempt, no RunStarted, a malformed fact record, and a
# forged RunStarted of another op before the run's own (the first one read is the run's).
SHAPES = (
    "entered_twice",
    "terminal_without_entry",
    "terminal_other_state",
    "run_started_inside",
    "no_run_started",
    "malformed_fact",
    "forged_run_started",
)
OTHER_STATE = "sim.lying.state"  # a well-formed state id no plan of ours has
OTHER_OP = "sim_lying_op"  # a well-formed op id no plan of ours has


def _numbered(records: list[EventEnvelope]) -> list[EventEnvelope]:
    """The records with seqs 1, 2, 3..., as an honest whole read returns them."""
    return [env if env.seq == n else attrs.evolve(env, seq=n) for n, env in enumerate(records, 1)]


def _first(records: list[EventEnvelope], kinds: tuple[type, ...]) -> int | None:
    return next((i for i, env in enumerate(records) if isinstance(env.event, kinds)), None)


def _closed_entry(records: list[EventEnvelope]) -> int | None:
    """The index of a `StateEntered` whose attempt the next kernel record closes."""
    for i, env in enumerate(records):
        if isinstance(env.event, StateEntered):
            nxt = _first(records[i + 1 :], (StateEntered, StateCompleted, StateFailed))
            if nxt is not None and not isinstance(records[i + 1 + nxt].event, StateEntered):
                return i
    return None


def _shaped(shape: str, out: list[EventEnvelope]) -> list[EventEnvelope] | None:
    """`out` rewritten as `shape`, or None where the stream does not allow it."""
    entered = _first(out, (StateEntered,))
    if shape == "entered_twice" and entered is not None:
        return [*out[: entered + 1], out[entered], *out[entered + 1 :]]
    if shape == "terminal_without_entry":
        closed = _closed_entry(out)
        return None if closed is None else [*out[:closed], *out[closed + 1 :]]
    if shape == "terminal_other_state":
        at = _first(out, (StateCompleted, StateFailed))
        if at is None:
            return None
        event = attrs.evolve(out[at].event, state_id=OTHER_STATE)
        return [*out[:at], attrs.evolve(out[at], event=event), *out[at + 1 :]]
    started = _first(out, (RunStarted,))
    if shape == "run_started_inside" and entered is not None and started is not None:
        return [*out[: entered + 1], out[started], *out[entered + 1 :]]
    if shape == "malformed_fact":
        made_up = DomainEvent(FACT_RECORDED, {"key": "sim.lying_log", "payload_id": "not-an-id"})
        return [*out, attrs.evolve(out[-1], event=made_up)]
    # Resume compares RunStarted's op with the manifest's only for an unfinished run (a
    # finished one returns its result first), so the forgery needs one.
    finished = any(isinstance(env.event, RunCompleted) for env in out)
    if shape == "forged_run_started" and started is not None and not finished:
        forged = attrs.evolve(out[started].event, op_id=OTHER_OP)
        return [attrs.evolve(out[started], event=forged), *out]
    return None


def rewrite(arg: int, stream: Sequence[EventEnvelope]) -> list[EventEnvelope]:
    """The non-empty whole `stream` rewritten as shape `arg` (modulo the shapes)."""
    out = list(stream)
    shaped = _shaped(SHAPES[arg % len(SHAPES)], out)
    if shaped is None:  # every stream has a RunStarted to lose
        shaped = [env for env in out if not isinstance(env.event, RunStarted)]
    return _numbered(shaped)
