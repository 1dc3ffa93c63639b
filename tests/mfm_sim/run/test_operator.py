"""Operator mistakes: made beside the main run, they change neither its id nor its log."""

from __future__ import annotations

import attrs
from mfm_scenarios.generated import SCENARIO

from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.run.incarnations import Simulation
from mfm_sim.run.scenario import Scenario, ScenarioRun
from mfm_sim.run.world import World
from mfm_sim.world.rng import Streams


def _instance(seed: int) -> ScenarioRun:
    return SCENARIO.build(World(seed, None).streams.stream("scenario"))


def _run(seed: int, keep_operator: bool) -> Simulation:
    instance = _instance(seed)
    if not keep_operator:
        instance = attrs.evolve(instance, operator=())
    config = FaultConfig.draw(Streams(seed), (), swarm=True)
    world = World(seed, config)
    sim = Simulation(SCENARIO, instance, world, recoverable=True, interleave=False)
    sim.run()
    return sim


def test_mistakes_leave_the_main_run_as_it_was() -> None:
    seed = next(s for s in range(100) if _instance(s).operator)
    with_calls, without = _run(seed, True), _run(seed, False)
    assert with_calls.operator_calls and not without.operator_calls
    assert with_calls.run_id == without.run_id
    assert with_calls.run_id is not None
    streams = with_calls.durable.events.streams  # type: ignore[attr-defined]
    # No other run was started (child runs of the main run are the same either way).
    assert list(streams) == list(without.durable.events.streams)  # type: ignore[attr-defined]
    assert streams[with_calls.run_id] == without.durable.events.streams[without.run_id]  # type: ignore[attr-defined]
    assert all(not c.wrote and c.error_kind for c in with_calls.operator_calls)


def test_a_scenario_without_mistakes_makes_none() -> None:
    assert isinstance(SCENARIO, Scenario)
    sim = _run(0, False)
    assert sim.operator_calls == [] and sim.observation().operator_calls == ()


def test_a_recorded_runs_resume_is_refused_and_its_log_taken_away() -> None:
    """The operator writes a log for another run (its manifest not canonical), resumes it,
    is refused before any write, and takes the log away: the stores end as without it."""
    seed = next(
        s for s in range(100) if any(c.recorded_manifest is not None for c in _instance(s).operator)
    )
    with_calls, without = _run(seed, True), _run(seed, False)
    recorded = [c for c in with_calls.operator_calls if c.name == "recorded_manifest_not_canonical"]
    assert [(c.error_kind, c.error_code, c.wrote) for c in recorded] == [
        ("storage", "artifact_not_canonical", False)
    ]
    assert list(with_calls.durable.events.streams) == list(without.durable.events.streams)  # type: ignore[attr-defined]
