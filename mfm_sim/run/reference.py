"""The fault-free reference run that crash transparency compares a schedule with, cached."""

from __future__ import annotations

import json
from collections import OrderedDict

from mfm_engine.hashing import (
    CanonicalJsonError,
    artifact_id_for_json,
)

from mfm_sim.run.incarnations import Simulation
from mfm_sim.run.observation import (
    Reference,
)
from mfm_sim.run.recorded_facts import RecordedFacts
from mfm_sim.run.scenario import Scenario, ScenarioRun
from mfm_sim.run.validate import checked_manifest
from mfm_sim.run.world import World

__all__ = ["reference_outcome"]

_REFERENCE_CACHE: OrderedDict[tuple[str, str | None, str, str, str | None], Reference | None] = (
    OrderedDict()
)
_REFERENCE_CACHE_SIZE = 4096


def reference_outcome(
    scenario: Scenario,
    seed: int,
    variant: str | None,
    instance: ScenarioRun,
    facts: RecordedFacts | None = None,
) -> Reference | None:
    """The fault-free outcome of this seed's scenario instance, its handlers fed `facts` (the
    facts the schedule recorded, `mfm_sim.run.recorded_facts`).

    Cached by what decides it: the scenario, the engine variant, the manifest (plan shape and
    knobs are in it), the initial context and the facts fed, so seeds that draw the same knobs
    and record the same facts share it.
    """
    try:
        key = (
            scenario.name,
            variant,
            artifact_id_for_json(instance.manifest().to_json()),
            artifact_id_for_json(dict(instance.initial_context)),
            facts.digest() if facts else None,
        )
    except CanonicalJsonError:
        # Only an engine that accepted invalid input gets here: name the input, clearly.
        checked_manifest(scenario.name, instance)
        raise
    if key in _REFERENCE_CACHE:
        _REFERENCE_CACHE.move_to_end(key)
        return _REFERENCE_CACHE[key]
    world = World(seed, None, keep_trace=False)
    instance = scenario.build(world.streams.stream("scenario"))
    sim = Simulation(
        scenario,
        instance,
        world,
        recoverable=True,
        interleave=False,
        check_idempotent=False,
        facts=facts,
    )
    sim.run()
    ref: Reference | None = None
    if sim.final is not None:
        snap = None
        if sim.final.final_snapshot_id is not None:
            snap = json.loads(sim.contents()[0][sim.final.final_snapshot_id])
        ref = Reference(sim.final.phase, snap, service_states=world.service_states())
    _REFERENCE_CACHE[key] = ref
    if len(_REFERENCE_CACHE) > _REFERENCE_CACHE_SIZE:
        _REFERENCE_CACHE.popitem(last=False)
    return ref
