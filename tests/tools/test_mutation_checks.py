"""The observation oracles of `tools/mutation_checks.py` added in the second mutation round:
silent on real schedules, and each one fires on a result broken the way a mutant breaks it."""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import pytest
from mfm_engine.config import EventProfile
from mfm_engine.events import FACT_RECORDED, DomainEvent, EventEnvelope, StateEntered

from mfm_sim import get_scenario, simulate
from mfm_sim.run.scenario import all_scenarios
from tools.mutation_checks import (
    determinism_violations,
    extra_violations,
    fact_key_problems,
    sweep_violations,
)


def _run(name: str, seed: int) -> Any:
    return simulate(get_scenario(name), seed, keep_trace=False, keep_observation=True)


@pytest.mark.parametrize("name", sorted(s.name for s in all_scenarios()))
def test_sweep_violations_silent_on_the_engine(name: str) -> None:
    for seed in range(3):
        assert sweep_violations(_run(name, seed)) == [], (name, seed)


def _with_stream(result: Any, change: Any) -> Any:
    obs = result.observation
    runs = {rid: change(view) for rid, view in obs.runs.items()}
    return attrs.evolve(result, observation=attrs.evolve(obs, runs=runs))


def _facts_result() -> Any:
    for seed in range(50):
        result = _run("facts_time_random", seed)
        for view in result.observation.runs.values():
            if any(getattr(e.event, "name", None) == FACT_RECORDED for e in view.stream):
                return result
    raise AssertionError("no facts_time_random seed recorded a fact")


def test_fact_keys_flag_a_derived_key_of_another_attempt() -> None:
    result = _facts_result()
    assert extra_violations(result) == []

    def bump(view: Any) -> Any:
        stream = []
        for env in view.stream:
            ev = env.event
            if isinstance(ev, DomainEvent) and ev.name == FACT_RECORDED:
                key = ev.payload["key"].replace("|attempt:", "|attempt:9")
                ev = DomainEvent(ev.name, {**ev.payload, "key": key})
            stream.append(attrs.evolve(env, event=ev))
        return attrs.evolve(view, stream=tuple(stream))

    found = extra_violations(_with_stream(result, bump))
    assert any(v.startswith("fact_keys: ") and "derived key" in v for v in found), found


def test_fact_keys_flag_a_fact_outside_an_attempt() -> None:
    run_id = uuid.uuid4()
    fact = DomainEvent(FACT_RECORDED, {"key": "k", "payload_id": "p", "meta": {}})
    stream = [EventEnvelope(run_id, 1, fact, 0)]
    assert fact_key_problems(run_id, stream) == ["fact_keys: seq 1 records 'k' outside an attempt"]
    entered = EventEnvelope(run_id, 1, StateEntered("a.b.c", 0, "s"), 0)
    wrong_run = f"mfm:now_millis|run:{uuid.uuid4()}|state:a.b.c|attempt:0|ord:0"
    keyed = DomainEvent(FACT_RECORDED, {"key": wrong_run, "payload_id": "p", "meta": {}})
    assert fact_key_problems(run_id, [entered, EventEnvelope(run_id, 2, keyed, 0)])


def test_event_profile_flags_domain_events_kept_under_minimal() -> None:
    for seed in range(50):
        result = _run("linear", seed)
        views = result.observation.runs.values()
        if any(
            isinstance(e.event, DomainEvent) and e.event.name == "step_done"
            for view in views
            for e in view.stream
        ):
            break
    else:
        raise AssertionError("no linear seed logged step_done")
    assert extra_violations(result) == []

    def minimal(view: Any) -> Any:
        cfg = attrs.evolve(view.run_config, event_profile=EventProfile.MINIMAL)
        return attrs.evolve(view, run_config=cfg)

    found = extra_violations(_with_stream(result, minimal))
    assert any(v.startswith("event_profile: MINIMAL run") for v in found), found


def test_determinism_flags_a_different_digest() -> None:
    result = _run("facts_time_random", 0)
    assert determinism_violations(result) == []
    other = attrs.evolve(_run("facts_time_random", 1), seed=0)
    found = determinism_violations(other)
    assert found and found[0].startswith("determinism: facts_time_random seed 0"), found
