"""Inspected refusals made first: drawn at the front of the first entered state, predicted by
the interpreter, clean on the correct engine, and an engine that loses an error's kind (or
trips on a record that is no object) is caught."""

from __future__ import annotations

import functools

import pytest
from mfm_engine import ExecutionPlan, StateGraph, StateNode
from mfm_engine.config import RunConfig
from mfm_engine.errors import ContextError, ContextErrorKind, ErrorCategory, info
from mfm_scenarios.generated import SCENARIO, draw
from mfm_scenarios.inspect_errors import predicted_shape, shape
from mfm_scenarios.inspect_kinds import FEATURE, _shifted, add_inspect_kinds
from mfm_scenarios.interpreter import interpret, run_key
from mfm_scenarios.program import NOW, RANDOM, REQUIRE, WRITE, Op, Program, ProgramState
from mfm_scenarios.steps import kahn_order

from mfm_sim import simulate
from mfm_sim.run.seeded_history import SeededHistory
from mfm_sim.selfcheck.patch import Edit, FunctionPatch, patched
from mfm_sim.selfcheck.variants import VARIANTS, Variant
from mfm_sim.world.rng import Rng, Streams


def _seeds(limit: int, what: str = "") -> list[int]:
    """Seeds of `generated` with the feature on (and an op of kind `what` among its ops)."""
    out = []
    for seed in range(300):
        d = draw(Streams(seed).stream("scenario"))
        if FEATURE not in d.features:
            continue
        ops = [op for node in d.plan.graph.states for op in node.state.program.ops]
        if not what or any(op.inspect and op.kind == what for op in ops):
            out.append(seed)
        if len(out) == limit:
            break
    return out


def test_the_ops_lead_the_first_entered_state() -> None:
    for seed in _seeds(10):
        d = draw(Streams(seed).stream("scenario"))
        first = next(
            n
            for n in kahn_order(d.plan)
            if not set(n.state.program.tags) & set(d.run_config.skip_tags)
        )
        # `mfm_scenarios.storage_retry`'s calls, drawn after, go before them.
        lead = [op for op in first.state.program.ops if not op.retry_storage or op.inspect]
        assert lead[0].inspect


def test_a_missing_key_is_predicted_as_its_context_kind() -> None:
    error = ContextError(
        ContextErrorKind.MISSING_KEY, info("context_missing_key", ErrorCategory.CONTEXT, "k")
    )
    assert shape(error) == predicted_shape("context_missing_key", False)
    assert shape(error)["kind"] == "MISSING_KEY"
    lost = ContextError(None, info("context_missing_key", ErrorCategory.CONTEXT, "k"))  # type: ignore[arg-type]
    assert shape(lost) != predicted_shape("context_missing_key", False)


def _plan(*programs: Program) -> ExecutionPlan:
    nodes = [StateNode(f"gen.s{i}.run", ProgramState(p)) for i, p in enumerate(programs)]
    return ExecutionPlan("gen", StateGraph(nodes, []))


@pytest.mark.parametrize(
    ("op", "record", "refused"),
    [
        (Op(NOW, "t"), {"now_millis": 5}, False),
        (Op(NOW, "t"), [5], True),
        (Op(NOW, "t"), None, True),
        (Op(RANDOM, "r", n=2), {"hex": "abcd"}, False),
        (Op(RANDOM, "r", n=2), {"hex": "ab"}, True),
        (Op(RANDOM, "r", n=2), "abcd", True),
        (Op(RANDOM, "r", n=2), {"hex": "zzzz"}, True),
    ],
)
def test_a_malformed_record_is_fact_payload_invalid(op: Op, record: object, refused: bool) -> None:
    kind = "now_millis" if op.kind == NOW else "random_bytes"
    history = SeededHistory(((run_key(kind, "gen.s0.run", 0, 0), record),))
    plan = _plan(Program((op,)))
    result = interpret(plan, RunConfig(), {}, history=history)
    attempt = result.prediction.attempts["gen.s0.run", 0]
    assert (attempt.refusals == ("fact_payload_invalid",)) is refused
    assert attempt.completed is not refused


def test_the_logs_later_draws_move_up_one_ordinal() -> None:
    mine = run_key("now_millis", "gen.s1.run", 0, 0)
    other = run_key("now_millis", "gen.s2.run", 0, 0)
    later = run_key("random_bytes", "gen.s1.run", 1, 0)
    history = SeededHistory(((mine, {"now_millis": 1}), (other, {}), (later, {}), ("k", {})))
    shifted = _shifted(history, "gen.s1.run")
    assert shifted.fact_keys() == (
        run_key("now_millis", "gen.s1.run", 0, 1),
        other,
        later,
        "k",
    )


def test_a_skipped_first_state_is_passed_over() -> None:
    programs = [Program((Op(WRITE, "a", value=1),), ("slow",)), Program((Op(WRITE, "b", value=2),))]
    plan = _plan(*programs)
    cfg = RunConfig(skip_tags=("slow",))
    for seed in range(20):
        drawn = list(programs)
        added = add_inspect_kinds(Rng(seed), plan, drawn, cfg, None, services=True)
        assert drawn[0] == programs[0]
        if added.features:
            assert drawn[1].ops[0].inspect and drawn[1].ops[-1] == programs[1].ops[0]


def test_the_correct_engine_is_clean() -> None:
    for seed in _seeds(6):
        assert simulate(SCENARIO, seed).violations == ()


def _register(monkeypatch: pytest.MonkeyPatch, name: str, patch: FunctionPatch) -> str:
    patches = (patch,)
    variant = Variant(name, name, functools.partial(patched, name, patches), patches)
    monkeypatch.setitem(VARIANTS, name, variant)
    return name


_REQUIRE_REST = '"context_missing_key", f"context key {key!r} missing"'
_BROKEN = {
    REQUIRE: FunctionPatch(
        "mfm_engine.context",
        "StagedContext.require",
        (
            Edit(
                f"ContextErrorKind.MISSING_KEY, {_REQUIRE_REST}",
                f"None, {_REQUIRE_REST}",
            ),
        ),
    ),
    NOW: FunctionPatch(
        "mfm_engine.live_io",
        "recorded_now_millis",
        (
            Edit(
                'value = recorded.get("now_millis") if isinstance(recorded, dict) else None',
                'value = recorded.get("now_millis")',
            ),
        ),
    ),
    RANDOM: FunctionPatch(
        "mfm_engine.live_io", "_payload_invalid", (Edit("IoErrorKind.OTHER,", "None,"),)
    ),
}


@pytest.mark.parametrize("kind", sorted(_BROKEN))
def test_an_engine_that_gets_it_wrong_is_caught(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    name = _register(monkeypatch, f"test_inspect_kinds_{kind}", _BROKEN[kind])
    caught = [s for s in _seeds(20, kind) if simulate(SCENARIO, s, variant=name).violations]
    assert caught, kind
    assert simulate(SCENARIO, caught[0]).violations == ()


def _rival_seeds(limit: int) -> list[int]:
    out = []
    for seed in range(300):
        d = draw(Streams(seed).stream("scenario"))
        ops = [op for node in d.plan.graph.states for op in node.state.program.ops]
        if any(op.inspect and op.twin is not None for op in ops):
            out.append(seed)
        if len(out) == limit:
            break
    return out


def test_the_inspected_pair_always_has_a_loser_on_the_correct_engine() -> None:
    """Both calls of the pair reach the slow service, so one of them loses the binding, in
    every schedule: the interpreter's prediction holds whatever the faults and interleaving."""
    seeds = _rival_seeds(8)
    assert seeds
    for seed in seeds:
        for interleave in (False, True):
            assert simulate(SCENARIO, seed, interleave=interleave).violations == ()


@pytest.mark.parametrize("line", ["IoErrorKind.OTHER,", "ErrorCategory.UNKNOWN,"])
def test_a_conflict_without_its_kind_or_category_is_caught(
    monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    patch = FunctionPatch("mfm_engine.live_io", "FactIndex.bind", (Edit(line, "None,"),))
    name = _register(monkeypatch, f"test_inspect_kinds_conflict_{line[:5]}", patch)
    assert any(simulate(SCENARIO, s, variant=name).violations for s in _rival_seeds(20))
