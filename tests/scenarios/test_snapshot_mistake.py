"""The generated workload's recorded run whose initial snapshot is no JSON object."""

from __future__ import annotations

from mfm_engine.events import StateEntered
from mfm_scenarios.generated import SCENARIO
from mfm_scenarios.snapshot_mistake import NOT_OBJECT, SNAPSHOT_RUN, draw_snapshot_mistake

from mfm_sim.invariants.spec.canonical import json_artifact_id
from mfm_sim.run.simulate import simulate
from mfm_sim.world.rng import Streams


def _drawn(seed: int) -> tuple:  # type: ignore[type-arg]
    plan = SCENARIO.build(Streams(seed).stream("scenario")).plan
    return draw_snapshot_mistake(Streams(seed).stream("snapshot-test"), plan)


def test_the_mistake_predicts_a_context_refusal_after_one_state_entered() -> None:
    drawn = [d for d in (_drawn(seed) for seed in range(40)) if d[0]]
    assert 0 < len(drawn) < 40  # drawn with its odds, not always
    for calls, expected, writes in drawn:
        (call,) = calls
        assert call.run_id == SNAPSHOT_RUN and not isinstance(call.log_snapshot, dict)
        assert expected == {NOT_OBJECT: ("context", None)}
        (entered,) = writes[NOT_OBJECT]
        assert entered == StateEntered("gen.snapshot.load", 0, json_artifact_id(call.log_snapshot))


def test_the_planted_run_is_taken_away_and_judged_clean() -> None:
    obs = simulate(SCENARIO, 0, keep_trace=False, keep_observation=True).observation
    assert obs is not None
    assert SNAPSHOT_RUN not in obs.runs
    assert any(c.name == NOT_OBJECT and c.error_kind == "context" for c in obs.operator_calls)
