"""Child runs whose engine stops after its first handler (`mfm_scenarios.stopped_children`)."""

from __future__ import annotations

import json

from mfm_engine.events import FACT_RECORDED, DomainEvent, RunPhase, RunStarted, StateEntered
from mfm_scenarios.stopped_children import build

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.spec.canonical import json_artifact_id
from mfm_sim.world.rng import Rng

SCENARIO = get_scenario("stopped_children")


def test_the_model_reports_every_child_failed_with_its_initial_snapshot() -> None:
    for seed in range(20):
        run = build(Rng(seed, "t"))
        assert run.child_runs and run.stopped_children
        assert run.model is not None and run.model.prediction is not None
        assert run.model.phase is RunPhase.COMPLETED  # the parent itself finishes
        awaits = {
            k: v for k, v in run.model.prediction.fact_fields.items() if k.startswith("await:")
        }
        assert awaits
        for key, fields in awaits.items():
            initial = {"from_parent": int(key.removeprefix("await:kid"))}
            assert fields == {
                "status": "failed",
                "final_snapshot": initial,
                "final_snapshot_id": json_artifact_id(initial),
            }


def test_each_child_stops_after_its_first_handler_and_is_reported_failed() -> None:
    result = simulate(SCENARIO, 0, faults=(), keep_observation=True)
    assert result.ok, result.violations
    obs = result.observation
    assert obs is not None and obs.main_run_id is not None
    children = [rid for rid in obs.runs if rid != obs.main_run_id]
    assert children
    for rid in children:
        kernel = [e.event for e in obs.runs[rid].stream if not isinstance(e.event, DomainEvent)]
        # Started, one attempt entered, then nothing: the failpoint wrote nothing terminal.
        assert [type(e) for e in kernel] == [RunStarted, StateEntered]
    main = obs.runs[obs.main_run_id].stream
    recorded = [
        e.event.payload
        for e in main
        if isinstance(e.event, DomainEvent)
        and e.event.name == FACT_RECORDED
        and e.event.payload["key"].startswith("await:")
    ]
    assert len(recorded) == len(children)
    for fact in recorded:
        answer = json.loads(obs.artifacts[fact["payload_id"]])
        assert answer["status"] == "failed"
        assert answer["final_snapshot_id"] == json_artifact_id(answer["final_snapshot"])
