"""Values at the edges of canonical JSON (`mfm_scenarios.edge_values`): drawn, run, predicted."""

from __future__ import annotations

import json

from mfm_engine.events import StateCompleted, StateEntered
from mfm_scenarios.edge_values import (
    BIG_ODDS,
    CONTAINS_ITSELF,
    INVALID_ID,
    INVALID_ID_SHAPES,
    NOT_JSON,
    NOT_JSON_BYTES,
    CyclicContext,
    build,
    invalid_id_records,
)
from mfm_scenarios.program import BIG_MEMBERS, WRITE, Op, Shared, write_value

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.spec.canonical import artifact_id
from mfm_sim.world.rng import Rng, Streams

SCENARIO = get_scenario("edge_values")


def test_shared_builds_one_member_many_times_and_the_plan_holds_only_the_marker() -> None:
    op = Op(WRITE, "big", value=Shared(5))
    value = write_value(op)
    assert value == [[], [], [], [], []]
    assert all(member is value[0] for member in value)  # one list, five references
    assert write_value(op) is not value  # built afresh for each attempt
    assert write_value(Op(WRITE, "k", value={"a": 1})) == {"a": 1}


def test_cyclic_contexts_contain_themselves() -> None:
    through = CyclicContext(True)()
    assert through["loop"][0] is through["loop"]
    direct = CyclicContext(False)()
    assert direct["self"] is direct
    assert CyclicContext(True) == CyclicContext(True)  # compared as a marker, never as a value


def test_each_invalid_id_shape_names_its_code() -> None:
    codes = {shape: invalid_id_records(shape, "edge.big.write")[1] for shape in INVALID_ID_SHAPES}
    assert codes == {
        "entered_base": "invalid_artifact_id",
        "entered_state": "invalid_state_id",
        "completed_snapshot": "invalid_artifact_id",
        "domain_ref": "invalid_artifact_id",
    }


def test_every_seed_brings_the_three_mistakes_and_a_quarter_the_big_value() -> None:
    big = 0
    for seed in range(80):
        run = build(Rng(seed, "t"))
        assert [c.name for c in run.operator] == [CONTAINS_ITSELF, NOT_JSON, INVALID_ID]
        assert run.model is not None and run.model.prediction is not None
        expected = run.model.prediction.operator
        assert expected[CONTAINS_ITSELF] == ("context", None)
        assert expected[NOT_JSON] in {("storage", code) for _, code in NOT_JSON_BYTES}
        assert expected[INVALID_ID][0] == "invalid_plan"
        (entered,) = run.model.prediction.operator_writes[NOT_JSON]
        planted = run.operator[1].log_snapshot
        assert isinstance(planted, bytes)
        assert entered == StateEntered("gen.snapshot.load", 0, artifact_id(planted))
        # The recorded log binds the call's key to a bare integer: two digits or more, or < 0.
        ((key, count),) = run.history.facts  # type: ignore[union-attr]
        assert key == "count" and type(count) is int and (count >= 10 or count < 0)
        write = run.plan.graph.states[0].state.program.ops[1]
        big += write.value == Shared(BIG_MEMBERS)
    assert abs(big / 80 - BIG_ODDS) < 0.15


def _big_seed() -> int:
    return next(
        s
        for s in range(40)
        if SCENARIO.build(Streams(s).stream("scenario"))
        .plan.graph.states[0]
        .state.program.ops[1]
        .value.n
        == BIG_MEMBERS
    )


def test_the_correct_engine_stores_the_shared_value_and_refuses_each_mistake() -> None:
    seed = _big_seed()
    result = simulate(SCENARIO, seed, faults=(), keep_observation=True)
    assert result.ok, result.violations
    obs = result.observation
    assert obs is not None and obs.main_run_id is not None
    stream = obs.runs[obs.main_run_id].stream
    (done,) = [
        e.event
        for e in stream
        if isinstance(e.event, StateCompleted) and e.event.state_id == "edge.big.write"
    ]
    snapshot = json.loads(obs.artifacts[done.context_snapshot_id])
    assert snapshot["big"] == [[]] * BIG_MEMBERS  # JSON repeats the shared member
    final = json.loads(obs.artifacts[obs.final_snapshot_id])  # type: ignore[index]
    assert "big" not in final and final["copy"] == final["count"]
    assert type(final["count"]) is int and (final["count"] >= 10 or final["count"] < 0)
    refused = {o.name: (o.error_kind, o.error_code, o.wrote) for o in obs.operator_calls}
    assert refused[CONTAINS_ITSELF][0] == "context" and not refused[CONTAINS_ITSELF][2]
    assert refused[NOT_JSON][0] == "storage"
    assert refused[NOT_JSON][1] in {"artifact_json_decode_failed", "artifact_not_canonical"}
    kind, code, wrote = refused[INVALID_ID]
    assert kind == "invalid_plan" and code in {"invalid_artifact_id", "invalid_state_id"}
    assert not wrote
