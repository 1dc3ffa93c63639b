"""The swarm draw (Groce et al., ISSTA 2012): which fault kinds one seed switches on, at which
per-call rates, with which budget. The order of the draws is part of every seed's schedule:
a new draw goes last."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.world.rng import Rng

__all__ = ["DRAWN_KINDS", "MAX_RATE", "SITE_ACTIVATION", "FaultConfig"]

K = FaultKind

# The kinds whose rates a seed's swarm draws. Buggify decides with its own per-site streams,
# so it takes no draw here, and its arrival shifted no existing seed.
DRAWN_KINDS: tuple[FaultKind, ...] = tuple(k for k in FaultKind if k is not K.BUGGIFY)

# BUGGIFY (FoundationDB): a site is switched on once per run with this probability.
SITE_ACTIVATION = 0.25
MAX_RATE = 0.10


@attrs.frozen
class FaultConfig:
    """One seed's swarm: which kinds are on, at which per-call rate, and the fault budget."""

    rates: tuple[tuple[FaultKind, float], ...]
    budget: int | None  # None: unrestricted mode, faults never stop
    activation: float = SITE_ACTIVATION

    @property
    def kinds(self) -> tuple[FaultKind, ...]:
        return tuple(k for k, _ in self.rates)

    @classmethod
    def draw(
        cls,
        rng: Rng,
        allowed: Sequence[FaultKind],
        *,
        swarm: bool = True,
        recoverable: bool = True,
    ) -> FaultConfig:
        rates = []
        for kind in DRAWN_KINDS:
            # Draw for every kind even when it is not allowed, so filtering kinds
            # does not shift the draws of the others.
            on = rng.random() < 0.5
            rate = 0.01 + rng.random() * (MAX_RATE - 0.01)
            if kind in allowed and (on or not swarm):
                rates.append((kind, rate if swarm else 0.05))
        drawn_budget = 1 + rng.below(8)  # drawn in both modes, so the mode shifts nothing
        budget = drawn_budget if recoverable else None
        # Drawn last, so adding it shifted none of the draws above.
        if K.BUGGIFY in allowed and (rng.random() < 0.5 or not swarm):
            rates.append((K.BUGGIFY, 0.0))  # users' sites set their own odds
        activation = SITE_ACTIVATION if swarm else 1.0
        return cls(tuple(rates), budget, activation)

    def to_json(self) -> dict[str, object]:
        return {
            "rates": {k.value: round(r, 6) for k, r in self.rates},
            "budget": self.budget,
            "activation": self.activation,
        }
