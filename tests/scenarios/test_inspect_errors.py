"""Inspected refusals: the handler's record of a caught refusal, the oracle's prediction of it,
and that the generated workload makes the engine refuse them with the kind ENGINE.md names."""

from __future__ import annotations

from functools import partial

import pytest
from mfm_engine.errors import ErrorCategory, IoError, IoErrorKind, StateError, info
from mfm_scenarios.inspect_errors import (
    INSPECTABLE,
    INSPECTED_EVENT,
    add_inspected,
    predicted_shape,
    shape,
)
from mfm_scenarios.program import CALL, Op, Program

from mfm_sim import get_scenario, simulate
from mfm_sim.world.rng import Rng
from tests.mfm_sim.selfcheck.test_variants import EXPECTED_CATCH


def _io(kind: object, category: object = ErrorCategory.RPC, message: object = "m") -> IoError:
    return IoError(kind, info("missing_fact", category, message, retryable=True))  # type: ignore[arg-type]


def test_a_correct_refusal_is_as_predicted() -> None:
    assert shape(_io(IoErrorKind.MISSING_FACT)) == predicted_shape("missing_fact", True)
    other = IoError(
        IoErrorKind.OTHER, info("run_not_found", ErrorCategory.UNKNOWN, "never started")
    )
    assert shape(other) == predicted_shape("run_not_found", False)
    keyless = IoError(
        IoErrorKind.MISSING_FACT_KEY, info("missing_fact_key", ErrorCategory.PARSING_INPUT, "k")
    )
    assert shape(keyless) == predicted_shape("missing_fact_key", False)


@pytest.mark.parametrize(
    "broken",
    [
        _io(None),  # no kind at all
        _io(IoErrorKind.OTHER),  # another kind than ENGINE.md names
        _io(IoErrorKind.MISSING_FACT, category=None),  # not an ErrorCategory
        _io(IoErrorKind.MISSING_FACT, message=None),  # no message
        _io(IoErrorKind.MISSING_FACT, message=""),
        StateError(info("missing_fact", ErrorCategory.RPC, "m", retryable=True)),  # not IoError
    ],
)
def test_a_broken_refusal_differs_from_the_prediction(broken: Exception) -> None:
    assert shape(broken) != predicted_shape("missing_fact", True)


def test_the_feature_inserts_inspected_catching_calls() -> None:
    programs = [Program((Op(CALL, "k", name="kv", value={"op": "get", "key": "x"}),))] * 8
    on = frozenset()
    seed = 0
    while not on:  # the feature is on for about half the seeds
        programs_now = list(programs)
        on = add_inspected(Rng(seed, "t"), programs_now, partial(Op, CALL), replay=False)
        seed += 1
    assert on == {"inspect_errors"}
    added = [op for p in programs_now for op in p.ops if op.inspect]
    assert added and all(op.catch and op.kind == CALL for op in added)
    assert INSPECTED_EVENT not in INSPECTABLE


def test_the_sweep_catches_an_engine_that_loses_the_kind() -> None:
    """The variant raises replay's missing_fact with kind OTHER: only an inspecting handler
    sees it, and the model's prediction of its record catches it; the correct engine passes."""
    scenario = get_scenario("generated")
    seed = EXPECTED_CATCH["refusal_kind_lost"][1]
    broken = simulate(scenario, seed, variant="refusal_kind_lost")
    assert "model_agreement" in {v.invariant for v in broken.violations}
    assert any("refusal_seen" in v.message or "seen_" in v.message for v in broken.violations)
    assert not simulate(scenario, seed).violations
