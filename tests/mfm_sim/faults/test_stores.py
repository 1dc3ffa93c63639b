"""mfm_sim.faults.stores: the fault-injecting store wrappers, bound to one simulated incarnation.

With no fault firing a wrapper must be a conforming store (the engine's conformance suite);
each fault kind must do exactly what SPEC §5 says to the durable store underneath.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest
from mfm_engine.conformance import ARTIFACT_CHECKS, EVENT_CHECKS, make_envelope, run_check
from mfm_engine.context import get_verified, put_verified
from mfm_engine.errors import StorageError, StorageErrorKind
from mfm_engine.hashing import artifact_id_for_bytes
from mfm_engine.stores import ArtifactKind, InMemoryArtifactStore, InMemoryEventStore

from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.faults.stores import (
    BadRead,
    FaultyArtifactStore,
    FaultyEventStore,
    IncarnationHandle,
    SimCrash,
    corrupt_bytes,
    task_name,
)
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.run.world import World
from mfm_sim.world.loop import SimLoop

K = FaultKind
T = TypeVar("T")
RUN = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
DATA = b'{"snapshot": 1}'
DATA_ID = artifact_id_for_bytes(DATA)
ALL_CHECKS = ARTIFACT_CHECKS + EVENT_CHECKS


def _batch(first: int, count: int) -> list[Any]:
    return [make_envelope(RUN, s) for s in range(first, first + count)]


class Rig:
    """Durable in-memory stores, a world with a scripted schedule, and incarnation 0's wrappers."""

    def __init__(self, faults: Sequence[Fault] = (), config: FaultConfig | None = None) -> None:
        self.world = World(0, config, schedule=list(faults) if faults or config is None else None)
        self.artifacts_durable = InMemoryArtifactStore()
        self.events_durable = InMemoryEventStore()
        self.handle = IncarnationHandle(self.world, 0)
        self.artifacts = FaultyArtifactStore(self.artifacts_durable, self.handle)
        self.events = FaultyEventStore(self.events_durable, self.handle)

    def next_incarnation(self) -> tuple[IncarnationHandle, FaultyArtifactStore, FaultyEventStore]:
        self.handle.alive = False
        h = IncarnationHandle(self.world, self.handle.number + 1)
        self.world.injector.incarnation = h.number
        return (
            h,
            FaultyArtifactStore(self.artifacts_durable, h),
            FaultyEventStore(self.events_durable, h),
        )

    def run(self, aw: Awaitable[T]) -> T:
        return SimLoop(self.world.clock).run_until_complete(aw)

    @property
    def durable_events(self) -> list[Any]:
        return list(self.events_durable.streams.get(RUN, []))


def _fault(step: int, kind: FaultKind, site: str, arg: int = 0) -> Fault:
    return Fault(step, kind, site, arg)


def _storage_error(rig: Rig, aw: Awaitable[Any]) -> StorageError:
    with pytest.raises(StorageError) as exc:
        rig.run(aw)
    return exc.value


def _crash(rig: Rig, aw: Awaitable[Any]) -> SimCrash:
    with pytest.raises(SimCrash) as exc:
        rig.run(aw)
    return exc.value


# --------------------------------------------------------------------- conformance, faults off


def _quiet_handle() -> IncarnationHandle:
    return IncarnationHandle(World(0, None), 0)


@pytest.mark.parametrize(("name", "check"), ARTIFACT_CHECKS, ids=[n for n, _ in ARTIFACT_CHECKS])
def test_faulty_artifact_store_conforms_when_no_fault_fires(
    name: str, check: Callable[..., Any]
) -> None:
    def make() -> FaultyArtifactStore:
        return FaultyArtifactStore(InMemoryArtifactStore(), _quiet_handle())

    asyncio.run(run_check(name, check, make))


@pytest.mark.parametrize(("name", "check"), EVENT_CHECKS, ids=[n for n, _ in EVENT_CHECKS])
def test_faulty_event_store_conforms_when_no_fault_fires(
    name: str, check: Callable[..., Any]
) -> None:
    asyncio.run(
        run_check(name, check, lambda: FaultyEventStore(InMemoryEventStore(), _quiet_handle()))
    )


@pytest.mark.parametrize(("name", "check"), ALL_CHECKS, ids=[n for n, _ in ALL_CHECKS])
def test_wrappers_conform_under_latency_only_on_the_sim_loop(
    name: str, check: Callable[..., Any]
) -> None:
    """Latency is an honest fault: a slow store is still a conforming store."""
    world = World(0, FaultConfig(((K.LATENCY, 1.0),), None, 1.0))
    handle = IncarnationHandle(world, 0)
    is_artifact = (name, check) in ARTIFACT_CHECKS

    def make() -> Any:
        if is_artifact:
            return FaultyArtifactStore(InMemoryArtifactStore(), handle)
        return FaultyEventStore(InMemoryEventStore(), handle)

    SimLoop(world.clock).run_until_complete(run_check(name, check, make))
    assert world.injector.fired and all(f.kind is K.LATENCY for f in world.injector.fired)
    assert world.clock.now_ns > 0


def test_every_store_call_is_one_fault_point() -> None:
    rig = Rig()

    async def calls() -> None:
        await rig.artifacts.put(ArtifactKind.OTHER, DATA)
        await rig.artifacts.get(DATA_ID)
        await rig.artifacts.exists(DATA_ID)
        await rig.events.head_seq(RUN)
        await rig.events.append(RUN, 0, _batch(1, 3))
        await rig.events.read_range(RUN, 1)

    rig.run(calls())
    assert rig.world.injector.step == 6


# ----------------------------------------------------------------------------------- SimCrash


def test_sim_crash_is_not_an_exception() -> None:
    assert issubclass(SimCrash, BaseException)
    assert not issubclass(SimCrash, Exception)
    with pytest.raises(SimCrash):
        try:
            raise SimCrash(Fault(1, K.CRASH_BEFORE_EFFECT, "events.append"))
        except Exception:  # pragma: no cover - must not catch it
            pytest.fail("except Exception swallowed a simulated crash")
    assert "dead incarnation" in str(SimCrash())
    assert "crash_before_effect" in str(SimCrash(Fault(1, K.CRASH_BEFORE_EFFECT, "x")))


def test_corrupt_bytes_always_changes_the_content_address() -> None:
    for data in (b"", b"a", DATA, bytes(range(256))):
        bad = corrupt_bytes(data)
        assert bad != data
        assert artifact_id_for_bytes(bad) != artifact_id_for_bytes(data)
        assert corrupt_bytes(data) == bad  # deterministic
        if data:
            assert len(bad) == len(data) and bad[1:] == data[1:]


def test_task_name_is_the_sim_loops_own_numbering() -> None:
    world = World(0, None)

    async def main() -> str:
        return task_name()

    assert SimLoop(world.clock).run_until_complete(main()) == "Task-1"


# ------------------------------------------------------------------------------ dead handles


def test_dead_handle_refuses_every_call_without_effect_or_step() -> None:
    rig = Rig()
    rig.handle.alive = False
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: rig.artifacts.put(ArtifactKind.OTHER, DATA),
        lambda: rig.artifacts.get(DATA_ID),
        lambda: rig.artifacts.exists(DATA_ID),
        lambda: rig.events.head_seq(RUN),
        lambda: rig.events.read_range(RUN, 1),
        lambda: rig.events.append(RUN, 0, _batch(1, 1)),
    ]
    for call in calls:
        assert _crash(rig, call()).fault is None
    assert rig.world.injector.step == 0
    assert rig.artifacts_durable.data == {} and rig.events_durable.streams == {}
    with pytest.raises(SimCrash):
        rig.handle.check_alive()


def test_crash_kills_the_handle() -> None:
    rig = Rig()
    fault = _fault(1, K.CRASH_IN_HANDLER, "handler")
    with pytest.raises(SimCrash) as exc:
        rig.handle.crash(fault)
    assert exc.value.fault is fault
    assert rig.handle.alive is False


# -------------------------------------------------------------------------- events.append


def test_append_crash_before_effect() -> None:
    rig = Rig([_fault(1, K.CRASH_BEFORE_EFFECT, "events.append")])
    crash = _crash(rig, rig.events.append(RUN, 0, _batch(1, 2)))
    assert crash.fault is not None and crash.fault.kind is K.CRASH_BEFORE_EFFECT
    assert rig.durable_events == []
    assert rig.handle.alive is False and rig.handle.appended == []
    assert rig.world.seq_step == {}


def test_append_crash_after_effect_then_the_handle_is_dead() -> None:
    rig = Rig([_fault(1, K.CRASH_AFTER_EFFECT, "events.append")])
    batch = _batch(1, 2)
    crash = _crash(rig, rig.events.append(RUN, 0, batch))
    assert crash.fault is not None and crash.fault.kind is K.CRASH_AFTER_EFFECT
    assert rig.durable_events == batch
    assert rig.handle.appended == [(RUN, 1), (RUN, 2)]
    assert rig.world.seq_step == {(RUN, 1): (0, 1), (RUN, 2): (0, 1)}
    steps = rig.world.injector.step
    # The dead incarnation's later calls (a `finally` block, a retry loop) change nothing.
    _crash(rig, rig.events.append(RUN, 2, _batch(3, 1)))
    _crash(rig, rig.events.head_seq(RUN))
    _crash(rig, rig.artifacts.put(ArtifactKind.OTHER, DATA))
    assert rig.durable_events == batch
    assert rig.artifacts_durable.data == {}
    assert rig.world.injector.step == steps
    # The next incarnation sees what became durable.
    _, _, events = rig.next_incarnation()
    assert rig.run(events.head_seq(RUN)) == 2


@pytest.mark.parametrize("arg", [1, 2, 3])
def test_torn_append_persists_exactly_a_prefix(arg: int) -> None:
    rig = Rig([_fault(1, K.CRASH_MID_APPEND, "events.append", arg)])
    batch = _batch(1, 4)
    crash = _crash(rig, rig.events.append(RUN, 0, batch))
    assert crash.fault is not None and crash.fault.arg == arg
    assert rig.durable_events == batch[:arg]
    assert rig.handle.appended == [(RUN, s) for s in range(1, arg + 1)]
    assert set(rig.world.seq_step) == {(RUN, s) for s in range(1, arg + 1)}
    assert rig.handle.alive is False


def test_append_transient_error_has_no_effect() -> None:
    rig = Rig([_fault(1, K.TRANSIENT_ERROR, "events.append")])
    err = _storage_error(rig, rig.events.append(RUN, 0, _batch(1, 2)))
    assert err.info.retryable and err.info.code == "sim_transient_error"
    assert err.kind is StorageErrorKind.OTHER
    assert rig.durable_events == []
    assert rig.handle.alive
    # A retry goes through.
    assert rig.run(rig.events.append(RUN, 0, _batch(1, 2))) == 2


def test_append_ambiguous_error_took_effect() -> None:
    rig = Rig([_fault(1, K.AMBIGUOUS_ERROR, "events.append")])
    batch = _batch(1, 2)
    err = _storage_error(rig, rig.events.append(RUN, 0, batch))
    assert err.info.retryable and err.info.code == "sim_ambiguous_error"
    assert "took effect" in err.info.message
    assert rig.durable_events == batch
    assert rig.handle.alive
    # A blind retry at the same expected seq now loses the optimistic check.
    again = _storage_error(rig, rig.events.append(RUN, 0, batch))
    assert again.kind is StorageErrorKind.CONCURRENCY
    assert rig.durable_events == batch


@pytest.mark.parametrize("site", ["events.head_seq", "events.read_range"])
def test_event_reads_transient_and_crash(site: str) -> None:
    def call(events: FaultyEventStore) -> Awaitable[Any]:
        return events.head_seq(RUN) if site == "events.head_seq" else events.read_range(RUN, 1)

    rig = Rig([_fault(1, K.TRANSIENT_ERROR, site), _fault(2, K.CRASH_BEFORE_EFFECT, site)])
    assert _storage_error(rig, call(rig.events)).info.retryable
    _crash(rig, call(rig.events))
    assert rig.handle.alive is False


def test_seq_step_and_task_are_recorded_at_the_call_step() -> None:
    """Latency on an append: other calls run while it sleeps, but its events carry the step
    and task of the call, not of its completion."""
    rig = Rig([_fault(1, K.LATENCY, "events.append", 250)])
    names: dict[str, str] = {}

    async def appender() -> None:
        names["appender"] = task_name()
        await rig.events.append(RUN, 0, _batch(1, 2))

    async def reader() -> None:
        names["reader"] = task_name()
        await asyncio.sleep(0)
        await rig.events.head_seq(RUN)  # step 2, while the append sleeps
        await rig.events.head_seq(RUN)  # step 3

    async def main() -> None:
        await asyncio.gather(asyncio.ensure_future(appender()), asyncio.ensure_future(reader()))

    rig.run(main())
    assert rig.world.injector.step == 3
    assert rig.world.clock.now_ns == 250_000_000
    assert rig.world.seq_step == {(RUN, 1): (0, 1), (RUN, 2): (0, 1)}
    assert rig.world.seq_task == {(RUN, 1): names["appender"], (RUN, 2): names["appender"]}
    assert names["appender"] != names["reader"]


def test_latency_then_crash_of_the_sleeping_incarnation() -> None:
    rig = Rig([_fault(1, K.LATENCY, "events.append", 100)])

    async def main() -> None:
        task = asyncio.ensure_future(rig.events.append(RUN, 0, _batch(1, 1)))
        await asyncio.sleep(0)
        rig.handle.alive = False  # the process died while the call was in flight
        await task

    _crash(rig, main())
    assert rig.durable_events == []


def test_appends_are_traced() -> None:
    rig = Rig()
    rig.run(rig.events.append(RUN, 0, _batch(1, 1)))
    kinds = [(inc, kind) for _, inc, kind, _ in rig.world.trace.entries]
    assert kinds == [(0, "event")]


# -------------------------------------------------------------------------- artifacts.put


def test_put_crash_before_effect() -> None:
    rig = Rig([_fault(1, K.CRASH_BEFORE_EFFECT, "artifacts.put")])
    _crash(rig, rig.artifacts.put(ArtifactKind.OTHER, DATA))
    assert rig.artifacts_durable.data == {}


def test_put_crash_after_effect() -> None:
    rig = Rig([_fault(1, K.CRASH_AFTER_EFFECT, "artifacts.put")])
    _crash(rig, rig.artifacts.put(ArtifactKind.OTHER, DATA))
    assert rig.artifacts_durable.data == {DATA_ID: DATA}
    _crash(rig, rig.artifacts.get(DATA_ID))  # dead afterwards


def test_put_transient_error_has_no_effect() -> None:
    rig = Rig([_fault(1, K.TRANSIENT_ERROR, "artifacts.put")])
    err = _storage_error(rig, rig.artifacts.put(ArtifactKind.OTHER, DATA))
    assert err.info.retryable and err.info.code == "sim_transient_error"
    assert rig.artifacts_durable.data == {}


def test_put_ambiguous_error_took_effect() -> None:
    rig = Rig([_fault(1, K.AMBIGUOUS_ERROR, "artifacts.put")])
    err = _storage_error(rig, rig.artifacts.put(ArtifactKind.OTHER, DATA))
    assert err.info.retryable and err.info.code == "sim_ambiguous_error"
    assert rig.artifacts_durable.data == {DATA_ID: DATA}
    assert rig.handle.alive


def test_dropped_write_is_readable_in_its_incarnation_and_lost_in_the_next() -> None:
    rig = Rig([_fault(1, K.DROPPED_WRITE, "artifacts.put")])
    assert rig.run(rig.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, DATA)) == DATA_ID
    assert rig.artifacts_durable.data == {}
    assert rig.world.lost == {DATA_ID}
    assert rig.handle.volatile == {DATA_ID: DATA}
    # Same incarnation: the acknowledged write looks fine.
    assert rig.run(rig.artifacts.get(DATA_ID)) == DATA
    assert rig.run(rig.artifacts.exists(DATA_ID)) is True
    assert rig.handle.bad_reads == []
    assert any("(dropped)" in d for _, _, k, d in rig.world.trace.entries if k == "store")
    # Next incarnation: the volatile overlay is gone with the process.
    handle, artifacts, _ = rig.next_incarnation()
    assert rig.run(artifacts.exists(DATA_ID)) is False
    err = _storage_error(rig, artifacts.get(DATA_ID))
    assert err.kind is StorageErrorKind.NOT_FOUND
    assert handle.bad_reads == [BadRead(5, DATA_ID, K.DROPPED_WRITE, "Task-1")]


def test_dropped_write_of_durable_bytes_loses_nothing() -> None:
    rig = Rig([_fault(2, K.DROPPED_WRITE, "artifacts.put")])
    rig.run(rig.artifacts.put(ArtifactKind.OTHER, DATA))
    assert rig.run(rig.artifacts.put(ArtifactKind.OTHER, DATA)) == DATA_ID
    assert rig.world.lost == set() and rig.handle.volatile == {}


def test_a_later_durable_put_recovers_a_lost_artifact() -> None:
    rig = Rig([_fault(1, K.DROPPED_WRITE, "artifacts.put")])
    rig.run(rig.artifacts.put(ArtifactKind.OTHER, DATA))
    _, artifacts, _ = rig.next_incarnation()
    rig.run(artifacts.put(ArtifactKind.OTHER, DATA))
    assert rig.world.lost == set()
    assert rig.run(artifacts.get(DATA_ID)) == DATA


def test_missing_artifact_never_put_is_not_a_bad_read() -> None:
    rig = Rig()
    _storage_error(rig, rig.artifacts.get(DATA_ID))
    assert rig.handle.bad_reads == []


def test_corrupted_artifact_reads_flipped_bytes_and_verification_refuses_them() -> None:
    rig = Rig([_fault(1, K.CORRUPTED_ARTIFACT, "artifacts.put")])
    assert rig.run(put_verified(rig.artifacts, ArtifactKind.CONTEXT_SNAPSHOT, DATA)) == DATA_ID
    assert rig.artifacts_durable.data == {DATA_ID: DATA}  # the bytes as written
    assert rig.world.corrupted == {DATA_ID: corrupt_bytes(DATA)}
    assert rig.run(rig.artifacts.get(DATA_ID)) == corrupt_bytes(DATA)
    err = _storage_error(rig, get_verified(rig.artifacts, DATA_ID))
    assert err.kind is StorageErrorKind.CORRUPTION
    assert err.info.code == "artifact_content_address_mismatch"
    assert [(b.step, b.artifact_id, b.kind) for b in rig.handle.bad_reads] == [
        (2, DATA_ID, K.CORRUPTED_ARTIFACT),
        (3, DATA_ID, K.CORRUPTED_ARTIFACT),
    ]
    assert all(b.task == "Task-1" for b in rig.handle.bad_reads)
    # Corruption is on disk: the next incarnation reads the same flipped bytes.
    handle, artifacts, _ = rig.next_incarnation()
    assert rig.run(artifacts.get(DATA_ID)) == corrupt_bytes(DATA)
    assert len(handle.bad_reads) == 1


def test_bad_reads_name_the_reading_task() -> None:
    rig = Rig([_fault(1, K.CORRUPTED_ARTIFACT, "artifacts.put")])
    rig.run(rig.artifacts.put(ArtifactKind.OTHER, DATA))

    async def main() -> str:
        async def reader() -> str:
            await rig.artifacts.get(DATA_ID)
            return task_name()

        return await asyncio.ensure_future(reader())

    name = rig.run(main())
    assert name == "Task-2"
    assert [b.task for b in rig.handle.bad_reads] == ["Task-2"]


@pytest.mark.parametrize("site", ["artifacts.get", "artifacts.exists"])
def test_artifact_reads_transient_and_crash(site: str) -> None:
    rig = Rig([_fault(2, K.TRANSIENT_ERROR, site), _fault(3, K.CRASH_BEFORE_EFFECT, site)])
    rig.run(rig.artifacts.put(ArtifactKind.OTHER, DATA))

    def call() -> Awaitable[Any]:
        return (
            rig.artifacts.get(DATA_ID) if site == "artifacts.get" else rig.artifacts.exists(DATA_ID)
        )

    assert _storage_error(rig, call()).info.retryable
    _crash(rig, call())


def test_latency_takes_virtual_time_and_has_no_other_effect() -> None:
    rig = Rig([_fault(1, K.LATENCY, "artifacts.put", 800)])
    assert rig.run(rig.artifacts.put(ArtifactKind.OTHER, DATA)) == DATA_ID
    assert rig.world.clock.now_ns == 800_000_000
    assert rig.artifacts_durable.data == {DATA_ID: DATA}
    fault_entries = [d for _, _, k, d in rig.world.trace.entries if k == "fault"]
    assert fault_entries == ["step=1 latency at artifacts.put arg=800"]


def test_put_id_mismatch_stores_the_bytes_and_answers_with_another_id() -> None:
    rig = Rig([_fault(1, K.ARTIFACT_PUT_ID_MISMATCH, "artifacts.put")])
    got = rig.run(rig.artifacts.put(ArtifactKind.CONTEXT_SNAPSHOT, DATA))
    assert got != DATA_ID and len(got) == len(DATA_ID)
    # The bytes are durable under their own address: only the answer lied.
    assert rig.artifacts_durable.data == {DATA_ID: DATA}
    assert rig.handle.bad_reads == [BadRead(1, DATA_ID, K.ARTIFACT_PUT_ID_MISMATCH, "Task-1")]
    # The engine's put refuses the answer.
    rig2 = Rig([_fault(1, K.ARTIFACT_PUT_ID_MISMATCH, "artifacts.put")])
    err = _storage_error(rig2, put_verified(rig2.artifacts, ArtifactKind.OTHER, DATA))
    assert err.kind is StorageErrorKind.CORRUPTION
    assert err.info.code == "artifact_put_id_mismatch"
