"""Invariant 9, effects at most once: an external effect is applied at most `effect_limit`
times per idempotency key."""

from __future__ import annotations

from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_effects_at_most_once"]


def check_effects_at_most_once(obs: Observation) -> list[Violation]:
    """Every external effect was applied at most `effect_limit` times per key."""
    out = Out(INVARIANT.name, obs)
    for key in sorted(obs.effects):
        count = obs.effects[key]
        if count > obs.effect_limit:
            out.add(
                obs.main_run_id,
                (),
                f"effect {key!r} applied {count} times (limit {obs.effect_limit})",
            )
    return out.items


INVARIANT = Invariant(
    "effects_at_most_once",
    9,
    "an external effect is applied at most once per idempotency key",
    check_effects_at_most_once,
)
