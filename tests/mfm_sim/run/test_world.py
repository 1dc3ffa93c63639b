"""mfm_sim.run.world: one schedule's world; ids, clock and entropy come from the seed."""

from __future__ import annotations

import uuid

import pytest

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.run.world import World
from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.rng import Streams
from mfm_sim.world.sources import SimClock, SimEntropy, SimIds
from tests.mfm_sim.collector import collector_off


def test_sim_ids_come_from_the_ids_stream_and_are_remembered() -> None:
    world = World(42, None)
    first = [world.ids.new_run_id() for _ in range(3)]
    assert world.ids.issued == first
    assert len(set(first)) == 3
    assert all(isinstance(u, uuid.UUID) and u.version == 4 for u in first)
    ids = Streams(42).stream("ids")
    assert first == [ids.uuid() for _ in range(3)]
    # Same seed, same ids; another seed, other ids.
    assert [World(42, None).ids.new_run_id() for _ in range(1)] == first[:1]
    assert World(43, None).ids.new_run_id() != first[0]


def test_sim_ids_issued_list_is_per_instance() -> None:
    a, b = SimIds(Streams(1)), SimIds(Streams(1))
    a.new_run_id()
    assert len(a.issued) == 1
    assert b.issued == []


def test_sim_clock_reads_virtual_milliseconds() -> None:
    clock = VirtualClock()
    sim = SimClock(clock)
    assert sim.now_millis() == 0
    clock.advance_by(1_999_999)
    assert sim.now_millis() == 1
    clock.advance_by(10**9)
    assert sim.now_millis() == 1001


def test_sim_entropy_comes_from_the_entropy_stream() -> None:
    world = World(7, None)
    got = world.entropy.random_bytes(20)
    assert len(got) == 20
    assert got == Streams(7).stream("entropy").sample_bytes(20)
    assert SimEntropy(Streams(5)).random_bytes(0) == b""
    # Drawing ids does not shift entropy: the streams are independent.
    other = World(7, None)
    other.ids.new_run_id()
    assert other.entropy.random_bytes(20) == got


def test_world_wires_injector_trace_and_clock() -> None:
    config = FaultConfig(((FaultKind.LATENCY, 0.5),), 3)
    world = World(9, config, keep_trace=False)
    assert world.seed == 9
    assert world.injector.budget == 3
    assert world.trace.keep is False
    assert world.injector.now_ns() == 0
    world.clock.advance_by(123)
    assert world.injector.now_ns() == 123
    assert world.engine_clock.now_millis() == 0
    assert world.corrupted == {} and world.lost == set() and world.effects == {}
    assert world.seq_step == {} and world.seq_task == {}


def test_world_without_config_never_fires() -> None:
    world = World(9, None)
    assert world.injector.budget == 0
    assert world.injector.exhausted
    assert world.injector.decide("events.append") is None
    assert world.injector.step == 1


def test_world_with_schedule_replays_it() -> None:
    from mfm_sim.run.observation import Fault

    fault = Fault(1, FaultKind.TRANSIENT_ERROR, "events.head_seq")
    world = World(9, None, schedule=[fault])
    fired = world.injector.decide("events.head_seq")
    assert fired is not None and fired.kind is FaultKind.TRANSIENT_ERROR


def test_effects_are_counted_per_key() -> None:
    world = World(1, None)
    world.effect("k")
    world.effect("k")
    world.effect("j")
    assert world.effects == {"k": 2, "j": 1}


@pytest.mark.parametrize("seed", [0, 1, 2**64 - 1])
def test_worlds_of_one_seed_are_identical(seed: int) -> None:
    a, b = World(seed, None), World(seed, None)
    assert a.ids.new_run_id() == b.ids.new_run_id()
    assert a.entropy.random_bytes(9) == b.entropy.random_bytes(9)
    assert a.streams.stream("faults").random() == b.streams.stream("faults").random()


def test_a_world_is_freed_by_reference_counting_alone() -> None:
    # No reference cycle through the world: a finished schedule's world (its trace, appends
    # and streams) goes when its last reference does, not when the collector next runs.
    import weakref

    world = World(3, FaultConfig(((FaultKind.LATENCY, 0.5),), 2), keep_trace=False)
    world.injector.decide("events.append")  # the injector reads the clock through `now_ns`
    assert world.injector.now_ns() == world.clock.now_ns
    gone = weakref.ref(world)
    with collector_off():
        del world
        assert gone() is None
