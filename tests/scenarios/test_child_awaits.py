"""mfm_scenarios.child_awaits: the draw, the prediction, and the child_runs seeds that use it."""

from __future__ import annotations

from mfm_engine.config import RunConfig
from mfm_scenarios.child_awaits import AWAIT_VARIANTS, Awaits, draw_awaits, predict

from mfm_sim import get_scenario, simulate
from mfm_sim.run.world import World
from mfm_sim.world.rng import Rng

SPAWN = {
    "kind": "child_run_spawn_v1",
    "op_id": "child_a",
    "op_version": "1",
    "op_config": {"child": "child_a"},
    "input": {"n": 1},
    "run_config": RunConfig().to_json(),
    "initial_context": {"from_parent": "child_a"},
}
RESULT = {"status": "completed", "final": {"sum": 1}}
ALL = Awaits(frozenset(AWAIT_VARIANTS))


def test_half_the_draws_change_nothing_and_no_crash_joins_a_child_crash() -> None:
    draws = [draw_awaits(Rng(seed, "awaits"), child_crash=seed % 2 == 0) for seed in range(400)]
    none = sum(d == Awaits() for d in draws)
    assert 150 < none < 250
    assert not any(d.crash_between for seed, d in enumerate(draws) if seed % 2 == 0)
    assert any(d.crash_between for d in draws)
    assert {d.op_version for d in draws} == {"1", "2", None}


def test_the_draw_is_the_seeds() -> None:
    first = [draw_awaits(Rng(s, "awaits"), child_crash=False) for s in range(50)]
    assert first == [draw_awaits(Rng(s, "awaits"), child_crash=False) for s in range(50)]


def test_a_request_without_op_version_names_version_1() -> None:
    """ENGINE.md: a spawn request without `op_version` gets "1"; another version another
    manifest."""
    with_one = predict(ALL, SPAWN, RESULT)["ack"]
    without = {k: v for k, v in SPAWN.items() if k != "op_version"}
    assert predict(ALL, without, RESULT)["ack"] == with_one
    assert predict(ALL, {**SPAWN, "op_version": "2"}, RESULT)["ack"] != with_one
    other_initial = predict(ALL, {**SPAWN, "initial_context": {}}, RESULT)["ack"]
    assert other_initial["child_manifest_id"] == with_one["child_manifest_id"]
    assert other_initial["child_initial_snapshot_id"] != with_one["child_initial_snapshot_id"]


def test_each_variant_predicts_its_answer() -> None:
    assert predict(Awaits(), SPAWN, RESULT) == {}
    got = predict(ALL, SPAWN, RESULT)
    assert got["again"] == RESULT
    assert got["other_spawn"] == "child_run_conflict"
    assert got["wrong_kind"] == "child_run_request_invalid"


def test_child_runs_seeds_draw_every_variant_and_pass() -> None:
    scenario = get_scenario("child_runs")
    seen: set[str] = set()
    crashed = False
    for seed in range(30):
        params = scenario.build(World(seed, None).streams.stream("scenario")).input_params
        if "awaits" not in params:
            continue
        seen |= set(params["awaits"])
        crashed |= params["crash_between"]
        assert not simulate(scenario, seed, schedule=[]).violations
    assert seen == set(AWAIT_VARIANTS) and crashed
