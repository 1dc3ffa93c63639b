"""Shared helpers for the engine tests: plans from async functions, manifests, streams, fakes."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from mfm_engine import (
    ArtifactKind,
    DefaultExecutionEngine,
    DependencyEdge,
    DomainEvent,
    EngineFailpoints,
    EventEnvelope,
    EventProfile,
    ExecutionPlan,
    Fixed,
    FnState,
    InMemoryArtifactStore,
    InMemoryEventStore,
    IoCall,
    IoMode,
    JsonContext,
    RetryPolicy,
    RunCompleted,
    RunConfig,
    RunManifest,
    RunResult,
    StartRun,
    StateCompleted,
    StateEntered,
    StateError,
    StateFailed,
    StateGraph,
    StateMeta,
    StateNode,
    StaticPlanResolver,
    Stores,
)
from mfm_engine.errors import ErrorCategory, info
from mfm_engine.events import KERNEL_TYPES, envelope_to_json_line
from mfm_engine.hashing import canonical_json_bytes, contains_secrets
from mfm_engine.live_io import LiveIoEnv

T = TypeVar("T")

OP = "op"
S1, S2, S3 = "op.s.one", "op.s.two", "op.s.three"

BASE_CONFIG = RunConfig(
    io_mode=IoMode.LIVE,
    retry_policy=RetryPolicy(3, Fixed(timedelta(0))),
    event_profile=EventProfile.MINIMAL,
)


class Crash(BaseException):
    """Raised by a handler to simulate the process dying: it propagates out of the engine."""


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def new_stores() -> Stores:
    return Stores(InMemoryArtifactStore(), InMemoryEventStore())


def config(**changes: Any) -> RunConfig:
    import attrs

    return attrs.evolve(BASE_CONFIG, **changes)


# ------------------------------------------------------------------ plans

Handler = Callable[[Any, Any, Any], Awaitable[Any]]


async def noop(ctx: Any, io: Any, ev: Any) -> None:
    return None


async def write_x(ctx: Any, io: Any, ev: Any) -> None:
    ctx.write("x", 1)


async def call_k(ctx: Any, io: Any, ev: Any) -> None:
    """Calls `g` under the fact key "k" and writes the answer to "v"."""
    ctx.write("v", await io.call(IoCall("g", {}, "k")))


def flaky_once(key: str, value: Any) -> tuple[list[int], Handler]:
    """A handler that fails retryably (`flaky`) on its first call and then writes `key`; and
    the list of its calls."""
    calls: list[int] = []

    async def flaky(ctx: Any, io: Any, ev: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise state_error("flaky", retryable=True)
        ctx.write(key, value)

    return calls, flaky


def state_error(
    code: str = "boom", *, retryable: bool = False, message: str = "boom", details: Any = None
) -> StateError:
    """What a handler raises to fail its attempt."""
    return StateError(
        info(code, ErrorCategory.UNKNOWN, message, retryable=retryable, details=details)
    )


def node(state_id: str, handler: Handler = noop, tags: Iterable[str] = ()) -> StateNode:
    return StateNode(state_id, FnState(handler, StateMeta(tags=tuple(tags))))


def plan(
    *nodes: StateNode | tuple[str, Handler],
    op_id: str = OP,
    chain: bool = True,
    edges: Sequence[tuple[str, str]] | None = None,
) -> ExecutionPlan:
    """A plan from nodes (or `(state_id, handler)` pairs); by default a chain in the given order."""
    states = [n if isinstance(n, StateNode) else node(*n) for n in nodes]
    if edges is None:
        edges = [(a.id, b.id) for a, b in itertools.pairwise(states)] if chain else []
    return ExecutionPlan(op_id, StateGraph(states, [DependencyEdge(a, b) for a, b in edges]))


def manifest(
    cfg: RunConfig = BASE_CONFIG, op_id: str = OP, input_params: Any = None
) -> RunManifest:
    return RunManifest(op_id, "1", {} if input_params is None else input_params, cfg)


async def store_manifest(stores: Stores, m: RunManifest) -> str:
    """Store a manifest canonically and return its id."""
    return await stores.artifacts.put(ArtifactKind.MANIFEST, canonical_json_bytes(m.to_json()))


def make_engine(p: ExecutionPlan | None = None, **kwargs: Any) -> DefaultExecutionEngine:
    resolver = kwargs.pop("resolver", None) or StaticPlanResolver(p)
    return DefaultExecutionEngine(resolver, **kwargs)


async def start(
    stores: Stores,
    p: ExecutionPlan,
    cfg: RunConfig = BASE_CONFIG,
    initial: Any = None,
    *,
    engine: DefaultExecutionEngine | None = None,
    input_params: Any = None,
    **engine_kwargs: Any,
) -> RunResult:
    m = manifest(cfg, p.op_id, input_params)
    mid = await store_manifest(stores, m)
    eng = engine or make_engine(p, **engine_kwargs)
    ctx = (
        initial
        if initial is not None and not isinstance(initial, dict)
        else JsonContext(initial or {})
    )
    return await eng.start(stores, StartRun(m, mid, p, cfg, ctx))


def failpoint() -> EngineFailpoints:
    return EngineFailpoints(stop_after_handler_once=True)


# ------------------------------------------------------------------ streams


async def read_stream(stores: Stores, run_id: uuid.UUID) -> list[EventEnvelope]:
    return list(await stores.events.read_range(run_id, 1, None))


def events(stream: Sequence[EventEnvelope]) -> list[Any]:
    return [e.event for e in stream]


def kernel(stream: Sequence[EventEnvelope]) -> list[Any]:
    return [e.event for e in stream if isinstance(e.event, KERNEL_TYPES)]


def of_type(stream: Sequence[EventEnvelope], cls: type[T]) -> list[T]:
    return [e.event for e in stream if isinstance(e.event, cls)]


def attempts(stream: Sequence[EventEnvelope], state_id: str | None = None) -> list[int]:
    return [ev.attempt for ev in of_type(stream, StateEntered) if state_id in (None, ev.state_id)]


def domain(stream: Sequence[EventEnvelope], name: str | None = None) -> list[DomainEvent]:
    return [ev for ev in of_type(stream, DomainEvent) if name in (None, ev.name)]


def facts(stream: Sequence[EventEnvelope]) -> list[dict[str, Any]]:
    return [ev.payload for ev in domain(stream, "fact_recorded")]


def failures(stream: Sequence[EventEnvelope]) -> list[StateFailed]:
    return of_type(stream, StateFailed)


def completions(stream: Sequence[EventEnvelope]) -> list[StateCompleted]:
    return of_type(stream, StateCompleted)


def run_completed(stream: Sequence[EventEnvelope]) -> list[RunCompleted]:
    return of_type(stream, RunCompleted)


async def snapshot(stores: Stores, snapshot_id: str | None) -> Any:
    assert snapshot_id is not None
    return json.loads(await stores.artifacts.get(snapshot_id))


def all_runs(stores: Stores) -> list[uuid.UUID]:
    events_store = stores.events
    assert isinstance(events_store, InMemoryEventStore)
    return events_store.run_ids()


async def assert_nothing_secret(stores: Stores, *needles: str) -> None:
    """No event JSON and no artifact holds a secret (by the detector, and by literal needles)."""
    artifacts = stores.artifacts
    assert isinstance(artifacts, InMemoryArtifactStore)
    for rid in all_runs(stores):
        for env in await read_stream(stores, rid):
            line = envelope_to_json_line(env)
            assert not contains_secrets(json.loads(line)), line
            for needle in needles:
                assert needle not in line, line
    for aid, data in artifacts.data.items():
        text = data.decode("utf-8", "replace")
        for needle in needles:
            assert needle not in text, (aid, text)
        try:
            value = json.loads(data)
        except ValueError:
            continue
        assert not contains_secrets(value), (aid, text)


# ------------------------------------------------------------------ fakes


class CountingTransport:
    """A transport answering with `respond(call)`; records each call."""

    def __init__(self, respond: Callable[[IoCall], Any] | None = None) -> None:
        self.respond = respond or (lambda call: {"ok": True, "ns": call.namespace})
        self.calls: list[IoCall] = []

    async def call(self, call: IoCall) -> Any:
        self.calls.append(call)
        return self.respond(call)


class CountingFactory:
    """A transport factory that counts `make` and shares one `CountingTransport`."""

    def __init__(self, respond: Callable[[IoCall], Any] | None = None) -> None:
        self.transport = CountingTransport(respond)
        self.made: list[LiveIoEnv] = []

    def make(self, env: LiveIoEnv) -> CountingTransport:
        self.made.append(env)
        return self.transport

    @property
    def calls(self) -> list[IoCall]:
        return self.transport.calls


class FixedIds:
    def __init__(self, *ids: uuid.UUID) -> None:
        self._ids = list(ids)

    def new_run_id(self) -> uuid.UUID:
        return self._ids.pop(0)


class FixedClock:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def now_millis(self) -> int:
        return self.millis


class FixedEntropy:
    def __init__(self, byte: int = 0xAB) -> None:
        self.byte = byte

    def random_bytes(self, n: int) -> bytes:
        return bytes([self.byte]) * n


class WrongIdArtifactStore(InMemoryArtifactStore):
    """A broken store: `put` answers with an id that is not the content address."""

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        await super().put(kind, data)
        return "0" * 64


__all__ = [
    "BASE_CONFIG",
    "OP",
    "S1",
    "S2",
    "S3",
    "CountingFactory",
    "CountingTransport",
    "Crash",
    "FixedClock",
    "FixedEntropy",
    "FixedIds",
    "WrongIdArtifactStore",
    "all_runs",
    "assert_nothing_secret",
    "attempts",
    "call_k",
    "completions",
    "config",
    "domain",
    "events",
    "facts",
    "failpoint",
    "failures",
    "flaky_once",
    "kernel",
    "make_engine",
    "manifest",
    "new_stores",
    "node",
    "noop",
    "of_type",
    "plan",
    "read_stream",
    "run",
    "run_completed",
    "snapshot",
    "start",
    "state_error",
    "store_manifest",
    "write_x",
]
