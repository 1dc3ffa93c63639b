"""The recorded log an operator brings: written as the engine would read it, and resumed by it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from mfm_engine import ExecutionPlan, FnState, IoCall, StateGraph, StateNode
from mfm_engine.config import IoMode, RunConfig, RunManifest
from mfm_engine.events import FACT_RECORDED, DomainEvent, RunPhase, RunStarted
from mfm_engine.hashing import artifact_id_for_bytes, canonical_json_bytes
from mfm_engine.plan import StaticPlanResolver
from mfm_engine.runtime import DefaultExecutionEngine
from mfm_engine.stores import InMemoryArtifactStore, InMemoryEventStore, Stores

from mfm_sim.run.seeded_history import RUN, SeededHistory, seed_history

RUN_ID = uuid.UUID(int=42)
STATE = "rec.s0.run"


async def _quote(ctx: Any, io: Any, events: Any) -> None:
    ctx.write("quote", await io.call(IoCall("prices", {"pair": "a/b"}, "k")))
    ctx.write("now", await io.now_millis())


def _setup(history: SeededHistory) -> tuple[Stores, DefaultExecutionEngine]:
    plan = ExecutionPlan("rec", StateGraph([StateNode(STATE, FnState(_quote))], []))
    manifest = RunManifest("rec", "1", {}, RunConfig(io_mode=IoMode.REPLAY))
    data = canonical_json_bytes(manifest.to_json())
    stores = Stores(InMemoryArtifactStore(), InMemoryEventStore())
    manifest_id = artifact_id_for_bytes(data)
    stores.artifacts.data[manifest_id] = data
    seed_history(stores, RUN_ID, "rec", manifest_id, {"x": 1}, history, 5)
    return stores, DefaultExecutionEngine(StaticPlanResolver(plan))


def test_the_log_holds_run_started_then_each_fact_under_its_run() -> None:
    key = f"mfm:now_millis|run:{RUN}|state:{STATE}|attempt:0|ord:0"
    child = ("spawn:c", RunManifest("rec", "1", {"c": 1}, RunConfig()).to_json(), {"c": 0})
    history = SeededHistory((("k", {"p": 1}), (key, {"now_millis": 9})), (child,))
    stores, _ = _setup(history)
    stream = stores.events.streams[RUN_ID]
    assert [env.seq for env in stream] == [1, 2, 3]
    assert isinstance(stream[0].event, RunStarted) and all(e.ts_millis == 5 for e in stream)
    facts = [env.event for env in stream[1:]]
    assert all(isinstance(e, DomainEvent) and e.name == FACT_RECORDED for e in facts)
    assert [e.payload["key"] for e in facts] == ["k", key.replace(RUN, str(RUN_ID))]
    for event, payload in zip(facts, ({"p": 1}, {"now_millis": 9}), strict=True):
        assert stores.artifacts.data[event.payload["payload_id"]] == canonical_json_bytes(payload)
    # The child it holds: ENGINE.md's id, uuid5(parent run id, spawn key), just started.
    (started,) = stores.events.streams[uuid.uuid5(RUN_ID, "spawn:c")]
    assert isinstance(started.event, RunStarted)
    assert stores.artifacts.data[started.event.manifest_id] == canonical_json_bytes(child[1])


def test_replay_mode_resumes_it_from_its_facts_alone() -> None:
    """ENGINE.md's original test 12, over a log this module wrote: no transport, completed."""
    key = f"mfm:now_millis|run:{RUN}|state:{STATE}|attempt:0|ord:0"
    stores, engine = _setup(SeededHistory((("k", {"p": 1}), (key, {"now_millis": 9}))))
    result = asyncio.run(engine.resume(stores, RUN_ID))
    assert result.phase is RunPhase.COMPLETED
    assert result.final_snapshot_id is not None
    snapshot = stores.artifacts.data[result.final_snapshot_id]
    assert snapshot == canonical_json_bytes({"now": 9, "quote": {"p": 1}, "x": 1})


def test_without_the_fact_replay_fails_the_run() -> None:
    stores, engine = _setup(SeededHistory((("k", {"p": 1}),)))
    assert asyncio.run(engine.resume(stores, RUN_ID)).phase is RunPhase.FAILED
