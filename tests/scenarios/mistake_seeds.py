"""Seeds of the generated workload whose operator makes a named mistake (shared by the tests
of each mistake)."""

from __future__ import annotations

from mfm_scenarios.generated import SCENARIO

from mfm_sim.world.rng import Streams

__all__ = ["seeds_with"]


def seeds_with(name: str, limit: int, search: int = 300) -> list[int]:
    """The first `limit` seeds below `search` whose operator calls include `name`."""
    out = []
    for seed in range(search):
        calls = SCENARIO.build(Streams(seed).stream("scenario")).operator
        if any(c.name == name for c in calls):
            out.append(seed)
        if len(out) == limit:
            break
    return out
