"""Invariant artifact_kinds: snapshots stored as CONTEXT_SNAPSHOT, fact payloads as
FACT_PAYLOAD, manifests as MANIFEST (ENGINE.md); a broken store record of any fires it, a
correct run does not."""

from __future__ import annotations

import attrs
from mfm_engine.events import DomainEvent, RunStarted

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.artifact_kinds import check_artifact_kinds
from mfm_sim.run.observation import Observation


def _observed(want_fact: bool) -> Observation:
    for seed in range(200):
        obs = simulate(get_scenario("generated"), seed, keep_observation=True).observation
        assert obs is not None
        facts = [
            env.event.payload["payload_id"]
            for view in obs.runs.values()
            for env in view.stream
            if isinstance(env.event, DomainEvent) and env.event.name == "fact_recorded"
        ]
        if obs.artifact_kinds and (facts or not want_fact):
            return obs
    raise AssertionError("no schedule with recorded kinds in 200 seeds")


def test_a_correct_run_stores_each_kind_as_engine_md_says() -> None:
    for want_fact in (False, True):
        assert check_artifact_kinds(_observed(want_fact)) == []


def test_a_snapshot_stored_without_its_kind_fires() -> None:
    obs = _observed(False)
    main = obs.runs[obs.main_run_id]  # type: ignore[index]
    started = next(e.event for e in main.stream if isinstance(e.event, RunStarted))
    for wrong in ("None", "other", "output"):
        kinds = {**obs.artifact_kinds, started.initial_snapshot_id: wrong}
        found = check_artifact_kinds(attrs.evolve(obs, artifact_kinds=kinds))
        assert any(f"stored as {wrong}" in v.message for v in found), wrong


def test_a_fact_payload_stored_without_its_kind_fires() -> None:
    obs = _observed(True)
    payload_id = next(
        env.event.payload["payload_id"]
        for view in obs.runs.values()
        for env in view.stream
        if isinstance(env.event, DomainEvent) and env.event.name == "fact_recorded"
    )
    kinds = {**obs.artifact_kinds, payload_id: "None"}
    found = check_artifact_kinds(attrs.evolve(obs, artifact_kinds=kinds))
    assert any("named as fact_payload" in v.message for v in found)


def test_a_child_manifest_stored_without_its_kind_fires() -> None:
    for seed in range(300):
        obs = simulate(get_scenario("child_runs"), seed, keep_observation=True).observation
        assert obs is not None
        children = [
            env.event.manifest_id
            for run_id, view in obs.runs.items()
            if run_id != obs.main_run_id
            for env in view.stream
            if isinstance(env.event, RunStarted)
        ]
        if children and obs.artifact_kinds.get(children[0]) == "manifest":
            break
    else:
        raise AssertionError("no child run with a recorded manifest kind in 300 seeds")
    assert check_artifact_kinds(obs) == []
    kinds = {**obs.artifact_kinds, children[0]: "None"}
    found = check_artifact_kinds(attrs.evolve(obs, artifact_kinds=kinds))
    assert any("named as manifest" in v.message for v in found)


def test_a_store_that_keeps_no_kinds_is_not_judged() -> None:
    obs = attrs.evolve(_observed(False), artifact_kinds={})
    assert check_artifact_kinds(obs) == []
