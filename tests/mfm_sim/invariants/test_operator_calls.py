"""Invariant 13's operator half: a mistaken resume is judged against the log as it stood."""

from __future__ import annotations

import attrs
from mfm_engine.envelopes import EnvelopeErrorKind
from mfm_engine.errors import ErrorCategory, ErrorInfo, StorageErrorKind
from mfm_engine.events import RunCompleted, RunStarted, RunStatus, StateFailed
from mfm_scenarios.broken_envelopes import BROKEN_ENVELOPES
from mfm_scenarios.generated import SCENARIO

from mfm_sim.invariants.model_agreement import check_model_agreement
from mfm_sim.invariants.operator_calls import expected_refusal
from mfm_sim.run.observation import Observation, OperatorOutcome
from mfm_sim.run.simulate import simulate


def _with_resume_mistake(finished: bool = False) -> tuple[Observation, OperatorOutcome]:
    for seed in range(400):
        obs = simulate(SCENARIO, seed, keep_trace=False, keep_observation=True).observation
        assert obs is not None
        main = obs.runs.get(obs.main_run_id) if obs.main_run_id else None
        done = main is not None and isinstance(main.stream[-1].event, RunCompleted)
        for call in obs.operator_calls:
            if call.call == "resume" and call.head > 0 and (done or not finished):
                return obs, call
    raise AssertionError("no mistaken resume of the main run in 400 seeds")


def test_a_mistaken_resume_is_refused_as_predicted() -> None:
    obs, call = _with_resume_mistake()
    assert check_model_agreement(obs) == []
    assert call.error_kind == "invalid_plan" and not call.wrote


def test_a_rotten_manifest_is_refused_before_the_plan_is_looked_at() -> None:
    obs, call = _with_resume_mistake()
    assert obs.model is not None and obs.model.prediction is not None
    predicted = obs.model.prediction.operator[call.name]
    assert obs.main_run_id is not None
    started = obs.runs[obs.main_run_id].stream[0].event
    assert isinstance(started, RunStarted)
    rotten = attrs.evolve(obs, corrupted_artifacts=frozenset({started.manifest_id}))
    assert expected_refusal(rotten, call, predicted) == ("storage", "manifest_corrupt")
    # The engine's plan refusal is then the wrong answer.
    assert any("manifest_corrupt" in v.message for v in check_model_agreement(rotten))


def test_a_finished_run_is_not_refused() -> None:
    obs, call = _with_resume_mistake(finished=True)
    assert obs.main_run_id is not None
    stream = obs.runs[obs.main_run_id].stream
    late = attrs.evolve(call, head=len(stream))
    assert expected_refusal(obs, late, ("invalid_plan", None)) == (None, None)
    judged = attrs.evolve(obs, operator_calls=(late,))
    assert any("expected a result" in v.message for v in check_model_agreement(judged))


def _with_bad_plan_start() -> tuple[Observation, OperatorOutcome]:
    for seed in range(400):
        obs = simulate(SCENARIO, seed, keep_trace=False, keep_observation=True).observation
        assert obs is not None
        for call in obs.operator_calls:
            if call.call == "start" and call.error_code == "invalid_plan":
                return obs, call
    raise AssertionError("no start with a bad plan in 400 seeds")


def test_a_bad_plan_is_refused_as_the_seed_builds_it() -> None:
    obs, call = _with_bad_plan_start()
    assert (call.error_category, call.error_retryable) == ("unknown", False)
    assert check_model_agreement(obs) == []


def test_a_plan_refusal_with_another_category_or_retry_flag_is_caught() -> None:
    obs, call = _with_bad_plan_start()
    for broken, word in (
        (attrs.evolve(call, error_category="rpc"), "category rpc"),
        (attrs.evolve(call, error_retryable=True), "retryable True"),
        (attrs.evolve(call, error_retryable=None), "retryable None"),
        (attrs.evolve(call, error_message={"reason": "cycle"}), "message of type dict"),
    ):
        judged = attrs.evolve(obs, operator_calls=(broken,))
        assert any(word in v.message for v in check_model_agreement(judged)), word


def test_a_context_refusal_typed_otherwise_than_engine_md_says_is_caught() -> None:
    for seed in range(400):
        obs = simulate(SCENARIO, seed, keep_trace=False, keep_observation=True).observation
        assert obs is not None
        # The ContextError itself (JsonContext's refusal), not a RunError that wraps its info.
        calls = [c for c in obs.operator_calls if c.error_subkind is not None]
        if calls:
            break
    else:
        raise AssertionError("no refused context in 400 seeds")
    call = calls[0]
    assert call.error_kind == "context" and call.error_subkind in ("serialization", "other")
    assert check_model_agreement(obs) == []
    for broken, word in (
        (attrs.evolve(call, error_subkind="None"), "ContextError kind None"),
        (attrs.evolve(call, error_code=None), "code of type NoneType"),
        (attrs.evolve(call, error_message=None), "message of type NoneType"),
    ):
        judged = attrs.evolve(obs, operator_calls=(broken,))
        assert any(word in v.message for v in check_model_agreement(judged)), word


def test_a_plan_refusal_with_another_code_is_caught() -> None:
    obs, call = _with_bad_plan_start()
    judged = attrs.evolve(obs, operator_calls=(attrs.evolve(call, error_code="INVALID_PLAN"),))
    assert any(
        "expected invalid_plan invalid_plan" in v.message for v in check_model_agreement(judged)
    )


def _with_snapshot_mistake() -> tuple[Observation, OperatorOutcome]:
    obs = simulate(SCENARIO, 0, keep_trace=False, keep_observation=True).observation
    assert obs is not None
    call = next(c for c in obs.operator_calls if c.name == "recorded_snapshot_not_object")
    return obs, call


def test_a_recorded_non_object_snapshot_is_refused_after_its_state_entered() -> None:
    obs, call = _with_snapshot_mistake()
    assert (call.error_kind, call.wrote) == ("context", False)
    assert [type(e).__name__ for e in call.appended] == ["StateEntered"]
    assert check_model_agreement(obs) == []


def test_appends_beyond_the_predicted_ones_are_caught() -> None:
    obs, call = _with_snapshot_mistake()
    entered = call.appended[0]
    failed = StateFailed(entered.state_id, ErrorInfo("x", ErrorCategory.UNKNOWN, False, "x"))
    for appended, word in (
        ((), "appended nothing"),
        ((entered, failed), "StateEntered, StateFailed"),
        ((attrs.evolve(entered, attempt=1),), "appended StateEntered"),
    ):
        judged = attrs.evolve(obs, operator_calls=(attrs.evolve(call, appended=appended),))
        assert any(word in v.message for v in check_model_agreement(judged)), word


def test_a_mistake_with_no_predicted_appends_may_append_nothing() -> None:
    obs, call = _with_bad_plan_start()
    assert call.appended == ()
    stray = RunCompleted(RunStatus.FAILED, None)
    judged = attrs.evolve(obs, operator_calls=(attrs.evolve(call, appended=(stray,)),))
    assert any("appended RunCompleted" in v.message for v in check_model_agreement(judged))


def test_a_plan_refusal_is_compared_with_the_seeds_whole_error_info() -> None:
    """seed/runtime.rs fixes the refusal's message and details: the sweep's correct engine
    gives them, and an engine that names the reason (as the port once did) is caught."""
    obs, call = _with_bad_plan_start()
    assert call.raised is not None
    assert call.raised.info.message == "execution plan failed validation"
    assert call.raised.info.details is None
    info = call.raised.info
    for broken, word in (
        (attrs.evolve(info, details={"reason": "empty_plan"}), "details {'reason'"),
        (attrs.evolve(info, message=f"{info.message}: plan has no states"), "message"),
        (attrs.evolve(info, message="EXECUTION PLAN FAILED VALIDATION"), "message"),
    ):
        raised = attrs.evolve(call.raised, info=broken)
        judged = attrs.evolve(obs, operator_calls=(attrs.evolve(call, raised=raised),))
        found = [v.message for v in check_model_agreement(judged)]
        assert any(word in m and "seed/runtime.rs" in m for m in found), (word, found)


def test_a_not_found_refusal_of_another_family_is_caught() -> None:
    for seed in range(400):
        obs = simulate(SCENARIO, seed, keep_trace=False, keep_observation=True).observation
        assert obs is not None
        calls = [c for c in obs.operator_calls if c.error_code == "run_not_found"]
        if calls:
            break
    else:
        raise AssertionError("no resume of an unknown run in 400 seeds")
    call = calls[0]
    assert call.raised is not None and call.raised.cause_type == "StorageError"
    assert check_model_agreement(obs) == []
    raised = attrs.evolve(call.raised, cause_kind=StorageErrorKind.OTHER)
    judged = attrs.evolve(obs, operator_calls=(attrs.evolve(call, raised=raised),))
    assert any("StorageError::NotFound" in v.message for v in check_model_agreement(judged))


def test_a_plan_refusal_chains_the_plans_own_reason() -> None:
    """The sweep's bad plans are refused with their reason; a refusal naming another check,
    another subject or none at all is caught (ENGINE.md ids, seed/runtime.rs's order)."""
    obs, call = _with_bad_plan_start()
    assert call.raised is not None and call.raised.cause_type == "PlanValidationError"
    for broken, words in (
        (attrs.evolve(call.raised, cause_subject="gen.nowhere.run"), "the plan's reason is"),
        (attrs.evolve(call.raised, cause_type=None, cause_kind=None), "chains None None"),
        (attrs.evolve(call.raised, cause_message=None), "message None"),
    ):
        judged = attrs.evolve(obs, operator_calls=(attrs.evolve(call, raised=broken),))
        found = [v.message for v in check_model_agreement(judged)]
        assert any(words in m and "refusal invalid_plan" in m for m in found), (words, found)


def _with_broken_envelopes() -> tuple[Observation, OperatorOutcome]:
    for seed in range(400):
        obs = simulate(SCENARIO, seed, keep_trace=False, keep_observation=True).observation
        assert obs is not None
        for call in obs.operator_calls:
            if call.name == BROKEN_ENVELOPES:
                return obs, call
    raise AssertionError("no recorded log with broken envelopes in 400 seeds")


def test_a_history_refusal_chains_the_first_break_of_the_log_read() -> None:
    obs, call = _with_broken_envelopes()
    assert check_model_agreement(obs) == []
    assert call.raised is not None and call.raised.cause_type == "EnvelopeError"
    seq = call.raised.cause_seq
    assert seq == len(call.read)  # each shape breaks at its last record
    for broken, words in (
        (attrs.evolve(call.raised, cause_seq=seq - 1), f"at seq {seq - 1}"),
        (attrs.evolve(call.raised, cause_kind=EnvelopeErrorKind.SEQ_GAP), "names seq_gap"),
    ):
        judged = attrs.evolve(obs, operator_calls=(attrs.evolve(call, raised=broken),))
        found = [v.message for v in check_model_agreement(judged)]
        assert any(words in m and "invalid_attempt_envelopes" in m for m in found), found
