"""Invariant 13, model agreement: the finished main run matches the scenario's model."""

from __future__ import annotations

from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.model_prediction import attempts_shifted, check_prediction
from mfm_sim.invariants.operator_calls import check_operator_calls
from mfm_sim.invariants.outcome import compare_outcome, faults_consumed_attempts, finished
from mfm_sim.invariants.recorded_answers import check_recorded_answers
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_model_agreement"]


def check_model_agreement(obs: Observation) -> list[Violation]:
    """The finished main run matches the scenario's model (status, and snapshot if predicted).

    Excused like crash transparency: a FAILED run whose attempts were used up by crashes or
    injected failures (the model predicts the fault-free outcome)."""
    out = Out(INVARIANT.name, obs)
    model = obs.model
    if model is None:
        return out.items
    # A reference interpreter's prediction: each attempt is judged whatever the faults, as
    # its behaviour depends on its number alone; the whole run only as the run above.
    excused = not finished(obs) or faults_consumed_attempts(obs)
    if model.prediction is not None:
        # A program branches on its attempt number: a fault that used up an attempt may
        # change the outcome either way, so then only the attempts themselves are judged.
        excused = excused or attempts_shifted(obs)
        check_prediction(obs, out, model.prediction, whole_run=not excused)
        check_operator_calls(obs, out, model.prediction)
        check_recorded_answers(obs, out)
    if excused:
        return out.items
    compare_outcome(obs, out, model.phase, model.final_snapshot, "the model")
    return out.items


INVARIANT = Invariant(
    "model_agreement",
    13,
    "the final status and snapshot match the scenario's model",
    check_model_agreement,
)
