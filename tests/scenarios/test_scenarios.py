"""The built-in scenarios: clean on the correct engine, models where promised, deterministic."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.events import RunPhase, StateCompleted, StateEntered, StateFailed
from mfm_engine.plan import DependencyEdge, ExecutionPlan, StateGraph, StateNode, topological_order
from mfm_scenarios.steps import (
    CRASH,
    FATAL,
    RETRY,
    ScriptedStep,
    attempts_outcome,
    kahn_order,
    predict,
)

from mfm_sim import get_scenario, simulate
from mfm_sim.run.scenario import all_scenarios, default_mix
from mfm_sim.run.world import World

SEEDS = range(100)
ALL = [s.name for s in all_scenarios()]
DEFAULT = {
    "linear",
    "diamond_io",
    "random_dag",
    "retry_heavy",
    "child_runs",
    "skip_tags",
    "crash_loop",
    "generated",
}
REQUIRED = DEFAULT | {"facts_time_random", "replay_mode", "corruption"}
# Scenarios whose model predicts the final context too, not only the status.
SNAPSHOT_MODELS = REQUIRED - {"facts_time_random", "generated"}


def instance(name: str, seed: int) -> Any:
    """The scenario instance `simulate` builds for this seed (same stream, same draws)."""
    return get_scenario(name).build(World(seed, None).streams.stream("scenario"))


def test_catalogue() -> None:
    assert set(ALL) >= REQUIRED
    assert {s.name for s in default_mix()} == DEFAULT
    for scenario in all_scenarios():
        assert scenario.description and "\n" not in scenario.description


@pytest.mark.parametrize("name", ALL)
def test_no_violations_on_the_correct_engine(name: str) -> None:
    scenario = get_scenario(name)
    bad = []
    for seed in SEEDS:
        result = simulate(scenario, seed)
        bad.extend(v.describe() for v in result.violations)
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_model_present_where_promised(name: str) -> None:
    for seed in range(20):
        inst = instance(name, seed)
        assert inst.model is not None, f"{name} seed {seed} has no model"
        assert inst.model.phase in (RunPhase.COMPLETED, RunPhase.FAILED)
        if name in SNAPSHOT_MODELS:
            assert inst.model.final_snapshot is not None
        else:
            assert inst.model.final_snapshot is None
    if name == "facts_time_random":
        assert not instance(name, 0).transparent


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_digest(name: str) -> None:
    scenario = get_scenario(name)
    for seed in (3, 17):
        a, b = simulate(scenario, seed), simulate(scenario, seed)
        assert a.digest == b.digest
        assert a.violations == b.violations
        assert (a.final_phase, a.final_snapshot_id) == (b.final_phase, b.final_snapshot_id)


@pytest.mark.parametrize("name", ALL)
def test_nothing_leaks_between_simulations(name: str) -> None:
    """Seeds A, B, A in one process: A's digest must not depend on what ran before it."""
    scenario = get_scenario(name)
    first = simulate(scenario, 5).digest
    simulate(scenario, 6)
    assert simulate(scenario, 5).digest == first


def _plan_key(inst: Any) -> Any:
    def state_key(state: Any) -> Any:
        fields = sorted(
            (k, v)
            for k, v in vars(state).items()
            if k != "calls" and isinstance(v, (int, str, tuple, bool))
        )
        return type(state).__name__, tuple(fields)

    graph = inst.plan.graph
    return (
        tuple((n.id, state_key(n.state)) for n in graph.states),
        tuple((e.from_, e.to) for e in graph.edges),
        inst.run_config,
    )


@pytest.mark.parametrize("name", ALL)
def test_manifest_id_captures_the_plan(name: str) -> None:
    by_manifest: dict[Any, Any] = {}
    for seed in range(40):
        inst = instance(name, seed)
        manifest = inst.manifest().to_json()
        key = repr(sorted(manifest.items(), key=lambda kv: kv[0]))
        plan = _plan_key(inst)
        assert by_manifest.setdefault(key, plan) == plan, f"{name}: two plans share a manifest"


# ------------------------------------------------------------------------------ models


def test_predict_follows_scripts() -> None:
    assert attempts_outcome((), 1)
    assert attempts_outcome((RETRY, RETRY), 3)
    assert not attempts_outcome((RETRY, RETRY), 2)
    assert not attempts_outcome((RETRY, FATAL), 5)
    assert not attempts_outcome((CRASH,) * 4, 4)
    assert attempts_outcome((CRASH,) * 3, 4)


def test_fatal_stays_fatal() -> None:
    step = ScriptedStep("a.b.c", 1, (RETRY, FATAL))
    assert [step.next_action() for _ in range(4)] == [RETRY, FATAL, FATAL, FATAL]
    step = ScriptedStep("a.b.c", 1, (RETRY,))
    assert [step.next_action() for _ in range(3)] == [RETRY, "ok", "ok"]


def test_random_dag_model_is_kahn_order() -> None:
    shapes = set()
    for seed in range(40):
        inst = instance("random_dag", seed)
        order = [n.id for n in topological_order(inst.plan)]
        model = inst.model
        if model.phase is RunPhase.COMPLETED:
            assert model.final_snapshot["path"] == order
        shapes.add(len(inst.plan.graph.states))
        for edge in inst.plan.graph.edges:
            assert int(edge.from_.split(".")[1][1:]) < int(edge.to.split(".")[1][1:])
    assert min(shapes) >= 3 and max(shapes) <= 10 and len(shapes) > 3


def test_random_dag_paths_are_the_engine_order() -> None:
    checked = 0
    for seed in range(30):
        result = simulate(get_scenario("random_dag"), seed, keep_observation=True)
        obs = result.observation
        if result.final_phase is not RunPhase.COMPLETED or obs.store_lied:
            continue
        stream = obs.runs[obs.main_run_id].stream
        completed = [e.event.state_id for e in stream if isinstance(e.event, StateCompleted)]
        assert completed == instance("random_dag", seed).model.final_snapshot["path"]
        checked += 1
    assert checked > 10


def test_retry_heavy_model() -> None:
    phases = set()
    for seed in range(60):
        inst = instance("retry_heavy", seed)
        cfg = inst.run_config
        assert 2 <= cfg.retry_policy.max_attempts <= 6
        assert type(cfg.retry_policy.backoff).__name__ == "Exponential"
        steps = [n.state for n in inst.plan.graph.states]
        for step in steps:
            retries = sum(1 for a in step.script if a == RETRY)
            assert 1 <= retries <= 4 or step.script[-1] == FATAL
        completes = all(attempts_outcome(s.script, cfg.retry_policy.max_attempts) for s in steps)
        assert inst.model.phase is (RunPhase.COMPLETED if completes else RunPhase.FAILED)
        phases.add(inst.model.phase)
    assert phases == {RunPhase.COMPLETED, RunPhase.FAILED}


def test_crash_loop_model_and_outcome() -> None:
    both = set()
    for seed in range(40):
        inst = instance("crash_loop", seed)
        crashes = len(instance("crash_loop", seed).plan.graph.states[1].state.script)
        max_attempts = inst.run_config.retry_policy.max_attempts
        assert 0 <= crashes <= 6 and 1 <= max_attempts <= 4
        expected = RunPhase.FAILED if crashes >= max_attempts else RunPhase.COMPLETED
        assert inst.model.phase is expected
        result = simulate(get_scenario("crash_loop"), seed, faults=(), keep_observation=True)
        assert result.final_phase is expected and not result.violations
        stream = result.observation.runs[result.observation.main_run_id].stream
        orphans = [
            e
            for e in stream
            if isinstance(e.event, StateFailed) and e.event.error.code == "orphan_attempt_recovered"
        ]
        assert len(orphans) == min(crashes, max_attempts)
        both.add(expected)
    assert both == {RunPhase.COMPLETED, RunPhase.FAILED}


def test_skip_tags_skipped_handlers_never_run() -> None:
    seen_skip = 0
    for seed in range(40):
        inst = instance("skip_tags", seed)
        skip = set(inst.run_config.skip_tags)
        result = simulate(get_scenario("skip_tags"), seed, keep_observation=True)
        stream = result.observation.runs[result.observation.main_run_id].stream
        entered = {
            e.event.state_id: e.event.base_snapshot_id
            for e in stream
            if isinstance(e.event, StateEntered)
        }
        for node in inst.plan.graph.states:
            if skip & set(node.state.tags):
                seen_skip += 1
                assert node.id not in inst.model.final_snapshot.get("path", [])
                done = [
                    e.event
                    for e in stream
                    if isinstance(e.event, StateCompleted) and e.event.state_id == node.id
                ]
                if done:  # a skipped state completes with its base snapshot, untouched
                    assert done[0].context_snapshot_id == entered[node.id]
    assert seen_skip > 10


def test_replay_mode_fails_on_missing_facts() -> None:
    kinds = set()
    for seed in range(40):
        inst = instance("replay_mode", seed)
        assert inst.run_config.io_mode.value == "replay"
        result = simulate(get_scenario("replay_mode"), seed, schedule=[], keep_observation=True)
        assert not result.violations
        assert result.final_phase is inst.model.phase
        kinds.add(inst.model.phase)
        if inst.model.phase is RunPhase.FAILED:
            stream = result.observation.runs[result.observation.main_run_id].stream
            codes = {e.event.error.code for e in stream if isinstance(e.event, StateFailed)}
            assert codes <= {"missing_fact", "missing_fact_key"} and codes
    assert kinds == {RunPhase.COMPLETED, RunPhase.FAILED}


def test_child_runs_reach_the_parent_context() -> None:
    for seed in range(20):
        inst = instance("child_runs", seed)
        assert inst.child_runs and inst.resolver is not None
        result = simulate(get_scenario("child_runs"), seed, schedule=[], keep_observation=True)
        obs = result.observation
        assert not result.violations and result.final_phase is inst.model.phase
        if inst.model.phase is RunPhase.COMPLETED:
            children = inst.model.final_snapshot["children"]
            assert len(obs.runs) == 1 + len(children)  # the parent and each child
            assert sum(v.is_child for v in obs.runs.values()) == len(children)
            children = inst.model.final_snapshot["children"]
            for child in children.values():
                assert child["final"]["from_parent"]
                if child["status"] == "completed":
                    assert child["final"]["path"]


def test_corruption_profile_is_the_store_lying() -> None:
    kinds = {k.value for k in get_scenario("corruption").faults}
    assert kinds == {
        "corrupted_artifact",
        "dropped_write",
        "crash_before_effect",
        "crash_after_effect",
        "latency",
    }


def test_model_helper_uses_initial_context() -> None:
    inst = instance("random_dag", 1)
    model = predict(inst.plan, 10, initial=inst.initial_context)
    assert model.final_snapshot["seeded"] == inst.initial_context["seeded"]


@st.composite
def _dags(draw: st.DrawFn) -> ExecutionPlan:
    n = draw(st.integers(1, 8))
    rank = draw(st.permutations(range(n)))  # edges only go up in rank: acyclic
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20))
    ids = [f"op.s{i}.run" for i in range(n)]
    edges = [DependencyEdge(ids[a], ids[b]) for a, b in pairs if rank[a] < rank[b]]
    return ExecutionPlan("op", StateGraph([StateNode(i, None) for i in ids], edges))


@settings(max_examples=300, deadline=None)
@given(_dags())
def test_the_models_kahn_order_is_the_engines(plan: ExecutionPlan) -> None:
    # The model orders plans itself, from the rule; the two must agree on every valid plan,
    # duplicate edges included.
    assert [n.id for n in kahn_order(plan)] == [n.id for n in topological_order(plan)]


def test_the_models_kahn_order_refuses_a_cycle() -> None:
    a, b = "op.a.run", "op.b.run"
    plan = ExecutionPlan(
        "op",
        StateGraph(
            [StateNode(a, None), StateNode(b, None)], [DependencyEdge(a, b), DependencyEdge(b, a)]
        ),
    )
    with pytest.raises(ValueError, match="cycle"):
        kahn_order(plan)


def test_a_scripted_step_hands_out_one_meta() -> None:
    step = ScriptedStep("a.b.c", 1, tags=("slow",))
    assert step.meta() is step.meta() and step.meta().tags == ("slow",)
