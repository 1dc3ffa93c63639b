"""Domain events that cite an artifact: `events.emit(name, payload, payload_ref=...)`.

ENGINE.md, "Events": `DomainEvent(name, payload, payload_ref=None)`. A handler may cite an
artifact with the event it emits; the engine keeps the reference with the event (filtered by
the profile like any domain event) and a store persists it in the event's stable JSON form.
No other workload passes one, so an engine that dropped or mangled it passed every sweep.

The feature (drawn from its own fork of the seed's stream, after every other draw) gives about
half of the main programs' ordinary emits a `payload_ref`: the id of the run's initial
snapshot, an artifact every started run stores (so a history export finds it), the way a
handler cites the input it was given. The reference interpreter predicts each kept event with
its reference; invariant 13 (`model_agreement`) and `event_profile` compare them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from mfm_scenarios.program import BIG_EVENT, CYCLIC_EVENT, EMIT

from mfm_sim.invariants.spec.canonical import json_artifact_id
from mfm_sim.world.rng import Rng

__all__ = ["FEATURE", "add_payload_refs"]

FEATURE = "payload_ref"


def add_payload_refs(rng: Rng, programs: list[Any], initial: Mapping[str, Any]) -> frozenset[str]:
    """With even odds: each ordinary emit of the main programs (in `programs`, in place)
    cites the initial snapshot with even odds; returns the feature if any emit does."""
    if not rng.chance(0.5):
        return frozenset()
    ref = json_artifact_id(dict(initial))  # the initial snapshot: its canonical bytes' hash
    cited = False
    for i, program in enumerate(programs):
        ops = list(program.ops)
        for j, op in enumerate(ops):
            if op.kind != EMIT or op.name in (CYCLIC_EVENT, BIG_EVENT) or not rng.chance(0.5):
                continue
            ops[j] = attrs.evolve(op, ref=ref)
            cited = True
        programs[i] = type(program)(tuple(ops), program.tags)
    return frozenset({FEATURE}) if cited else frozenset()
