"""Invariant 13's operator half: each operator mistake was refused as predicted, writing nothing.

A scenario's prediction names, for each mistake, the refusal ENGINE.md gives it ("Start and
resume": the error kind, and the code where ENGINE.md names one). A resume of the main run is
judged against the log as it stood when it was made (`OperatorOutcome.head`), by the rules
that come before the mistake's own: a finished run returns its result and writes nothing; a
manifest whose bytes rotted is `manifest_corrupt` (a StorageError). Any call that changed the
durable stores broke "validate before writing anything", but for the events a prediction lets
it append to its own run's log (`Prediction.operator_writes`: a refusal that comes after
"One attempt"'s step 1), which must then be exactly those. A refusal `seed/runtime.rs` builds
itself carries its whole ErrorInfo (`spec/original_errors.py`): family, category, retryable,
message and details; an `invalid_plan` refusal of a plan chains the plan's first reason, an
`invalid_attempt_envelopes` refusal the first break of the log read (`spec/refusal_causes.py`).
"""

from __future__ import annotations

from mfm_engine.events import RunCompleted, RunStarted

from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.spec.original_errors import raised_problem
from mfm_sim.invariants.spec.refusal_causes import envelope_cause_problem, plan_cause_problem
from mfm_sim.invariants.spec.refusals import refusal_problem
from mfm_sim.run.observation import Observation, OperatorOutcome, Prediction

__all__ = ["check_operator_calls", "expected_refusal"]


def expected_refusal(
    obs: Observation, call: OperatorOutcome, predicted: tuple[str, str | None]
) -> tuple[str | None, str | None]:
    """(kind, code) a correct engine gives `call`: None kind for a result; None code where
    ENGINE.md names none."""
    if call.call != "resume" or call.head == 0 or obs.main_run_id is None:
        return predicted
    view = obs.runs.get(obs.main_run_id)
    prefix = view.stream[: call.head] if view is not None else ()
    if any(isinstance(env.event, RunCompleted) for env in prefix):
        return None, None
    started = next((env.event for env in prefix if isinstance(env.event, RunStarted)), None)
    if started is not None and started.manifest_id in obs.corrupted_artifacts:
        return "storage", "manifest_corrupt"
    return predicted


def check_operator_calls(obs: Observation, out: Out, pred: Prediction) -> None:
    for call in obs.operator_calls:
        predicted = pred.operator.get(call.name)
        if predicted is None:
            continue  # a mistake this scenario does not predict
        what = f"operator {call.call} {call.name!r}"
        if call.wrote:
            out.add(None, (), f"{what} changed the durable stores; it must be refused first")
        allowed = tuple(pred.operator_writes.get(call.name, ()))
        if tuple(call.appended) != allowed:
            got = ", ".join(type(e).__name__ for e in call.appended) or "nothing"
            want = ", ".join(repr(e) for e in allowed) or "nothing"
            out.add(None, (), f"{what} appended {got} to its run's log; expected {want}")
        kind, code = expected_refusal(obs, call, predicted)
        if call.error_kind != kind or (code is not None and call.error_code != code):
            want = "a result" if kind is None else f"{kind} {code or '(any code)'}"
            got = "a result" if call.error_kind is None else f"{call.error_kind} {call.error_code}"
            out.add(None, (), f"{what}: expected {want}, got {got}")
        elif call.error_kind not in (None, "untyped"):
            problem = refusal_problem(
                call.error_kind,
                call.error_code,
                call.error_category,
                call.error_retryable,
                call.error_message,
                call.error_subkind,
            )
            if problem:
                out.add(None, (), f"{what}: refusal {call.error_code} has {problem}")
            # The seed fixes the whole ErrorInfo of its own refusals: compare all of it.
            elif differs := raised_problem(call.raised):
                out.add(None, (), f"{what}: refusal {differs}")
            # A plan it cannot order: the refusal chains the plan's own first reason.
            elif (
                call.error_code == "invalid_plan"
                and call.plan is not None
                and (why := plan_cause_problem(call.raised, call.plan))
            ):
                out.add(None, (), f"{what}: refusal invalid_plan {why}")
            # A history it refused: the refusal chains the first break of the log it read.
            elif call.error_code == "invalid_attempt_envelopes" and (
                why := envelope_cause_problem(call.raised, call.read)
            ):
                out.add(None, (), f"{what}: refusal invalid_attempt_envelopes {why}")
