"""Invariant 9, effects at most once, per idempotency key."""

from __future__ import annotations

import attrs

from mfm_sim.invariants.effects_at_most_once import check_effects_at_most_once
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import (
    RUN_ID,
    clean_observation,
)

# ------------------------------------------------------------------- 9 effects


def test_effects_at_most_once():
    obs = clean_observation(effects={"charge:alice": 1, "charge:bob": 2})
    found = fired(obs, "effects_at_most_once")
    assert len(found) == 1
    assert "charge:bob" in found[0].message
    assert found[0].run_id == str(RUN_ID)
    assert check_effects_at_most_once(attrs.evolve(obs, effect_limit=2)) == []
