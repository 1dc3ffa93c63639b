"""A refusal's ErrorInfo as ENGINE.md types it, and the seed's plan refusals: category
unknown, never retryable; codes the seed does not raise are judged by type only."""

from __future__ import annotations

from mfm_sim.invariants.spec.refusals import SEED_PLAN_CODES, refusal_problem


def test_a_seed_refusal_built_as_the_seed_builds_it_passes() -> None:
    for code in SEED_PLAN_CODES:
        assert refusal_problem("invalid_plan", code, "unknown", False, "why") == ""
    assert (
        refusal_problem("context", "snapshot_not_object", "context", False, "m", "serialization")
        == ""
    )


def test_a_seed_refusal_with_another_category_or_flag_is_a_problem() -> None:
    assert "category parsing_input" in refusal_problem(
        "invalid_plan", "invalid_plan", "parsing_input", False
    )
    assert "category None" in refusal_problem("invalid_plan", "invalid_plan", None, False)
    assert "retryable True" in refusal_problem("invalid_plan", "invalid_plan", "unknown", True)
    assert "retryable None" in refusal_problem(
        "invalid_plan", "plan_op_id_mismatch", "unknown", None
    )


def test_an_info_that_is_not_typed_as_engine_md_says_is_a_problem() -> None:
    problem = refusal_problem("invalid_plan", "invalid_plan", "unknown", False, {"reason": "x"})
    assert "message of type dict" in problem
    assert "type NoneType" in refusal_problem(
        "invalid_plan", "invalid_op_id", "parsing_input", False, None
    )
    assert "code of type NoneType" in refusal_problem(
        "context", None, "context", False, "m", "other"
    )
    assert "kind None" in refusal_problem("context", "c", "context", False, "m", "None")
    assert "category bogus" in refusal_problem("storage", "run_not_found", "bogus", False, "m")


def test_a_code_the_seed_does_not_raise_is_judged_by_type_only() -> None:
    # `invalid_op_id` comes from a later check of the original; ENGINE.md gives no category.
    assert refusal_problem("invalid_plan", "invalid_op_id", "parsing_input", False, "m") == ""
