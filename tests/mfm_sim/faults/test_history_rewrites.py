"""A rewritten history: numbered as an honest stream, refused by the engine's later checks,
each shape by the check ENGINE.md names for it."""

from __future__ import annotations

import pytest
from mfm_engine.envelopes import EnvelopeError, analyze_kernel_events
from mfm_engine.errors import EngineError, ErrorCategory, info
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
from mfm_engine.live_io import FactIndex
from mfm_engine.runtime.history import read_run_history

from mfm_sim import simulate
from mfm_sim.faults.history_rewrites import OTHER_OP, SHAPES, rewrite
from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.invariants.detected_not_silent import LOG_LIE_REFUSALS
from mfm_sim.run.observation import Outcome
from mfm_sim.run.scenario import get_scenario
from tests.mfm_sim.faults.test_log_lies import RUN, _refusal, _resume_read_step

A, B, C = "a" * 64, "b" * 64, "c" * 64
FAILED = info("boom", ErrorCategory.UNKNOWN, "boom", retryable=True)


def _stream(*, closed: bool = True) -> list[EventEnvelope]:
    events: list[object] = [RunStarted("op", A, A), StateEntered("op.s1.run", 0, A)]
    if closed:
        events += [StateFailed("op.s1.run", FAILED), StateEntered("op.s1.run", 1, A)]
        events += [StateCompleted("op.s1.run", B)]
    events.append(DomainEvent("fact_recorded", {"key": "k", "payload_id": C}))
    return [EventEnvelope(RUN, n, e) for n, e in enumerate(events, 1)]  # type: ignore[arg-type]


# The refusal, and (for the attempt envelopes) the part of the message naming the rule broken.
EXPECTED = {
    "entered_twice": ("invalid_attempt_envelopes", "entered while"),
    "terminal_without_entry": ("invalid_attempt_envelopes", "not entered"),
    "terminal_other_state": ("invalid_attempt_envelopes", "closes an attempt of"),
    "run_started_inside": ("invalid_attempt_envelopes", "RunStarted inside"),
    "no_run_started": ("missing_run_started", ""),
    "malformed_fact": ("fact_recorded_malformed", ""),
}
# Resume's own check, past the history: the first RunStarted read is the run's.
FORGED = "forged_run_started"


@pytest.mark.parametrize(
    "arg", [a for a, s in enumerate(SHAPES) if s != FORGED], ids=lambda a: SHAPES[a]
)
def test_each_shape_is_well_numbered_and_refused_by_its_own_check(arg: int) -> None:
    stream = _stream()
    assert _refusal(stream) is None
    lied = rewrite(arg, stream)
    assert lied != stream and stream == _stream()
    assert [env.seq for env in lied] == list(range(1, len(lied) + 1))
    code, words = EXPECTED[SHAPES[arg]]
    try:
        read_run_history(RUN, lied)
        FactIndex.from_event_stream(lied)
    except EngineError as exc:
        assert exc.info.code == code
        if code == "invalid_attempt_envelopes":
            # The refusal is the seed's, naming no rule; the walk itself names the one broken.
            assert exc.info.message == "invalid attempt envelopes in event stream"
            with pytest.raises(EnvelopeError, match=words):
                analyze_kernel_events(lied)
    else:
        raise AssertionError(f"{SHAPES[arg]} was accepted")


@pytest.mark.parametrize("arg", [1, 2])
def test_a_shape_the_stream_does_not_allow_drops_run_started(arg: int) -> None:
    # No closed attempt and no terminal: the history loses its RunStarted instead.
    lied = rewrite(arg, _stream(closed=False))
    assert not any(isinstance(env.event, RunStarted) for env in lied)
    assert _refusal(lied) == "missing_run_started"


def test_a_forged_run_started_comes_first_and_names_another_op() -> None:
    lied = rewrite(SHAPES.index(FORGED), _stream())
    assert [env.seq for env in lied] == list(range(1, len(lied) + 1))
    first, second = lied[0].event, lied[1].event
    assert isinstance(first, RunStarted) and isinstance(second, RunStarted)
    assert first.op_id == OTHER_OP and second.op_id == "op"
    # The history takes the first: resume then refuses it against the manifest's op.
    assert read_run_history(RUN, lied).started.op_id == OTHER_OP


def test_a_finished_run_is_not_forged() -> None:
    # A finished run's resume returns its result before looking at the op: no refusal to meet.
    done = [*_stream(), EventEnvelope(RUN, 7, RunCompleted(RunStatus.COMPLETED, B))]
    lied = rewrite(SHAPES.index(FORGED), done)
    assert not any(isinstance(env.event, RunStarted) for env in lied)
    assert _refusal(lied) == "missing_run_started"


@pytest.mark.parametrize("arg", range(len(SHAPES)), ids=lambda a: SHAPES[a])
def test_the_engine_refuses_each_shape_and_invariant_11_labels_it_the_stores(arg: int) -> None:
    crash, step = _resume_read_step(0)
    lie_fault = Fault(step, FaultKind.LIE_REWRITTEN_HISTORY, "events.read_range", arg)
    result = simulate(get_scenario("linear"), 0, schedule=[crash, lie_fault], keep_observation=True)
    obs = result.observation
    assert obs is not None
    lied = [i for i in obs.incarnations if i.bad_reads]
    assert len(lied) == 1 and lied[0].outcome is Outcome.ERROR
    want = EXPECTED.get(SHAPES[arg], ("run_started_op_id_mismatch", ""))[0]
    assert lied[0].error_code == want
    assert lied[0].error_code in LOG_LIE_REFUSALS[FaultKind.LIE_REWRITTEN_HISTORY]
    assert result.ok, [v.describe() for v in result.violations]


def test_an_engine_that_skips_the_op_check_is_flagged() -> None:
    # Resume that never compares RunStarted's op with the manifest's goes on with the forgery.
    crash, step = _resume_read_step(0)
    lie_fault = Fault(step, FaultKind.LIE_REWRITTEN_HISTORY, "events.read_range", 6)
    broken = simulate(
        get_scenario("linear"), 0, schedule=[crash, lie_fault], variant="run_started_op_unchecked"
    )
    assert "detected_not_silent" in {v.invariant for v in broken.violations}
