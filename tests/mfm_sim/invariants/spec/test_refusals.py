"""The seed's plan refusals: category unknown, never retryable; other codes are not judged."""

from __future__ import annotations

from mfm_sim.invariants.spec.refusals import SEED_PLAN_CODES, plan_refusal_problem


def test_a_seed_refusal_built_as_the_seed_builds_it_passes() -> None:
    for code in SEED_PLAN_CODES:
        assert plan_refusal_problem(code, "unknown", False) == ""


def test_a_seed_refusal_with_another_category_or_flag_is_a_problem() -> None:
    assert "category parsing_input" in plan_refusal_problem("invalid_plan", "parsing_input", False)
    assert "category None" in plan_refusal_problem("invalid_plan", None, False)
    assert "retryable True" in plan_refusal_problem("invalid_plan", "unknown", True)
    assert "retryable None" in plan_refusal_problem("plan_op_id_mismatch", "unknown", None)


def test_a_message_that_is_not_text_is_a_problem() -> None:
    problem = plan_refusal_problem("invalid_plan", "unknown", False, {"reason": "empty_plan"})
    assert "message of type dict" in problem
    assert "type NoneType" in plan_refusal_problem("invalid_op_id", "parsing_input", False, None)


def test_a_code_the_seed_does_not_raise_is_not_judged() -> None:
    # `invalid_op_id` comes from a later check of the original; ENGINE.md gives no category.
    assert plan_refusal_problem("invalid_op_id", "parsing_input", False) == ""
    assert plan_refusal_problem(None, None, None) == ""
