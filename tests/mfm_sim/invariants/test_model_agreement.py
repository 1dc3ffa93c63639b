"""Invariant 13, model agreement: the final status and snapshot match the scenario's model."""

from __future__ import annotations

import attrs
from mfm_engine.events import (
    RunPhase,
)

from mfm_sim.invariants.model_agreement import check_model_agreement
from mfm_sim.run.observation import Reference
from tests.mfm_sim.invariants.support import fired, seqs_of, stream
from tests.mfm_sim.logs import (
    S1,
    S2,
    S3,
    clean_observation,
)

# ------------------------------------------------------------------- 13 model_agreement


def test_model_agreement():
    obs = clean_observation(reference=None)
    rc = stream(obs)[-1].seq
    wrong = Reference(RunPhase.COMPLETED, {"path": [S1, S2, S3], "extra": 1})
    found = fired(attrs.evolve(obs, model=wrong), "model_agreement")
    assert seqs_of(found) == [(rc,)]
    assert "extra" in found[0].message
    found = fired(attrs.evolve(obs, model=Reference(RunPhase.FAILED, None)), "model_agreement")
    assert "the model says failed" in found[0].message
    # A model without a snapshot predicts the status only; tuples compare like JSON lists.
    assert check_model_agreement(attrs.evolve(obs, model=Reference(RunPhase.COMPLETED, None))) == []
    tupled = Reference(RunPhase.COMPLETED, {"path": (S1, S2, S3)})
    assert check_model_agreement(attrs.evolve(obs, model=tupled)) == []
    assert check_model_agreement(attrs.evolve(obs, model=wrong, final_phase=None)) == []
