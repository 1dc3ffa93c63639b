"""Invariant 13, model agreement: the finished main run matches the scenario's model."""

from __future__ import annotations

from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.outcome import compare_outcome, faults_consumed_attempts, finished
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_model_agreement"]


def check_model_agreement(obs: Observation) -> list[Violation]:
    """The finished main run matches the scenario's model (status, and snapshot if predicted).

    Excused like crash transparency: a FAILED run whose attempts were used up by crashes or
    injected failures (the model predicts the fault-free outcome)."""
    out = Out(INVARIANT.name, obs)
    model = obs.model
    if model is None or not finished(obs) or faults_consumed_attempts(obs):
        return out.items
    compare_outcome(obs, out, model.phase, model.final_snapshot, "the model")
    return out.items


INVARIANT = Invariant(
    "model_agreement",
    13,
    "the final status and snapshot match the scenario's model",
    check_model_agreement,
)
