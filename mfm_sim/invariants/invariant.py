"""`Invariant`: what the registry lists of one invariant (its name, number, summary, check)."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["Check", "Invariant"]

Check = Callable[[Observation], list[Violation]]


@attrs.frozen
class Invariant:
    """One invariant: `name` is what its violations carry; `number` is its place in SPEC §6
    (None for one the runner adds, like `engine_contract`); `check` is pure and reads only
    the observation."""

    name: str
    number: int | None
    summary: str
    check: Check
