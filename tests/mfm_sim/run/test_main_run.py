"""The main run is the run the runner started, by its id: from start's result, or, when the
result was never seen, from the first durable `RunStarted` citing the operator's manifest;
never from the engine's id draws."""

from __future__ import annotations

import uuid

import mfm_engine.runtime.child_runs as engine_child_runs
import pytest
from mfm_engine.events import RunStarted

from mfm_sim import simulate
from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.run.observation import Observation, Outcome
from mfm_sim.run.scenario import get_scenario
from mfm_sim.world.scope import current_world

K = FaultKind


def _cites_operator_manifest(obs: Observation, run_id: uuid.UUID) -> bool:
    first = obs.runs[run_id].stream[0].event
    return isinstance(first, RunStarted) and first.manifest_id in obs.operator_manifests


def test_child_ids_drawn_from_the_shared_id_source_do_not_move_the_main_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An engine that takes child ids from the shared id source (after the main run's): the
    last issued id with a stream is then a child's, which the runner once took for the main
    run. One id per (parent, spawn key), as derivation gives, so the engine is otherwise right."""
    drawn: dict[tuple[uuid.UUID, str], uuid.UUID] = {}

    def shared_source_child_id(parent: uuid.UUID, fact_key: str) -> uuid.UUID:
        key = (parent, fact_key)
        if key not in drawn:
            world = current_world()
            assert world is not None
            drawn[key] = world.ids.new_run_id()
        return drawn[key]

    monkeypatch.setattr(engine_child_runs, "child_run_id", shared_source_child_id)
    shown = 0
    for seed in range(8):
        drawn.clear()
        result = simulate(get_scenario("child_runs"), seed, keep_observation=True)
        obs = result.observation
        assert obs is not None and obs.main_run_id is not None
        children = set(drawn.values())
        assert obs.main_run_id not in children
        assert _cites_operator_manifest(obs, obs.main_run_id)
        assert {r for r, v in obs.runs.items() if v.is_child} == children & set(obs.runs)
        # Child ids from the shared source break ENGINE.md's derivation (uuid5 of parent and
        # spawn key), which child_runs_once names; nothing judges the wrong run as the main one.
        others = [v.describe() for v in result.violations if v.invariant != "child_runs_once"]
        assert not others, (seed, others)
        # A child with a stream was issued after the main run: "the last issued id with a
        # stream" would have named it.
        shown += bool(children & set(obs.runs))
    assert shown >= 4, shown


def test_main_run_found_by_its_manifest_when_start_crashed_before_its_result() -> None:
    scenario = get_scenario("linear")
    plain = simulate(scenario, 0, faults=(), record_sites=True)
    assert plain.sites is not None
    step = plain.sites.index("events.append") + 1  # the append of `RunStarted`
    crash = Fault(step, K.CRASH_AFTER_EFFECT, "events.append")
    result = simulate(scenario, 0, schedule=[crash], keep_observation=True)
    obs = result.observation
    assert obs is not None and obs.main_run_id is not None
    first = obs.incarnations[0]
    assert first.call == "start" and first.outcome is Outcome.CRASH
    assert obs.incarnations[1].call == "resume"  # resumed the run it found, not a new start
    assert list(obs.runs) == [obs.main_run_id]
    assert _cites_operator_manifest(obs, obs.main_run_id)
    assert result.ok, [v.describe() for v in result.violations]
