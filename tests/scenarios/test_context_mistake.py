"""A start whose initial context canonical JSON cannot hold (`mfm_scenarios.context_mistake`)."""

from __future__ import annotations

from mfm_scenarios.context_mistake import NOT_CANONICAL, draw_context_mistake

from mfm_sim import get_scenario, simulate
from mfm_sim.world.rng import Rng


def test_drawn_with_its_odds_as_a_start_refused_as_a_context_error() -> None:
    made = [draw_context_mistake(Rng(seed, "t")) for seed in range(200)]
    calls = [c for drawn, _ in made for c in drawn]
    assert 30 < len(calls) < 90
    for drawn, expected in made:
        for call in drawn:
            assert call.name == NOT_CANONICAL and call.call == "start"
            assert call.context in ("value", "json_context")
            assert isinstance(call.context_value, dict)
            assert expected == {NOT_CANONICAL: ("context", None)}
    values = {repr(c.context_value) for c in calls}
    assert len(values) == 4  # a float, a nested float, bytes, an integer key


def _seed_with_it() -> int:
    for seed in range(200):
        result = simulate(get_scenario("generated"), seed, keep_trace=False, keep_observation=True)
        assert result.observation is not None
        if any(o.name == NOT_CANONICAL for o in result.observation.operator_calls):
            assert result.ok, result.violations
            return seed
    raise AssertionError("no seed makes the mistake")


def test_the_correct_engine_refuses_it_and_writes_nothing() -> None:
    seed = _seed_with_it()
    result = simulate(get_scenario("generated"), seed, keep_trace=False, keep_observation=True)
    assert result.observation is not None
    (outcome,) = [o for o in result.observation.operator_calls if o.name == NOT_CANONICAL]
    assert result.ok, result.violations
    assert (outcome.call, outcome.error_kind, outcome.wrote, outcome.appended) == (
        "start",
        "context",
        False,
        (),
    )
