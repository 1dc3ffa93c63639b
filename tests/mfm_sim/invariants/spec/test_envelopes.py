"""`spec.envelopes` agrees with the engine's envelope analysis on random streams."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.envelopes import EnvelopeError, analyze_kernel_events
from mfm_engine.errors import ErrorCategory, ErrorInfo
from mfm_engine.events import (
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)

from mfm_sim.invariants.spec.envelopes import Orphan, walk

RUNS = (uuid.UUID(int=1), uuid.UUID(int=2))
SID = "a" * 64
_ERR = ErrorInfo("e", ErrorCategory.UNKNOWN, True, "m", None)


def _event(kind: int, state: str) -> Any:
    return [
        RunStarted("m", SID, SID),
        StateEntered(state, 0, SID),
        StateCompleted(state, SID),
        StateFailed(state, _ERR),
        RunCompleted(RunStatus.COMPLETED, SID),
        DomainEvent("op_boundary", {}),
    ][kind]


@st.composite
def streams(draw: st.DrawFn) -> list[EventEnvelope]:
    """Mostly well-formed: entered/terminal pairs, with a few wrong runs, seqs and states."""
    n = draw(st.integers(min_value=0, max_value=10))
    out: list[EventEnvelope] = []
    seq = 0
    for _ in range(n):
        seq += draw(st.sampled_from([1, 1, 1, 1, 1, 1, 0, 2]))
        run = RUNS[draw(st.sampled_from([0, 0, 0, 0, 0, 1]))]
        kind = draw(st.sampled_from([1, 2, 1, 3, 0, 4, 5]))
        state = draw(st.sampled_from(["m.a.run", "m.a.run", "m.b.run"]))
        out.append(EventEnvelope(run, seq, _event(kind, state)))
    return out


@settings(max_examples=500, deadline=None)
@given(streams())
def test_walk_agrees_with_the_engine(stream: list[EventEnvelope]) -> None:
    ours = walk(stream)
    try:
        theirs = analyze_kernel_events(stream)
    except EnvelopeError as exc:
        assert ours.problem == (exc.kind.value, exc.seq)
    else:
        assert ours.problem is None
        o = theirs.orphan_attempt
        want = None if o is None else Orphan(o.state_id, o.attempt, o.base_snapshot_id, o.seq)
        assert ours.orphan == want


def test_an_open_attempt_at_the_end_is_the_orphan() -> None:
    stream = [
        EventEnvelope(RUNS[0], 1, RunStarted("m", SID, SID)),
        EventEnvelope(RUNS[0], 2, StateEntered("m.a.run", 2, SID)),
        EventEnvelope(RUNS[0], 3, DomainEvent("op_boundary", {})),
    ]
    assert walk(stream).orphan == Orphan("m.a.run", 2, SID, 2)
    gap = [stream[0], EventEnvelope(RUNS[0], 3, StateEntered("m.a.run", 0, SID))]
    assert walk(gap).problem == ("seq_gap", 3)
