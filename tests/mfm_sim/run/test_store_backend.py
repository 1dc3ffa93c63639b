"""The store backends: names and flaws, the in-memory default, the append recorder, the views.

The disk stores themselves run in `test_store_backend_on_disk.py` (they need the simulated
disk); here is what needs no disk.
"""

from __future__ import annotations

import asyncio

import pytest
from mfm_engine.conformance import RUN_A, RUN_B, make_envelope
from mfm_engine.errors import StorageError
from mfm_engine.stores import InMemoryEventStore

from mfm_sim.faults.stores import IncarnationHandle
from mfm_sim.run.observation import StoreAppend
from mfm_sim.run.store_backend import (
    STORE_FLAWS,
    STORES,
    AcknowledgedLog,
    MemoryBackend,
    RecordingEventStore,
    parse_store,
    run_inline,
    store_backend,
)
from mfm_sim.run.world import World


def test_names_and_flaws_parse() -> None:
    assert STORES == ("memory", "sqlite", "jsonl")
    assert parse_store("memory") == ("memory", None)
    assert parse_store("sqlite") == ("sqlite", None)
    assert parse_store("sqlite:synchronous_off") == ("sqlite", "synchronous_off")
    assert parse_store("jsonl:no_torn_tail_repair") == ("jsonl", "no_torn_tail_repair")
    for bad, words in (
        ("disk", "unknown store 'disk'"),
        ("jsonl:synchronous_off", "unknown flaw 'synchronous_off' of the jsonl store"),
        ("memory:anything", "known: none"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_store(bad)


def test_the_sqlite_flaws_are_the_stores_own() -> None:
    from mfm_engine.sqlite_stores import SQLITE_FLAWS

    assert set(STORE_FLAWS["sqlite"]) == set(SQLITE_FLAWS)


def test_the_memory_backend_is_one_durable_pair_for_every_incarnation() -> None:
    world = World(1, None)
    backend = store_backend(world, "memory")
    assert isinstance(backend, MemoryBackend)
    first = backend.open(IncarnationHandle(world, 0))
    second = backend.open(IncarnationHandle(world, 1))
    assert first is second is backend.durable
    assert backend.log_view is backend.durable.events
    backend.put_manifest("id", b"bytes")
    assert backend.durable.artifacts.data == {"id": b"bytes"}  # type: ignore[attr-defined]
    backend.end()
    backend.settle()
    backend.close()
    assert backend.attempts == [] and backend.unreadable is None


def test_the_acknowledged_log_is_the_appends_by_run() -> None:
    a1, a2, b1 = make_envelope(RUN_A, 1), make_envelope(RUN_A, 2), make_envelope(RUN_B, 1)
    appends = [(0, 1, "t", RUN_A, (a1,)), (0, 2, "t", RUN_B, (b1,))]
    view = AcknowledgedLog(appends)  # type: ignore[arg-type]
    assert view.streams == {RUN_A: [a1], RUN_B: [b1]}
    appends.append((1, 5, "t", RUN_A, (a2,)))  # a live view of a list that grows
    assert view.streams[RUN_A] == [a1, a2]


def test_the_recorder_notes_every_append_and_whether_it_returned() -> None:
    attempts: list[StoreAppend] = []
    store = RecordingEventStore(InMemoryEventStore(), attempts)
    ok = (make_envelope(RUN_A, 1),)
    refused = (make_envelope(RUN_A, 5),)

    async def main() -> None:
        assert await store.append(RUN_A, 0, list(ok)) == 1
        with pytest.raises(StorageError):
            await store.append(RUN_A, 4, list(refused))
        assert await store.head_seq(RUN_A) == 1
        assert await store.read_range(RUN_A, 1) == list(ok)

    asyncio.run(main())
    assert attempts == [StoreAppend(RUN_A, ok, True), StoreAppend(RUN_A, refused, False)]


def test_run_inline_returns_and_refuses_a_call_that_suspends() -> None:
    async def answer() -> int:
        return 42

    async def suspends() -> None:
        await asyncio.sleep(0)

    assert run_inline(answer()) == 42
    with pytest.raises(RuntimeError, match="suspended"):
        run_inline(suspends())
