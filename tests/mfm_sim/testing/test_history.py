"""History replay: an exported real run, replayed against current handler code."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from mfm_engine import (
    DefaultExecutionEngine,
    DependencyEdge,
    ErrorCategory,
    ExecutionPlan,
    InMemoryArtifactStore,
    InMemoryEventStore,
    IoCall,
    RetryPolicy,
    RunConfig,
    RunManifest,
    StartRun,
    StateError,
    StateGraph,
    StateMeta,
    StateNode,
    StaticPlanResolver,
    Stores,
)
from mfm_engine.errors import info
from mfm_engine.hashing import canonical_json_bytes
from mfm_engine.stores import ArtifactKind

from mfm_sim.testing.history import HistoryError, export_run, load_history, replay_history


class Rates:
    async def call(self, call: IoCall) -> Any:
        return {"rate": 3}


class RatesFactory:
    def make(self, env: Any) -> Rates:
        return Rates()


class Quote:
    """Reads a recorded rate and the clock; fails its first attempt after reading them."""

    def __init__(self, key: str = "rate:eur", fail_first: bool = True) -> None:
        self.key = key
        self.fail_first = fail_first
        self.calls = 0

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        self.calls += 1
        rate = await io.call(IoCall("rates", {"currency": "eur"}, self.key))
        now = await io.now_millis()
        if self.fail_first and self.calls == 1:
            raise StateError(info("flaky", ErrorCategory.RPC, "try again", retryable=True))
        ctx.write("quote", ctx.read("amount") * rate["rate"])
        ctx.write("quoted_at", now)


class Total:
    def __init__(self, factor: int = 1) -> None:
        self.factor = factor

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("total", ctx.read("quote") * self.factor + 1)


def plan(
    quote: Any = None, total: Any = None, order: tuple[str, str] | None = None
) -> ExecutionPlan:
    nodes = {
        "shop.quote.price": quote or Quote(fail_first=False),
        "shop.sum.total": total or Total(),
    }
    ids = order or ("shop.quote.price", "shop.sum.total")
    edges = [DependencyEdge(ids[0], ids[1])]
    return ExecutionPlan("shop", StateGraph([StateNode(i, nodes[i]) for i in ids], edges))


def real_run() -> list[str]:
    """A run on the stock asyncio loop with in-memory stores, exported as JSON lines."""

    async def go() -> tuple[Stores, Any]:
        stores = Stores(InMemoryArtifactStore(), InMemoryEventStore())
        cfg = RunConfig(retry_policy=RetryPolicy(3))
        manifest = RunManifest("shop", "1", {}, cfg)
        manifest_id = await stores.artifacts.put(
            ArtifactKind.MANIFEST, canonical_json_bytes(manifest.to_json())
        )
        the_plan = plan(Quote(fail_first=True))
        engine = DefaultExecutionEngine(
            StaticPlanResolver(the_plan), live_transport_factory=RatesFactory()
        )
        result = await engine.start(
            stores, StartRun(manifest, manifest_id, the_plan, cfg, {"amount": 7})
        )
        assert result.phase.value == "completed"
        return stores, result.run_id

    stores, run_id = asyncio.run(go())
    return export_run(stores, run_id)


LINES = real_run()


def test_export_carries_events_and_every_cited_artifact() -> None:
    records = [json.loads(line) for line in LINES]
    assert records[0]["format"] == "mfm-history/1"
    kinds = {r["kind"] for r in records if "artifact" in r}
    assert kinds == {"manifest", "context_snapshot", "fact_payload"}
    history = load_history(LINES)
    facts = [e for e in history.events if getattr(e.event, "name", None) == "fact_recorded"]
    assert len(facts) == 3  # the rate, and now_millis in attempts 0 and 1
    assert all(f.event.payload["payload_id"] in history.artifacts for f in facts)


def test_same_code_replays_without_divergence(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    report = replay_history(path, plan())
    assert report.ok, report.describe()
    assert report.attempts_replayed == 2  # the failed attempt is not replayed
    assert report.states == ("shop.quote.price", "shop.sum.total")
    assert "no divergence" in report.describe()


def test_a_changed_result_is_the_first_divergence() -> None:
    report = replay_history(LINES, plan(total=Total(factor=2)))
    d = report.divergence
    assert d is not None and d.kind == "snapshot"
    assert (d.state_id, d.attempt, d.keys) == ("shop.sum.total", 0, ("total",))
    assert "total: 43 now, 22 in the history" in d.message


def test_a_new_fact_is_a_missing_fact_with_its_key() -> None:
    report = replay_history(LINES, plan(quote=Quote(key="rate:eur:v2", fail_first=False)))
    d = report.divergence
    assert d is not None and d.kind == "missing_fact"
    assert d.key == "rate:eur:v2"
    assert d.state_id == "shop.quote.price" and d.attempt == 1


def test_another_state_order_is_reported() -> None:
    report = replay_history(LINES, plan(order=("shop.sum.total", "shop.quote.price")))
    d = report.divergence
    assert d is not None and d.kind == "state_order"
    assert d.seq == 2 and d.state_id == "shop.quote.price"


def test_a_removed_state_and_a_dropped_call() -> None:
    only_total = ExecutionPlan("shop", StateGraph([StateNode("shop.sum.total", Total())]))
    d = replay_history(LINES, only_total).divergence
    assert d is not None and d.kind == "state_not_in_plan"

    class NoCall(Quote):
        async def handle(self, ctx: Any, io: Any, events: Any) -> None:
            now = await io.now_millis()
            ctx.write("quote", 21)
            ctx.write("quoted_at", now)

    d = replay_history(LINES, plan(quote=NoCall())).divergence
    assert d is None  # the rate was recorded by attempt 0, whose outcome is not replayed

    class NoClock(Quote):
        async def handle(self, ctx: Any, io: Any, events: Any) -> None:
            rate = await io.call(IoCall("rates", {"currency": "eur"}, "rate:eur"))
            ctx.write("quote", 7 * rate["rate"])
            ctx.write("quoted_at", 0)

    d = replay_history(LINES, plan(quote=NoClock())).divergence
    assert d is not None and d.kind == "snapshot" and d.keys == ("quoted_at",)


def test_an_incomplete_export_is_refused() -> None:
    events_only = [line for line in LINES if '"artifact"' not in line]
    with pytest.raises(HistoryError, match="manifest"):
        replay_history(events_only, plan())
    with pytest.raises(HistoryError, match="not JSON"):
        load_history(["{oops"])
