"""The resume of a recorded log with a malformed `fact_recorded`: drawn, refused by the engine
as ENGINE.md says (`fact_recorded_malformed`, nothing written), and an engine that trips on
such a record instead is caught."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from mfm_engine import live_io
from mfm_engine.events import FACT_RECORDED, DomainEvent
from mfm_scenarios.generated import SCENARIO
from mfm_scenarios.malformed_facts import MALFORMED_FACT, MALFORMED_PAYLOADS

from mfm_sim import simulate
from mfm_sim.selfcheck.variants import VARIANTS, Variant
from mfm_sim.world.rng import Streams
from tests.scenarios.mistake_seeds import seeds_with

BROKEN = "test_fact_record_not_an_object"


def _seeds(limit: int) -> list[int]:
    """Seeds of `generated` whose operator resumes the log with the malformed record."""
    return seeds_with(MALFORMED_FACT, limit, 200)


def test_every_malformed_payload_is_drawn() -> None:
    drawn = []
    for seed in range(300):
        for call in SCENARIO.build(Streams(seed).stream("scenario")).operator:
            if call.name == MALFORMED_FACT:
                (event,) = call.recorded_events
                assert isinstance(event, DomainEvent) and event.name == FACT_RECORDED
                drawn.append(event.payload)
    assert all(p in drawn for p in MALFORMED_PAYLOADS)


def test_the_engine_refuses_it_and_writes_nothing() -> None:
    for seed in _seeds(4):
        result = simulate(SCENARIO, seed, keep_observation=True)
        assert result.violations == ()
        assert result.observation is not None
        (call,) = [c for c in result.observation.operator_calls if c.name == MALFORMED_FACT]
        assert (call.error_kind, call.error_code) == ("storage", "fact_recorded_malformed")
        assert call.error_category == "storage" and not call.wrote


def _trips_on_non_objects() -> Any:
    """The mutant's bug: a record is malformed only if it is no object AND has no string key,
    so `.get` is called on a payload that is no object."""
    original = live_io.FactIndex.from_event_stream.__func__  # type: ignore[attr-defined]

    def patched(cls: Any, stream: Any) -> Any:
        for env in stream:
            event = env.event
            if isinstance(event, DomainEvent) and event.name == FACT_RECORDED:
                payload = event.payload
                if not isinstance(payload, dict) and not isinstance(payload.get("key"), str):
                    raise AssertionError("unreachable: .get raised first")
        return original(cls, stream)

    return mock.patch.object(live_io.FactIndex, "from_event_stream", classmethod(patched))


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(VARIANTS, BROKEN, Variant(BROKEN, "trips", _trips_on_non_objects))
    return BROKEN


def test_an_engine_that_trips_on_a_non_object_record_is_caught(broken: str) -> None:
    seeds = [
        s
        for s in _seeds(8)
        if not isinstance(
            next(
                c
                for c in SCENARIO.build(Streams(s).stream("scenario")).operator
                if c.name == MALFORMED_FACT
            )
            .recorded_events[0]
            .payload,
            dict,
        )
    ]
    assert seeds
    result = simulate(SCENARIO, seeds[0], variant=broken)
    assert any(
        "recorded_fact_malformed" in v.message and "AttributeError" in v.message
        for v in result.violations
    ), result.violations
