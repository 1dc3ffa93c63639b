"""The generated-workload scenario: its draw, its reference interpreter, and invariant 13 on it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import pytest
from mfm_engine.config import EventProfile, IoMode
from mfm_scenarios.generated import EXTRA_FEATURES, FEATURES, RARE_ODDS, SCENARIO, draw
from mfm_scenarios.interpreter import REDACTED, ROUTED, ROUTES, has_secret, interpret
from mfm_scenarios.long_backoff import BACKOFF_FAILURE
from mfm_scenarios.operator import MISTAKES
from mfm_scenarios.program import BIG_EVENT, CATCHABLE, CHILD, CYCLIC_EVENT, EMIT, FAIL, KINDS
from mfm_scenarios.replays import REPLAY_FEATURES

from mfm_sim.faults.journal import CYCLE
from mfm_sim.invariants.model_agreement import check_model_agreement
from mfm_sim.invariants.model_prediction import attempts_shifted
from mfm_sim.invariants.operator_calls import expected_refusal
from mfm_sim.run.observation import AttemptPrediction, Observation, Prediction
from mfm_sim.run.simulate import simulate
from mfm_sim.world.rng import Streams
from tests.mfm_sim.selfcheck.test_variants import EXPECTED_CATCH


def _draw(seed: int) -> Any:
    return draw(Streams(seed).stream("scenario"))


def _shape(seed: int) -> Any:
    d = _draw(seed)
    states = [(n.id, n.state.program) for n in d.plan.graph.states]
    edges = [(e.from_, e.to) for e in d.plan.graph.edges]
    children = {
        name: ([(n.id, n.state.program) for n in p.graph.states], c, i)
        for name, (p, c, i) in d.children.items()
    }
    return d.features, states, edges, d.run_config, d.initial, children


def test_draw_is_deterministic_per_seed() -> None:
    for seed in (0, 7, 123, 2**63):
        assert _shape(seed) == _shape(seed)
    assert _shape(1) != _shape(2)


def _interpret(d: Any, history: Any = None) -> Any:
    """The interpreter's prediction of a drawn workload, over the routes it registers."""
    routes = d.routing.routes() if d.routing is not None else ROUTES
    return interpret(d.plan, d.run_config, d.initial, d.children, history, routes)


def test_draw_covers_every_feature_and_refusal() -> None:
    features: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for seed in range(300):
        d = _draw(seed)
        features.update(d.features)
        result = _interpret(d)
        plans = [d.plan, *(p for p, _, _ in d.children.values())]
        for plan in plans:
            for node in plan.graph.states:
                for op in node.state.program.ops:
                    kinds[op.kind] += 1
                    if op.kind == EMIT and has_secret(op.value):
                        seen["secret_event"] += 1
                    if op.catch:
                        seen["catch"] += 1
                    if op.attempts is not None and 0 not in op.attempts:
                        seen["later_attempt_only"] += 1
                    if op.kind == FAIL and op.retryable:
                        seen["fail_retryable"] += 1
                    if op.kind == FAIL and not op.retryable:
                        seen["fail_fatal"] += 1
        if d.run_config.io_mode is IoMode.REPLAY:
            seen["replay"] += 1
        if d.run_config.skip_tags:
            seen["skip_tags"] += 1
        seen[f"profile:{d.run_config.event_profile.value}"] += 1
        seen[f"phase:{result.phase.value}"] += 1
        for p in result.prediction.attempts.values():
            seen.update(f"refused:{code}" for code in p.refusals)
            if p.skipped:
                seen["skipped"] += 1
            if p.error is not None and p.error[2] == REDACTED:
                seen["redacted"] += 1
            if p.events:
                seen["events_kept"] += 1
            if p.derived_facts:
                seen["derived_facts"] += 1
        if result.prediction.explicit_facts:
            seen["explicit_facts"] += 1
    rare = {f for f, _ in RARE_ODDS} | {"preset_state_id", "secret_edges"}
    assert features["inspect_errors"] > 50  # `mfm_scenarios.inspect_errors`, its own fork
    rare.add("inspect_errors")
    rare |= {"grandchild", "short_route", "no_transport", "long_backoff"}  # own forks, last
    rare.add("unhashable_spawns")  # `mfm_scenarios.unhashable_spawns`, its own fork
    assert features["inspect_kinds"] > 50  # `mfm_scenarios.inspect_kinds`, its own fork
    rare.add("inspect_kinds")
    assert features["storage_retry"] > 20  # `mfm_scenarios.storage_retry`, live runs only
    rare.add("storage_retry")
    assert features["payload_ref"] > 50  # `mfm_scenarios.payload_refs`, its own fork
    rare.add("payload_ref")
    assert features["json_values"] > 100  # `mfm_scenarios.json_values`, its own fork
    rare.add("json_values")
    assert set(features) - rare == {*FEATURES, *EXTRA_FEATURES}, set(FEATURES) - set(features)
    assert set(kinds) == set(KINDS), set(KINDS) - set(kinds)
    want = {
        "secret_event",
        "catch",
        "later_attempt_only",
        "fail_retryable",
        "fail_fatal",
        "replay",
        "skip_tags",
        "skipped",
        "redacted",
        "events_kept",
        "derived_facts",
        "explicit_facts",
        "phase:completed",
        "phase:failed",
        *(f"refused:{code}" for code in CATCHABLE),
        *(f"profile:{p.value}" for p in (EventProfile.MINIMAL, EventProfile.NORMAL)),
    }
    assert want <= set(seen), want - set(seen)
    assert kinds[CHILD] >= 10


def _clean(seed: int, **kw: Any) -> Any:
    return simulate(SCENARIO, seed, faults=(), keep_trace=False, keep_observation=True, **kw)


def test_interpreter_agrees_with_the_engine_on_fault_free_runs() -> None:
    judged = 0
    for seed in range(500):
        result = _clean(seed)
        assert result.violations == (), (seed, result.violations)
        obs = result.observation
        assert obs.model is not None and obs.model.prediction is not None
        assert obs.faults == ()
        assert obs.final_phase is obs.model.phase, seed
        judged += 1
    assert judged == 500


def _obs_with(seed: int) -> Observation:
    obs = _clean(seed).observation
    assert obs is not None and obs.model is not None
    return obs


def _tamper(obs: Observation, **changes: Any) -> Observation:
    model = obs.model
    assert model is not None and model.prediction is not None
    return attrs.evolve(
        obs, model=attrs.evolve(model, prediction=attrs.evolve(model.prediction, **changes))
    )


def _first(obs: Observation, pick: Any) -> tuple[tuple[str, int], AttemptPrediction]:
    assert obs.model is not None and obs.model.prediction is not None
    entered = set(obs.model.prediction.path)
    for key, p in sorted(obs.model.prediction.attempts.items()):
        if key in entered and pick(p):
            return key, p
    raise AssertionError("no such attempt")


def _seed_where(pick: Any) -> int:
    for seed in range(300):
        obs = _obs_with(seed)
        if obs.model.prediction is not None and any(  # type: ignore[union-attr]
            pick(p) and k in obs.model.prediction.path  # type: ignore[union-attr]
            for k, p in obs.model.prediction.attempts.items()  # type: ignore[union-attr]
        ):
            return seed
    raise AssertionError("no seed")


@pytest.mark.parametrize(
    ("pick", "change", "words"),
    [
        (lambda p: bool(p.events), lambda p: attrs.evolve(p, events=()), "domain events"),
        (  # the reference an emit cites is predicted too (`mfm_scenarios.payload_refs`)
            lambda p: any(ref for _, _, ref in p.events),
            lambda p: attrs.evolve(p, events=tuple((n, v, None) for n, v, _ in p.events)),
            "domain events",
        ),
        (
            lambda p: bool(p.derived_facts),
            lambda p: attrs.evolve(p, derived_facts=p.derived_facts[1:]),
            "derived facts",
        ),
        (
            lambda p: p.completed and any(e[0] == "set" for e in p.effects),
            lambda p: attrs.evolve(p, effects=(*p.effects, ("set", "planted", 1))),
            "snapshot differs",
        ),
        (
            lambda p: p.completed and not p.skipped,
            lambda p: attrs.evolve(p, completed=False, error=("planted", False, None)),
            "the model says it fails with planted",
        ),
        (
            lambda p: p.error is not None,
            lambda p: attrs.evolve(p, error=("planted", True, None)),
            "the model says planted",
        ),
    ],
)
def test_a_wrong_attempt_prediction_fires_and_names_the_state(pick, change, words) -> None:
    obs = _obs_with(_seed_where(pick))
    assert check_model_agreement(obs) == []
    key, p = _first(obs, pick)
    attempts = dict(obs.model.prediction.attempts)  # type: ignore[union-attr]
    attempts[key] = change(p)
    found = check_model_agreement(_tamper(obs, attempts=attempts))
    assert found, words
    assert any(
        words in v.message and f"state {key[0]} attempt {key[1]}" in v.message for v in found
    ), [v.message for v in found]


def test_a_wrong_run_prediction_fires() -> None:
    obs = _obs_with(_seed_where(lambda p: bool(p.derived_facts)))
    pred: Prediction = obs.model.prediction  # type: ignore[union-attr]
    assert check_model_agreement(obs) == []
    found = check_model_agreement(_tamper(obs, path=(*pred.path, ("gen.s9.run", 0))))
    assert any("attempts entered" in v.message for v in found)
    found = check_model_agreement(_tamper(obs, derived_facts=pred.derived_facts[1:]))
    assert any("derived fact keys bound" in v.message for v in found)
    found = check_model_agreement(_tamper(obs, explicit_facts=("planted",)))
    assert any("fact keys bound" in v.message for v in found)
    final = dict(pred.final_context or {})
    final["planted"] = 1
    found = check_model_agreement(_tamper(obs, final_context=final))
    assert any("final context differs" in v.message and "planted" in v.message for v in found)


def test_attempts_shifted_by_a_crash_excuses_the_run_but_not_the_attempts() -> None:
    for seed in range(400):
        result = simulate(SCENARIO, seed, keep_trace=False, keep_observation=True)
        obs = result.observation
        assert result.violations == ()
        if obs is not None and attempts_shifted(obs):
            break
    else:
        raise AssertionError("no schedule with an orphan or injected failure")
    assert check_model_agreement(obs) == []


@pytest.mark.parametrize("variant", ["skip_tags_ignored", "retry_non_retryable"])
def test_model_agreement_catches_a_broken_engine_on_generated_workloads(variant: str) -> None:
    caught = 0
    for seed in range(120):
        result = simulate(SCENARIO, seed, keep_trace=False, variant=variant)
        caught += any(v.invariant == "model_agreement" for v in result.violations)
    assert caught > 0


# The extras (EXTRA_FEATURES): each is drawn in some seed, the refusals they are there for
# happen, and the interpreter agrees with the engine on fault-free runs that draw them.
_EXTRA_CODES = {
    "odd_fact": {"fact_payload_not_canonical", "secrets_detected"},
    "odd_event": {"secrets_detected"},
    "require": {"context_missing_key"},
    "bad_request": {
        "child_run_request_invalid",
        "missing_fact_key",
        "run_not_found",
        "io_unknown_namespace",
    },
}


def _extra_seeds(feature: str, limit: int) -> list[int]:
    return [s for s in range(400) if feature in _draw(s).features][:limit]


def test_every_extra_feature_is_drawn_and_meets_its_refusals() -> None:
    for feature, codes in _EXTRA_CODES.items():
        seen: set[str] = set()
        for seed in _extra_seeds(feature, 200):
            d = _draw(seed)
            if d.run_config.io_mode is IoMode.REPLAY:
                continue
            result = _interpret(d)
            for p in result.prediction.attempts.values():
                seen.update(p.refusals)
        assert codes <= seen, (feature, codes - seen)


@pytest.mark.parametrize("feature", EXTRA_FEATURES)
def test_the_interpreter_agrees_with_the_engine_on_extras(feature: str) -> None:
    seeds = _extra_seeds(feature, 25)
    assert seeds, feature
    for seed in seeds:
        result = _clean(seed)
        assert result.violations == (), (seed, result.violations)
        obs = result.observation
        assert obs is not None and obs.model is not None
        assert obs.final_phase is obs.model.phase, seed


def test_a_wrong_refusal_prediction_fires() -> None:
    # A `require` of an absent key: predicting that it completes must be contradicted.
    def pick(p: AttemptPrediction) -> bool:
        return p.error is not None and p.error[0] == "context_missing_key"

    obs = _obs_with(next(s for s in _extra_seeds("require", 100) if _has(s, pick)))
    assert check_model_agreement(obs) == []
    key, p = _first(obs, pick)
    attempts = dict(obs.model.prediction.attempts)  # type: ignore[union-attr]
    attempts[key] = attrs.evolve(p, completed=True, error=None)
    assert check_model_agreement(_tamper(obs, attempts=attempts))


def _has(seed: int, pick: Any) -> bool:
    d = _draw(seed)
    result = _interpret(d)
    path = set(result.prediction.path)
    return any(pick(p) and k in path for k, p in result.prediction.attempts.items())


def test_strict_equal_takes_a_json_types_subclass_as_that_type() -> None:
    from mfm_scenarios.program import Bag, Level, Text

    from mfm_sim.invariants.attempt_spans import strict_equal

    assert strict_equal([Text("a"), Level.HIGH, Bag([1])], ["a", 2, [1]])
    assert strict_equal({"l": Level.LOW}, {"l": 1})
    assert not strict_equal([True], [1])  # bool is still not a number
    assert not strict_equal(Level.HIGH, 1)
    assert not strict_equal(Text("a"), "b")


# Operator mistakes (`mfm_scenarios.operator`): every one is drawn, the engine refuses each as
# the model predicts and writes nothing, and a wrong prediction or a write is caught.
def _operator_seeds(limit: int) -> dict[str, list[int]]:
    seeds: dict[str, list[int]] = {name: [] for name in MISTAKES}
    for seed in range(400):
        for call in SCENARIO.build(Streams(seed).stream("scenario")).operator:
            if len(seeds[call.name]) < limit:
                seeds[call.name].append(seed)
    return seeds


def test_every_operator_mistake_is_drawn() -> None:
    seeds = _operator_seeds(3)
    assert all(seeds.values()), [n for n, s in seeds.items() if not s]


def test_operator_mistakes_leave_the_workload_as_drawn() -> None:
    # Drawn from a fork after everything else: the plan, knobs and programs do not move.
    for seed in range(40):
        run = SCENARIO.build(Streams(seed).stream("scenario"))
        d = _draw(seed)
        assert run.plan == d.plan and run.run_config == d.run_config


def test_the_engine_refuses_every_operator_mistake_as_predicted() -> None:
    made: Counter[str] = Counter()
    for seed in range(250):
        result = simulate(SCENARIO, seed, keep_trace=False, keep_observation=True)
        assert result.violations == (), (seed, result.violations)
        obs = result.observation
        assert obs is not None and obs.model is not None and obs.model.prediction is not None
        for call in obs.operator_calls:
            kind, code = expected_refusal(obs, call, obs.model.prediction.operator[call.name])
            assert not call.wrote, (seed, call)
            assert call.error_kind == kind, (seed, call)
            assert code is None or call.error_code == code, (seed, call)
            made[call.name] += 1
    assert set(made) == set(MISTAKES), set(MISTAKES) - set(made)


def test_a_wrong_operator_prediction_or_a_write_fires() -> None:
    seed = next(s for s in range(200) if _clean(s).observation.operator_calls)  # type: ignore[union-attr]
    obs = _obs_with(seed)
    assert check_model_agreement(obs) == []
    call = obs.operator_calls[0]
    wrong = {**obs.model.prediction.operator, call.name: ("io", "nope")}  # type: ignore[union-attr]
    assert any("operator" in v.message for v in check_model_agreement(_tamper(obs, operator=wrong)))
    wrote = attrs.evolve(obs, operator_calls=(attrs.evolve(call, wrote=True),))
    assert any("durable stores" in v.message for v in check_model_agreement(wrote))


# Rare events (`RARE_ODDS`): a payload holding a cycle, one of 100,001 containers (both with a
# secret past them), a `str` subclass as the name. Each is drawn, and the engine refuses or
# keeps it as the interpreter predicts.
@pytest.mark.parametrize("feature", [f for f, _ in RARE_ODDS])
def test_each_rare_event_is_drawn_and_predicted(feature: str) -> None:
    seeds = [s for s in range(1000) if feature in _draw(s).features][:12]
    assert seeds, feature
    emitted = []
    for seed in seeds:
        result = _clean(seed)
        assert result.violations == (), (seed, result.violations)
        journal = result.observation.handler_journal
        emitted += [op for entry in journal for op in entry.ops if op[0] == "emit"]
    if feature == "text_name":
        assert any(type(op[1]) is not str for op in emitted)
    else:  # the scan must find the secret past the cycle or the bulk
        refused = [op for op in emitted if op[1] in (CYCLIC_EVENT, BIG_EVENT)]
        assert refused and all(op[3] == "secrets_detected" for op in refused), seeds


def test_a_cyclic_payload_is_journaled_with_its_cycle_cut() -> None:
    payloads = [
        op[2]
        for seed in [s for s in range(1000) if "cyclic_event" in _draw(s).features][:4]
        for e in _clean(seed).observation.handler_journal
        for op in e.ops
        if op[:2] == ("emit", CYCLIC_EVENT)
    ]
    assert payloads and all(p[1] == [CYCLE] for p in payloads)


# ------------------------------------------------- recorded logs, the gx.* route, await twice


def test_replay_features_are_drawn_and_the_interpreter_agrees_with_the_engine() -> None:
    """Each of `REPLAY_FEATURES` is drawn, with what it is there to reach: facts a recorded
    log binds in replay and in live runs, wrong-length random records, children it holds,
    calls through the route; every such seed runs fault-free as the interpreter predicts."""
    seen: Counter[str] = Counter()
    for seed in range(120):
        d = _draw(seed)
        replays = d.replays
        assert replays is not None
        seen.update(replays.features)
        history = replays.history
        if history is not None:
            mode = d.run_config.io_mode.value
            for key in history.fact_keys():
                seen[f"{mode}:{'derived' if key.startswith('mfm:') else 'keyed'}"] += 1
            seen["child_brought"] += len(history.children)
        result = _interpret(d, history)
        for p in result.prediction.attempts.values():
            seen.update(f"refused:{code}" for code in p.refusals)
        ops = [op for node in d.plan.graph.states for op in node.state.program.ops]
        seen["routed_call"] += sum(op.name == ROUTED for op in ops)
        if not replays.features:
            continue
        clean = _clean(seed)
        assert clean.violations == (), (seed, clean.violations)
        assert clean.observation.final_phase is result.phase, seed
    assert set(REPLAY_FEATURES) <= set(seen), set(REPLAY_FEATURES) - set(seen)
    want = {"replay:derived", "replay:keyed", "live:derived", "child_brought", "routed_call"}
    want |= {"refused:fact_payload_invalid", "refused:child_run_conflict"}
    assert want <= set(seen), want - set(seen)


# A failure whose StateError already names a state (another one): ENGINE.md records it as the
# attempt's own state's failure, so the interpreter predicts it as any other failure.
def test_preset_state_ids_are_drawn_and_predicted() -> None:
    seeds = [s for s in range(200) if "preset_state_id" in _draw(s).features][:8]
    assert seeds
    preset = 0
    for seed in seeds:
        d = _draw(seed)
        names = {node.id for node in d.plan.graph.states}
        for node in d.plan.graph.states:
            for op in node.state.program.ops:
                # `secret_edges` and `long_backoff` add failures after the preset ids: unset.
                if op.kind == FAIL and op.name not in ("edge_failure", BACKOFF_FAILURE):
                    assert op.src in names and op.src != node.id
                    preset += 1
        result = _clean(seed)
        assert result.violations == (), (seed, result.violations)
    assert preset


def test_an_awaits_final_snapshot_id_is_predicted() -> None:
    """The interpreter predicts the await's `final_snapshot_id` as the content address of the
    child's final context (its own hashing): an engine that drops it is caught; a correct
    engine passes."""
    seed = EXPECTED_CATCH["await_snapshot_id_dropped"][1]
    broken = simulate(SCENARIO, seed, variant="await_snapshot_id_dropped")
    assert any("final_snapshot_id" in v.message for v in broken.violations)
    assert not simulate(SCENARIO, seed).violations


def test_a_spawns_manifest_and_initial_snapshot_ids_are_predicted() -> None:
    """The interpreter predicts the spawn's `child_manifest_id` and `child_initial_snapshot_id`
    from the request by its own hashing: an engine that names the wrong artifact is caught
    (seed 48 through the spawn's recorded response); a correct engine passes."""
    broken = simulate(SCENARIO, 48, variant="spawn_names_manifest_as_snapshot")
    assert any("child_initial_snapshot_id" in v.message for v in broken.violations)
    assert not simulate(SCENARIO, 48).violations
