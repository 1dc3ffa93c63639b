"""error_shape: raised and persisted errors carry ENGINE.md's field types, kinds, redaction."""

from __future__ import annotations

import attrs
from mfm_engine.errors import (
    ContextErrorKind,
    ErrorCategory,
    ErrorInfo,
    RunErrorKind,
    StorageErrorKind,
)
from mfm_engine.events import StateFailed

from mfm_sim.invariants.error_shape import check_error_shape, raised_problems
from mfm_sim.run.observation import OperatorOutcome, Outcome, RaisedError
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import RUN_ID, clean_observation

GOOD = ErrorInfo("run_not_found", ErrorCategory.STORAGE, False, "run event stream was not found")


def _raising(raised: RaisedError, number: int = 1):
    obs = clean_observation()
    incs = list(obs.incarnations)
    incs[number] = attrs.evolve(
        incs[number], outcome=Outcome.ERROR, error_kind="storage", error_code="x", raised=raised
    )
    return attrs.evolve(obs, incarnations=tuple(incs))


def _storage(info: ErrorInfo = GOOD, kind=StorageErrorKind.NOT_FOUND) -> RaisedError:
    return RaisedError(RunErrorKind.STORAGE, info, "StorageError", kind)


def test_a_clean_observation_passes():
    assert check_error_shape(clean_observation()) == []


def test_a_well_formed_raised_error_passes():
    assert check_error_shape(_raising(_storage())) == []
    plan = ErrorInfo("cycle", ErrorCategory.UNKNOWN, False, "plan has a cycle")
    assert raised_problems(RaisedError(RunErrorKind.INVALID_PLAN, plan)) == []
    bad_context = ErrorInfo("serialization", ErrorCategory.CONTEXT, False, "not an object")
    assert raised_problems(RaisedError(ContextErrorKind.SERIALIZATION, bad_context)) == []


def test_a_message_that_is_not_a_str_fires():
    (v,) = fired(_raising(_storage(attrs.evolve(GOOD, message=None))), "error_shape")
    assert v.run_id == str(RUN_ID)
    assert v.message == "incarnation 1 (resume): message None is not a str"


def test_each_mistyped_field_is_named():
    info = ErrorInfo("", "storage", 0, "m")  # type: ignore[arg-type]
    problems = raised_problems(_storage(info))
    assert problems == [
        "code '' is not a non-empty str",
        "category 'storage' is not an ErrorCategory",
        "retryable 0 is not a bool",
    ]


def test_a_chained_error_without_its_kind_fires():
    (v,) = fired(_raising(_storage(kind=None)), "error_shape")
    assert v.message.endswith("the StorageError's kind None is no StorageErrorKind")


def test_a_storage_error_wrapped_as_another_kind_fires():
    raised = attrs.evolve(_storage(), kind=RunErrorKind.INVALID_PLAN)
    assert raised_problems(raised) == [
        "a StorageError is wrapped as <RunErrorKind.INVALID_PLAN: 'invalid_plan'>, "
        "not <RunErrorKind.STORAGE: 'storage'>"
    ]


def test_a_named_corruption_code_of_another_kind_fires():
    info = attrs.evolve(GOOD, code="manifest_corrupt")
    assert raised_problems(_storage(info, StorageErrorKind.OTHER)) == [
        "manifest_corrupt is a StorageError CORRUPTION, not <StorageErrorKind.OTHER: 'other'>"
    ]
    assert raised_problems(_storage(info, StorageErrorKind.CORRUPTION)) == []


def test_an_operator_refusal_is_judged_too():
    call = OperatorOutcome("unknown_run", "resume", "storage", "run_not_found", False, 0)
    ok = attrs.evolve(clean_observation(), operator_calls=(attrs.evolve(call, raised=_storage()),))
    assert check_error_shape(ok) == []
    bad = attrs.evolve(ok, operator_calls=(attrs.evolve(call, raised=_storage(kind=None)),))
    (v,) = fired(bad, "error_shape")
    assert v.message.startswith("operator resume 'unknown_run': the StorageError's kind None")


def _with_failed(error: ErrorInfo):
    obs = clean_observation()
    view = obs.runs[RUN_ID]
    stream = list(view.stream)
    i = next(i for i, env in enumerate(stream) if isinstance(env.event, StateFailed))
    stream[i] = attrs.evolve(stream[i], event=attrs.evolve(stream[i].event, error=error))
    runs = {**obs.runs, RUN_ID: attrs.evolve(view, stream=tuple(stream))}
    return attrs.evolve(obs, runs=runs), stream[i].seq


def test_a_persisted_error_with_details_or_no_message_fires():
    error = ErrorInfo("flaky", ErrorCategory.RPC, True, None, {"k": 1})  # type: ignore[arg-type]
    obs, seq = _with_failed(error)
    found = fired(obs, "error_shape")
    assert [v.seqs for v in found] == [(seq,), (seq,)]
    assert found[0].message.endswith("message None is not a str")
    assert found[1].message.endswith("details were persisted (a state's error drops them)")


def test_an_orphan_recovery_that_is_not_retryable_fires():
    error = ErrorInfo("orphan_attempt_recovered", ErrorCategory.UNKNOWN, False, "interrupted")
    obs, _ = _with_failed(error)
    (v,) = fired(obs, "error_shape")
    assert v.message.endswith("orphan_attempt_recovered must be retryable, category UNKNOWN")
    ok, _ = _with_failed(attrs.evolve(error, retryable=True))
    assert check_error_shape(ok) == []


def test_a_manifest_refusal_under_the_other_calls_code_fires():
    corrupt = attrs.evolve(GOOD, code="manifest_corrupt")
    raised = _storage(corrupt, StorageErrorKind.CORRUPTION)
    obs = _raising(raised, 0)
    incs = list(obs.incarnations)
    incs[0] = attrs.evolve(incs[0], error_code="manifest_corrupt")
    (v,) = fired(attrs.evolve(obs, incarnations=tuple(incs)), "error_shape")
    assert v.message == "incarnation 0 (start): manifest_corrupt is not start's code"
    incs[0] = attrs.evolve(incs[0], error_code="manifest_artifact_mismatch")
    raised = attrs.evolve(raised, info=attrs.evolve(corrupt, code="manifest_artifact_mismatch"))
    incs[0] = attrs.evolve(incs[0], raised=raised)
    assert check_error_shape(attrs.evolve(obs, incarnations=tuple(incs))) == []


def test_the_details_engine_md_fixes_for_fact_record_refusals():
    from mfm_engine.errors import ErrorCategory, ErrorInfo

    from mfm_sim.invariants.error_shape import detail_problems

    def info(code, details):
        return ErrorInfo(code, ErrorCategory.STORAGE, False, "m", details)

    assert detail_problems(info("fact_recorded_malformed", {"seq": 4})) == []
    assert detail_problems(info("fact_recorded_conflict", {"seq": 4, "key": "k"})) == []
    assert detail_problems(info("other_code", None)) == []
    for code, details in [
        ("fact_recorded_malformed", None),
        ("fact_recorded_malformed", {"SEQ": 4}),
        ("fact_recorded_malformed", {"seq": 4, "key": "k"}),
        ("fact_recorded_conflict", {"seq": 4}),
        ("fact_recorded_conflict", {"seq": 4, "KEY": "k"}),
        ("fact_recorded_conflict", {"seq": None, "key": "k"}),
        ("fact_recorded_conflict", {"seq": True, "key": "k"}),
        ("fact_recorded_conflict", {"seq": 4, "key": None}),
    ]:
        (problem,) = detail_problems(info(code, details))
        assert code in problem
