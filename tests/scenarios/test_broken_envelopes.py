"""The resume of a recorded log whose attempt envelopes are broken: every shape is drawn, the
engine refuses each with the seed's `invalid_attempt_envelopes` and chains the rule broken at
the last record, writing nothing; an engine that names another rule is caught."""

from __future__ import annotations

import uuid

import pytest
from mfm_engine.envelopes import EnvelopeError, analyze_kernel_events
from mfm_engine.events import EventEnvelope, RunStarted
from mfm_scenarios.broken_envelopes import BROKEN_ENVELOPES, SHAPES, shaped
from mfm_scenarios.generated import SCENARIO

from mfm_sim import simulate
from mfm_sim.world.rng import Streams
from tests.scenarios.mistake_seeds import seeds_with

RUN = uuid.UUID(int=5)


def _seeds(limit: int) -> list[int]:
    return seeds_with(BROKEN_ENVELOPES, limit)


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_breaks_its_own_rule_at_its_last_record(shape: str) -> None:
    records = (RunStarted("op", "e" * 64, "e" * 64), *shaped(shape, "op.s.run", "op"))
    stream = [EventEnvelope(RUN, n, e) for n, e in enumerate(records, 1)]  # type: ignore[arg-type]
    with pytest.raises(EnvelopeError) as err:
        analyze_kernel_events(stream)
    want = "run_event_inside_attempt" if shape.startswith("run_") else shape
    assert (err.value.kind.value, err.value.seq) == (want, len(stream))


def test_every_shape_is_drawn() -> None:
    drawn = set()
    for seed in range(300):
        for call in SCENARIO.build(Streams(seed).stream("scenario")).operator:
            if call.name == BROKEN_ENVELOPES:
                drawn.add(type(call.recorded_events[-1]).__name__)
    assert drawn == {"StateEntered", "StateCompleted", "StateFailed", "RunStarted", "RunCompleted"}


def test_the_engine_refuses_it_with_the_break_and_writes_nothing() -> None:
    for seed in _seeds(4):
        result = simulate(SCENARIO, seed, keep_observation=True)
        assert result.violations == ()
        assert result.observation is not None
        calls = result.observation.operator_calls
        (call,) = [c for c in calls if c.name == BROKEN_ENVELOPES]
        assert (call.error_kind, call.error_code) == ("invalid_plan", "invalid_attempt_envelopes")
        assert not call.wrote and call.appended == ()
        assert call.raised is not None and call.raised.cause_seq == len(call.read)


def test_an_engine_that_names_the_wrong_seq_is_caught() -> None:
    seeds = _seeds(40)
    caught = [
        s
        for s in seeds
        if simulate(SCENARIO, s, keep_trace=False, variant="envelope_break_seq_before").violations
    ]
    assert caught, "no seed caught an envelope break reported at the open attempt's seq"
