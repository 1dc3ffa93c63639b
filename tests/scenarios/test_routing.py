"""How the generated workload installs its transports (the engine's router, a one-letter
route, none at all): drawn, predicted, run as predicted, and a broken engine caught."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from mfm_engine.config import RunConfig
from mfm_engine.live_io import IoCall
from mfm_scenarios.generated import SCENARIO, draw
from mfm_scenarios.interpreter import ROUTES, interpret
from mfm_scenarios.program import CALL, Op
from mfm_scenarios.routing import (
    ROUTING_FEATURES,
    SHORT,
    Routing,
    ServiceRoute,
    routed_transports,
)

from mfm_sim import simulate
from mfm_sim.testing.services import KeyValueService
from mfm_sim.world.rng import Streams
from tests.mfm_sim.testing.test_routed import _env, _World
from tests.scenarios.test_replays import _plan

SEEDS = range(300)


def _draw(seed: int) -> Any:
    return draw(Streams(seed).stream("scenario"))


def _seeds(feature: str, limit: int) -> list[int]:
    return [s for s in SEEDS if feature in _draw(s).routing.features][:limit]


def test_every_routing_feature_is_drawn() -> None:
    seen: Counter[str] = Counter()
    for seed in SEEDS:
        d = _draw(seed)
        seen.update(d.routing.features)
        if "no_transport" in d.routing.features:
            # Nothing the child-run wrapper takes, and only the feature's own calls.
            assert not d.children
            calls = [op for n in d.plan.graph.states for op in n.state.program.ops]
            assert all(op.key.startswith("unimpl_") for op in calls if op.kind == CALL)
    assert all(seen[f] >= 10 for f in ROUTING_FEATURES), seen


def _short(value: Any) -> tuple[Op, Op]:
    put = Op(CALL, "", name=SHORT, value={"op": "put", "key": "g_k", "value": value})
    get = {"op": "get", "key": "g_k", "expect": value}
    return put, Op(CALL, "got", name=f"{SHORT}.x", value=get, fact_key="g_k")


def test_a_one_letter_route_answers_itself_and_its_dotted_names() -> None:
    plan = _plan(*_short(7))
    routed = interpret(
        plan, RunConfig(), {}, {}, None, Routing(frozenset({"short_route"})).routes()
    )
    assert routed.prediction.attempts["gen.s0.run", 0].completed
    assert routed.prediction.fact_fields["g_k"] == {"found": True, "value": 7}
    # Without the route no prefix matches `g`: the router's refusal.
    unrouted = interpret(plan, RunConfig(), {}, {}, None, ROUTES)
    assert unrouted.prediction.attempts["gen.s0.run", 0].error == (
        "io_unknown_namespace",
        False,
        None,
    )


def test_no_transport_is_predicted_io_unimplemented() -> None:
    inspected = Op(CALL, "seen", name="kv", value={"op": "get"}, catch=True, inspect=True)
    uncaught = Op(CALL, "lost", name="ledger", value={"op": "get"}, fact_key="f")
    result = interpret(_plan(inspected, uncaught), RunConfig(), {}, {}, None, None)
    first = result.prediction.attempts["gen.s0.run", 0]
    assert first.error == ("io_unimplemented", False, None)
    assert first.refusals == ("io_unimplemented", "io_unimplemented")
    alone = interpret(_plan(inspected), RunConfig(), {}, {}, None, None).prediction
    assert alone.final_context == {
        "seen": {"refused": "io_unimplemented", "kind": "OTHER", "typed": True, "retryable": False}
    }


@pytest.mark.parametrize("feature", ROUTING_FEATURES)
def test_the_engine_runs_each_feature_as_predicted(feature: str) -> None:
    seeds = _seeds(feature, 6)
    assert seeds, feature
    for seed in seeds:
        result = simulate(SCENARIO, seed, faults=(), keep_trace=False, keep_observation=True)
        assert result.violations == (), (seed, result.violations)
        assert result.observation.final_phase is result.observation.model.phase, seed


@pytest.mark.parametrize(
    ("variant", "feature"),
    [
        ("router_drops_env", "engine_router"),
        ("short_prefix_unrouted", "short_route"),
        ("unimplemented_own_code", "no_transport"),
    ],
)
def test_a_broken_engine_is_caught_by_the_feature(variant: str, feature: str) -> None:
    caught = [s for s in _seeds(feature, 30) if simulate(SCENARIO, s, variant=variant).violations]
    assert caught, (variant, feature)


def test_the_transports_follow_the_features() -> None:
    assert routed_transports(("kv",), Routing(frozenset({"no_transport"}))) is None
    assert routed_transports(None, Routing(frozenset({"engine_router"}))) is None
    assert routed_transports(("kv",), None) is not None


def test_a_service_route_is_made_for_an_attempt_and_binds_it() -> None:
    service = KeyValueService(_World())
    route = ServiceRoute("kv", service)
    with pytest.raises(TypeError, match="LiveIoEnv"):
        route.make(None)  # type: ignore[arg-type]
    put = IoCall("kv", {"op": "put", "key": "a", "value": 1})
    asyncio.run(route.make(_env()).call(put))
    assert [(r.state_id, r.attempt) for r in service.records] == [("gen.s0.run", 0)]
