"""Run one schedule: the swarm draw, the world, the incarnations, the checks, the result."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from mfm_sim.faults.kinds import DISK_KINDS, Fault, FaultKind
from mfm_sim.faults.swarm import INTERLEAVE_STREAM, FaultConfig
from mfm_sim.invariants import check, needs_reference
from mfm_sim.run.backends import MemoryStores, make_backend
from mfm_sim.run.incarnations import Simulation
from mfm_sim.run.observation import (
    Outcome,
)
from mfm_sim.run.recorded_facts import recorded_facts
from mfm_sim.run.reference import reference_outcome
from mfm_sim.run.result import SimResult, Stats
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.schedule import Schedule
from mfm_sim.run.store_names import MIX, draw_store
from mfm_sim.run.world import World
from mfm_sim.selfcheck.variants import variant_context
from mfm_sim.world.rng import Streams

__all__ = ["simulate"]


def simulate(
    scenario: Scenario,
    seed: int,
    *,
    faults: Sequence[FaultKind] | None = None,
    schedule: Schedule | Sequence[Fault] | None = None,
    swarm: bool = True,
    recoverable: bool = True,
    interleave: bool | None = None,
    keep_trace: bool = True,
    keep_observation: bool = False,
    variant: str | None = None,
    record_sites: bool = False,
    store: str = "memory",
) -> SimResult:
    """Run one schedule of `scenario` for `seed` and check every invariant on what it left.

    `store`: where the durable stores live, "memory" or a real store on the simulated disk
    (`mfm_sim.run.store_names`: `sqlite`, `jsonl`, optionally with a flaw such as
    `sqlite:synchronous_off`)."""
    scripted: list[Fault] | None = None
    if isinstance(schedule, Schedule):
        scripted = list(schedule.faults)
        recoverable = schedule.recoverable
        interleave = schedule.interleave
        store = schedule.store
    elif schedule is not None:
        scripted = list(schedule)
    if store == MIX:  # a per-seed knob; the schedule records the store drawn
        store = draw_store(seed)
    swarm_streams = Streams(seed)  # the swarm draws come before the world exists
    # The disk's kinds only where there is a disk: a memory run's swarm is as it always was.
    disk = store != MemoryStores.name
    allowed = tuple(
        k
        for k in scenario.faults
        if (faults is None or k in faults) and (disk or k not in DISK_KINDS)
    )
    config = FaultConfig.draw(swarm_streams, allowed, swarm=swarm, recoverable=recoverable)
    if interleave is None:  # its own stream: a given mode shifts nothing
        interleave = swarm_streams.stream(INTERLEAVE_STREAM).random() < 0.5
    world = World(seed, config, schedule=scripted, keep_trace=keep_trace)
    backend = make_backend(store, world.clock, world.streams, world.trace)
    if record_sites:
        world.injector.sites = []
    instance = scenario.build(world.streams.stream("scenario"))
    if disk and (instance.operator or instance.history is not None):
        # The operator's mistaken starts and a recorded log are written beside the engine
        # straight into the memory stores (`Simulation.durable`); a real store on the disk has
        # no such door, so a disk-store schedule leaves them out (its run and its reference).
        # The model predicted the run resumed from the recorded log: without the log it
        # predicts nothing (the schedule is still judged by every model-free invariant).
        model = instance.model if instance.history is None else None
        instance = attrs.evolve(instance, operator=(), history=None, model=model)
    sim = Simulation(
        scenario, instance, world, recoverable=recoverable, interleave=interleave, backend=backend
    )
    with variant_context(variant):
        sim.run()
        obs = sim.observation()
        # A model settles the status and snapshot, never the services' states.
        judged = obs.service_states or not sim.agrees_with_model()
        if world.injector.fired and needs_reference(obs) and judged:
            facts = recorded_facts(obs)
            ref = reference_outcome(scenario, seed, variant, instance, facts)
            obs = attrs.evolve(obs, reference=ref)
    violations = tuple(check(obs))
    kinds: dict[str, int] = {}
    for f in world.injector.fired:
        kind = f.kind._value_  # not `.value`, a Python-level descriptor
        kinds[kind] = kinds.get(kind, 0) + 1
    crashes = sum(1 for i in sim.incarnations if i.outcome is Outcome.CRASH)
    resumes = sum(1 for i in sim.incarnations if i.call == "resume")
    stats = Stats(
        faults_by_kind=tuple(sorted(kinds.items())),
        crashes=crashes,
        resumes=resumes,
        store_calls=world.injector.step,
        virtual_ns=world.clock.now_ns,
        incarnations=len(sim.incarnations),
        trace_entries=world.trace.count,
    )
    final = sim.final
    return SimResult(
        seed=seed,
        scenario=scenario.name,
        violations=violations,
        log=world.trace,
        trace=tuple(world.trace.entries) if keep_trace else (),
        schedule=Schedule(
            seed, scenario.name, tuple(world.injector.fired), recoverable, interleave, store
        ),
        stats=stats,
        final_phase=final.phase if final else None,
        final_snapshot_id=final.final_snapshot_id if final else None,
        observation=obs if keep_observation else None,
        sites=tuple(world.injector.sites) if world.injector.sites is not None else None,
    )
