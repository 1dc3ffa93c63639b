"""The generated workload's recorded logs, `gx.*` route and second await, and their predictions."""

from __future__ import annotations

from typing import Any

import attrs
from mfm_engine import ExecutionPlan, StateGraph, StateNode
from mfm_engine.config import FanOutJoin, IoMode, RunConfig
from mfm_engine.events import RunPhase
from mfm_scenarios.interpreter import ROUTE, ROUTED, interpret, response_of
from mfm_scenarios.program import CALL, CHILD, NOW, RANDOM, Op, Program, ProgramState
from mfm_scenarios.replays import REPLAY_FEATURES, Replays, draw_replays, route_services

from mfm_sim.run.seeded_history import RUN, SeededHistory
from mfm_sim.world.rng import Streams

STATE = "gen.s0.run"


def _plan(*ops: Op) -> ExecutionPlan:
    return ExecutionPlan("gen", StateGraph([StateNode(STATE, ProgramState(Program(ops)))], []))


def _key(kind: str, ordinal: int, attempt: int = 0) -> str:
    return f"mfm:{kind}|run:{RUN}|state:{STATE}|attempt:{attempt}|ord:{ordinal}"


def test_route_services_register_gx_only_with_the_route() -> None:
    assert route_services(None) == ("ledger", "kv")
    assert route_services(Replays(frozenset(), None, False)) == ("ledger", "kv")
    assert route_services(Replays(frozenset(), None, True)) == {
        "ledger": "ledger",
        "kv": "kv",
        ROUTE: "kv",
    }


def test_the_router_rule_sends_gx_calls_to_the_key_value_service() -> None:
    get = {"op": "get", "key": "a"}
    assert response_of(ROUTED, get) == response_of("kv", get)
    assert response_of("kv.sub", get) == response_of("kv", get)  # `g` matches `g.x`
    assert response_of("gx", get) is None  # `g.*` matches `g.x` only
    assert response_of("nosuch", get) is None


def test_draw_keeps_keys_as_engine_md_derives_them() -> None:
    programs = [Program((Op(NOW, "t"), Op(CALL, "c", name="kv", value={}), Op(RANDOM, "r", n=4)))]
    keys: set[str] = set()
    for seed in range(200):
        rng = Streams(seed).stream("scenario")
        cfg = RunConfig(io_mode=IoMode.LIVE if seed % 2 else IoMode.REPLAY)
        replays = draw_replays(rng, [STATE], list(programs), cfg, {})
        assert replays.features <= set(REPLAY_FEATURES)
        if replays.history is not None:
            keys |= {k for k in replays.history.fact_keys() if k.startswith("mfm:")}
    # `ord` counts both kinds in one attempt: the random draw after one time draw is ord 1.
    assert keys == {_key("now_millis", 0), _key("random_bytes", 1)}


def test_a_recorded_draw_is_answered_not_recorded_again_and_a_short_one_refused() -> None:
    plan = _plan(Op(NOW, "t"), Op(RANDOM, "r", n=2))
    now, rand = _key("now_millis", 0), _key("random_bytes", 1)
    for mode in (IoMode.LIVE, IoMode.REPLAY):
        good = SeededHistory(((now, {"now_millis": 3}), (rand, {"hex": "abcd"})))
        result = interpret(plan, RunConfig(io_mode=mode), {}, {}, good)
        first = result.prediction.attempts[STATE, 0]
        assert first.completed and first.derived_facts == ()  # bound before: not recorded
        assert result.prediction.derived_facts == tuple(sorted((now, rand)))
        short = SeededHistory(((now, {"now_millis": 3}), (rand, {"hex": "ab"})))
        refused = interpret(plan, RunConfig(io_mode=mode), {}, {}, short)
        assert refused.prediction.attempts[STATE, 0].error == ("fact_payload_invalid", False, None)
        assert refused.phase is RunPhase.FAILED
    # Without the record: live draws (recorded by the attempt), replay misses.
    live = interpret(plan, RunConfig(io_mode=IoMode.LIVE), {}, {})
    assert live.prediction.attempts[STATE, 0].derived_facts == (now, rand)
    replay = interpret(plan, RunConfig(io_mode=IoMode.REPLAY), {}, {})
    assert replay.prediction.attempts[STATE, 0].error[0] == "missing_fact"  # type: ignore[index]


def test_a_bound_key_answers_whatever_its_namespace() -> None:
    plan = _plan(Op(CALL, "c", name="nosuch", value={}, fact_key="k"))
    bound = SeededHistory((("k", {"seeded": "k"}),))
    for mode in (IoMode.LIVE, IoMode.REPLAY):
        result = interpret(plan, RunConfig(io_mode=mode), {}, {}, bound)
        assert result.phase is RunPhase.COMPLETED
        assert result.prediction.explicit_facts == ("k",)
    unbound = interpret(plan, RunConfig(io_mode=IoMode.LIVE), {}, {})
    assert unbound.prediction.attempts[STATE, 0].refusals == ("io_unknown_namespace",)


def _child(n: int) -> tuple[ExecutionPlan, Any]:
    spawn = {"kind": "child_run_spawn_v1", "op_id": "gc0"}
    plan = _plan(Op(CHILD, "c", fact_key="gc0", value=spawn, n=n))
    child = ExecutionPlan(
        "gc0", StateGraph([StateNode("gc0.s0.run", ProgramState(Program(())))], [])
    )
    return plan, {"gc0": (child, RunConfig(), {})}


def test_a_child_spawned_over_one_of_another_manifest_or_awaited_so_is_refused() -> None:
    plan, children = _child(0)
    assert interpret(plan, RunConfig(), {}, children).phase is RunPhase.COMPLETED
    brought = SeededHistory((), (("spawn:gc0", {"op_id": "gc0"}, {}),))
    spawned = interpret(plan, RunConfig(), {}, children, brought)
    assert spawned.prediction.attempts[STATE, 0].error == ("child_run_conflict", False, None)
    twice, children = _child(1)
    awaited = interpret(twice, RunConfig(), {}, children)
    assert awaited.prediction.attempts[STATE, 0].error == ("child_run_conflict", False, None)
    assert awaited.prediction.explicit_facts == ("await:gc0", "spawn:gc0")


def test_a_child_spawned_with_fan_out_is_refused_and_awaited_as_failed() -> None:
    plan, children = _child(0)
    child_plan, cfg, initial = children["gc0"]
    fan_out = {"gc0": (child_plan, attrs.evolve(cfg, execution_mode=FanOutJoin(2)), initial)}
    result = interpret(plan, RunConfig(), {}, fan_out)
    assert result.phase is RunPhase.COMPLETED  # the parent carries on with the report
    assert result.prediction.fact_fields["await:gc0"] == {
        "status": "failed",
        "final_snapshot": None,
        "final_snapshot_id": None,
    }
    assert ("gc0.s0.run", 0) not in result.prediction.attempts  # it never ran
