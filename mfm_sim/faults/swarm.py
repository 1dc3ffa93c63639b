"""The swarm draw (Groce et al., ISSTA 2012): which fault kinds one seed switches on, at which
per-call rates, with which budget.

Each kind draws from its own stream (`swarm:<kind>`), and the budget and the interleaving
switch from theirs, so adding a kind to the table re-keys no existing seed: the other kinds'
draws never see it."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from mfm_sim.faults.kinds import ALL_KINDS, FAULTS, FaultKind
from mfm_sim.world.rng import Rng, Streams, first_draws

__all__ = [
    "BUDGET_STREAM",
    "INTERLEAVE_STREAM",
    "MAX_BUDGET",
    "MAX_RATE",
    "SITE_ACTIVATION",
    "FaultConfig",
    "swarm_stream",
]

K = FaultKind

# BUGGIFY (FoundationDB): a site is switched on once per run with this probability.
SITE_ACTIVATION = 0.25
MAX_RATE = 0.10
BUDGET_STREAM = "swarm:budget"
# A recoverable seed fires 1..MAX_BUDGET faults; then faults stop and liveness is judged.
MAX_BUDGET = 8
INTERLEAVE_STREAM = "swarm:interleave"


def swarm_stream(streams: Streams, kind: FaultKind) -> Rng:
    """The stream of one kind's swarm draws: on or off, then its rate."""
    return streams.stream(f"swarm:{kind.value}")


# Each kind's stream name, and its highest rate, made once: every schedule draws them all.
_KIND_DRAWS = tuple((k, f"swarm:{k.value}", FAULTS[k].max_rate or MAX_RATE) for k in ALL_KINDS)


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
        streams: Streams,
        allowed: Sequence[FaultKind],
        *,
        swarm: bool = True,
        recoverable: bool = True,
    ) -> FaultConfig:
        rates = []
        seed = streams.seed
        for kind, name, high in _KIND_DRAWS:
            # Each kind draws from its own stream: filtering kinds or adding one shifts no
            # other kind's draws. Its first two draws are all it takes, so the stream is not
            # made (`swarm_stream(streams, kind)` gives the same two values), and a kind not
            # allowed is not drawn at all: its draws are a pure function of (seed, name) that
            # nothing else reads.
            if kind not in allowed:
                continue
            draws = first_draws(seed, name)
            on = draws[0] < 0.5
            rate = 0.01 + draws[1] * (high - 0.01)
            if kind is K.BUGGIFY:
                rate = 0.0  # users' own sites set their odds
            if on or not swarm:
                rates.append((kind, rate if swarm or kind is K.BUGGIFY else 0.05))
        drawn_budget = 1 + streams.stream(BUDGET_STREAM).below(MAX_BUDGET)  # drawn in both modes
        budget = drawn_budget if recoverable else None
        activation = SITE_ACTIVATION if swarm else 1.0
        return cls(tuple(rates), budget, activation)

    def to_json(self) -> dict[str, object]:
        return {
            "rates": {k.value: round(r, 6) for k, r in self.rates},
            "budget": self.budget,
            "activation": self.activation,
        }
