"""Emits that cite an artifact (`mfm_scenarios.payload_refs`): drawn, run, kept and predicted."""

from __future__ import annotations

from mfm_engine.events import DomainEvent
from mfm_engine.hashing import artifact_id_for_json
from mfm_scenarios.generated import draw
from mfm_scenarios.payload_refs import FEATURE, add_payload_refs
from mfm_scenarios.program import EMIT, Op, Program

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.spec.canonical import json_artifact_id
from mfm_sim.world.rng import Rng, Streams


def test_snapshot_id_is_the_engine_s_artifact_id_of_the_context() -> None:
    context = {"seeded": 3, "base": {"w": "tea", "n": 7}, "z": [1, 2]}
    assert json_artifact_id(context) == artifact_id_for_json(context)


def test_about_half_the_ordinary_emits_cite_the_initial_snapshot() -> None:
    ops = tuple(Op(EMIT, f"e{i}", name=f"ev_{i}", value={"n": i}) for i in range(40))
    initial = {"seeded": 1, "base": 2}
    for seed in range(20):
        programs = [Program(ops, ())]
        on = add_payload_refs(Rng(seed, "t"), programs, initial)
        refs = [op.ref for op in programs[0].ops]
        if on:
            assert on == {FEATURE}
            assert set(refs) == {None, json_artifact_id(initial)}
            assert 8 <= sum(r is not None for r in refs) <= 32
        else:
            assert refs == [None] * 40


def test_the_sweep_draws_it_and_the_log_keeps_each_reference() -> None:
    seeds = [s for s in range(60) if FEATURE in draw(Streams(s).stream("scenario")).features]
    assert len(seeds) >= 10
    cited = 0
    for seed in seeds[:5]:
        result = simulate(get_scenario("generated"), seed, keep_observation=True)
        assert result.ok, result.violations
        assert result.observation is not None
        for view in result.observation.runs.values():
            for env in view.stream:
                if isinstance(env.event, DomainEvent) and env.event.payload_ref is not None:
                    cited += 1
    assert cited > 0
