"""Child runs through live IO: spawn, await, deterministic ids, crashes around them, conflicts."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from mfm_engine import (
    ChildRunLiveIoTransportFactory,
    DefaultExecutionEngine,
    EngineFailpoints,
    ExecutionPlan,
    InMemoryArtifactStore,
    InMemoryEventStore,
    IoCall,
    IoError,
    JsonContext,
    RunManifest,
    RunPhase,
    RunStarted,
    StartRun,
    StateEntered,
    Stores,
)
from mfm_engine.errors import ErrorCategory
from mfm_engine.hashing import artifact_id_for_json, canonical_json_bytes
from mfm_engine.runtime.child_runs import AWAIT_KIND, AWAIT_NAMESPACE, SPAWN_KIND, SPAWN_NAMESPACE

from tests.engine.helpers import (
    BASE_CONFIG,
    CountingFactory,
    Crash,
    FixedIds,
    attempts,
    completions,
    facts,
    failures,
    kernel,
    manifest,
    new_stores,
    of_type,
    plan,
    read_stream,
    run,
    snapshot,
    store_manifest,
)

PARENT = uuid.UUID("00000000-0000-4000-8000-0000000000f0")
CHILD_OP, PARENT_OP = "child", "parent"
C1, P1 = "child.s.work", "parent.s.main"
SPAWN_KEY, AWAIT_KEY = "spawn:1", "await:1"


def spawn_request(seed: int = 1, op_id: str = CHILD_OP) -> dict[str, Any]:
    return {
        "kind": SPAWN_KIND,
        "op_id": op_id,
        "op_version": "1",
        "op_config": {"mode": "test"},
        "input": {"seed": seed},
        "run_config": BASE_CONFIG.to_json(),
        "initial_context": {"seed": seed},
    }


def await_request(child_run_id: str, spawn: dict[str, Any] | None) -> dict[str, Any]:
    req: dict[str, Any] = {"kind": AWAIT_KIND, "child_run_id": child_run_id}
    if spawn is not None:
        req["spawn"] = spawn
    return req


@attrs.define
class World:
    """What survives a crash: the stores, and counters kept by the test (not by the engine)."""

    stores: Stores = attrs.field(factory=new_stores)
    incarnation: int = 1
    child_entered: int = 0
    child_completed: int = 0
    crash_at: str | None = None
    child_hangs_once: bool = False
    parent_yields_after_spawn: bool = False
    seed: int = 1


class Resolver:
    def __init__(self, plans: dict[str, ExecutionPlan]) -> None:
        self.plans = plans

    def resolve(self, m: RunManifest) -> ExecutionPlan:
        return self.plans[m.op_id]


def plans_for(w: World) -> dict[str, ExecutionPlan]:
    async def child(ctx: Any, io: Any, ev: Any) -> None:
        w.child_entered += 1
        if w.child_hangs_once and w.incarnation == 1:
            await asyncio.sleep(3600)  # killed with its loop when the parent's process dies
        ctx.write("out", ctx.read("seed") * 10)
        w.child_completed += 1

    async def parent(ctx: Any, io: Any, ev: Any) -> None:
        req = spawn_request(w.seed)
        spawned = await io.call(IoCall(SPAWN_NAMESPACE, req, SPAWN_KEY))
        if w.parent_yields_after_spawn or w.child_hangs_once:
            for _ in range(100):
                await asyncio.sleep(0)
                if w.child_entered:
                    break
        if w.crash_at == "after_spawn" and w.incarnation == 1:
            raise Crash("after spawn")
        joined = await io.call(
            IoCall(AWAIT_NAMESPACE, await_request(spawned["child_run_id"], req), AWAIT_KEY)
        )
        if w.crash_at == "after_join" and w.incarnation == 1:
            raise Crash("after join")
        ctx.write("spawned", spawned)
        ctx.write("joined", joined)

    return {
        CHILD_OP: plan((C1, child), op_id=CHILD_OP),
        PARENT_OP: plan((P1, parent), op_id=PARENT_OP),
    }


def stack(
    w: World,
    plans: dict[str, ExecutionPlan] | None = None,
    inner: Any = None,
    child_failpoints: EngineFailpoints | None = None,
) -> tuple[DefaultExecutionEngine, ChildRunLiveIoTransportFactory]:
    """A fresh engine stack, as a (re)started process would build it."""
    resolver = Resolver(plans or plans_for(w))

    def engine_factory(factory: ChildRunLiveIoTransportFactory) -> DefaultExecutionEngine:
        return DefaultExecutionEngine(
            resolver, live_transport_factory=factory, failpoints=child_failpoints
        )

    factory = ChildRunLiveIoTransportFactory(inner, engine_factory)
    return DefaultExecutionEngine(
        resolver, live_transport_factory=factory, ids=FixedIds(PARENT)
    ), factory


async def start_parent(w: World, engine: DefaultExecutionEngine, op_id: str = PARENT_OP) -> Any:
    m = manifest(BASE_CONFIG, op_id)
    mid = await store_manifest(w.stores, m)
    p = engine.resolver.resolve(m)
    return await engine.start(w.stores, StartRun(m, mid, p, BASE_CONFIG, JsonContext({})))


def child_id(key: str = SPAWN_KEY, parent: uuid.UUID = PARENT) -> uuid.UUID:
    return uuid.uuid5(parent, key)


def assert_child_ran_once(w: World) -> None:
    assert w.child_completed == 1
    child_stream = run(read_stream(w.stores, child_id()))
    assert len(completions(child_stream)) == 1
    # A child's state is re-entered only to recover an orphan.
    for prev, nxt in zip(kernel(child_stream), kernel(child_stream)[1:], strict=False):
        if isinstance(nxt, StateEntered) and nxt.attempt > 0:
            assert failures(child_stream)[-1].error.code == "orphan_attempt_recovered"
            assert not isinstance(prev, StateEntered)


# ------------------------------------------------------------------ the happy path


def test_spawn_and_await_a_child() -> None:
    w = World()
    engine, _ = stack(w)
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.COMPLETED
    assert result.run_id == PARENT
    final = run(snapshot(w.stores, result.final_snapshot_id))
    cid = child_id()
    assert final["spawned"]["child_run_id"] == str(cid)
    joined = final["joined"]
    assert joined["status"] == "completed"
    assert joined["final_snapshot"] == {"seed": 1, "out": 10}
    assert run(snapshot(w.stores, joined["final_snapshot_id"])) == {"seed": 1, "out": 10}
    assert w.child_entered == w.child_completed == 1
    # Both calls were recorded as facts of the parent.
    assert [f["key"] for f in facts(run(read_stream(w.stores, PARENT)))] == [SPAWN_KEY, AWAIT_KEY]
    # The child's manifest is stored canonically and named by the child's RunStarted.
    child_stream = run(read_stream(w.stores, cid))
    started = of_type(child_stream, RunStarted)[0]
    assert started.op_id == CHILD_OP
    spawned = final["spawned"]
    assert spawned == {
        "parent_run_id": str(PARENT),
        "child_run_id": str(cid),
        "child_manifest_id": started.manifest_id,
        "child_initial_snapshot_id": started.initial_snapshot_id,
    }
    data = run(w.stores.artifacts.get(started.manifest_id))
    assert canonical_json_bytes(json.loads(data)) == data
    assert RunManifest.from_json(json.loads(data)).run_config == BASE_CONFIG


def test_child_ids_are_deterministic() -> None:
    assert child_id("a") == uuid.uuid5(PARENT, "a")
    assert child_id("a") != child_id("b")
    assert child_id("a") != child_id("a", uuid.UUID(int=1))
    ids = []
    for _ in range(2):
        w = World()
        engine, _ = stack(w)
        result = run(start_parent(w, engine))
        final = run(snapshot(w.stores, result.final_snapshot_id))
        ids.append(final["spawned"]["child_run_id"])
    assert ids == [str(child_id())] * 2


def test_nested_children_work() -> None:
    w = World()
    grandchild_runs: list[int] = []

    async def grandchild(ctx: Any, io: Any, ev: Any) -> None:
        grandchild_runs.append(1)
        ctx.write("g", True)

    async def middle(ctx: Any, io: Any, ev: Any) -> None:
        req = spawn_request(op_id="grand")
        spawned = await io.call(IoCall(SPAWN_NAMESPACE, req, "g"))
        joined = await io.call(
            IoCall(AWAIT_NAMESPACE, await_request(spawned["child_run_id"], None), "gj")
        )
        ctx.write("grand", joined["status"])

    plans = plans_for(w)
    plans[CHILD_OP] = plan((C1, middle), op_id=CHILD_OP)
    plans["grand"] = plan(("grand.s.work", grandchild), op_id="grand")
    engine, _ = stack(w, plans)
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.COMPLETED
    final = run(snapshot(w.stores, result.final_snapshot_id))
    assert final["joined"]["final_snapshot"] == {"seed": 1, "grand": "completed"}
    assert grandchild_runs == [1]
    assert run(w.stores.events.head_seq(uuid.uuid5(child_id(), "g"))) > 0


def test_other_namespaces_go_to_the_inner_factory() -> None:
    w = World()
    inner = CountingFactory(lambda c: {"inner": c.namespace})

    async def h(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write("v", await io.call(IoCall("chain.rpc", {}, "k")))

    plans = {PARENT_OP: plan((P1, h), op_id=PARENT_OP)}
    engine, _ = stack(w, plans, inner=inner)
    result = run(start_parent(w, engine))
    assert run(snapshot(w.stores, result.final_snapshot_id)) == {"v": {"inner": "chain.rpc"}}
    # Without an inner factory, another namespace is unknown.
    w2 = World()
    engine2, _ = stack(w2, plans)
    result2 = run(start_parent(w2, engine2))
    assert result2.phase is RunPhase.FAILED
    assert failures(run(read_stream(w2.stores, PARENT)))[0].error.code == "io_unknown_namespace"


# ------------------------------------------------------------------ crashes


def _crash_then_resume(w: World, *, reuse_stack: bool = False) -> Any:
    engine, _ = stack(w)
    with pytest.raises(Crash):
        run(start_parent(w, engine))
    w.incarnation = 2
    if not reuse_stack:
        engine, _factory = stack(w)
    result = run(engine.resume(w.stores, PARENT))
    assert result.phase is RunPhase.COMPLETED
    parent_stream = run(read_stream(w.stores, PARENT))
    assert attempts(parent_stream) == [0, 1]
    assert failures(parent_stream)[0].error.code == "orphan_attempt_recovered"
    assert [f["key"] for f in facts(parent_stream)] == [SPAWN_KEY, AWAIT_KEY]
    final = run(snapshot(w.stores, result.final_snapshot_id))
    assert final["joined"]["status"] == "completed"
    assert final["joined"]["final_snapshot"] == {"seed": 1, "out": 10}
    return result


@pytest.mark.parametrize("reuse_stack", [False, True], ids=["fresh_stack", "same_stack"])
def test_crash_after_spawn_with_fast_child(reuse_stack: bool) -> None:
    # A child that never suspends runs to its end in the loop's last iteration before teardown.
    w = World(crash_at="after_spawn")
    _crash_then_resume(w, reuse_stack=reuse_stack)
    assert w.child_entered == 1
    assert_child_ran_once(w)


class YieldOnGet(InMemoryArtifactStore):
    """A store that suspends in `get`: a freshly launched child stops there on its first step
    (start reads its manifest back before it writes anything)."""

    async def get(self, artifact_id: str) -> bytes:
        await asyncio.sleep(0)
        return await super().get(artifact_id)


@pytest.mark.parametrize("reuse_stack", [False, True], ids=["fresh_stack", "same_stack"])
def test_crash_after_spawn_before_child_wrote_anything(reuse_stack: bool) -> None:
    w = World(crash_at="after_spawn", stores=Stores(YieldOnGet(), InMemoryEventStore()))
    engine, _ = stack(w)
    with pytest.raises(Crash):
        run(start_parent(w, engine))
    # The child task died with the parent's loop before it wrote anything.
    assert run(w.stores.events.head_seq(child_id())) == 0
    assert w.child_entered == 0
    w.incarnation = 2
    if not reuse_stack:
        engine, _factory = stack(w)
    result = run(engine.resume(w.stores, PARENT))
    assert result.phase is RunPhase.COMPLETED
    assert run(snapshot(w.stores, result.final_snapshot_id))["joined"]["status"] == "completed"
    assert w.child_entered == 1
    assert_child_ran_once(w)


@pytest.mark.parametrize("reuse_stack", [False, True], ids=["fresh_stack", "same_stack"])
def test_crash_after_spawn_after_child_finished(reuse_stack: bool) -> None:
    w = World(crash_at="after_spawn", parent_yields_after_spawn=True)
    _crash_then_resume(w, reuse_stack=reuse_stack)
    assert w.child_entered == 1
    assert_child_ran_once(w)


@pytest.mark.parametrize("reuse_stack", [False, True], ids=["fresh_stack", "same_stack"])
def test_crash_after_spawn_while_child_is_mid_state(reuse_stack: bool) -> None:
    w = World(crash_at="after_spawn", child_hangs_once=True)
    _crash_then_resume(w, reuse_stack=reuse_stack)
    # The child died with the parent mid-state; it was re-entered only by orphan recovery.
    assert w.child_entered == 2
    assert_child_ran_once(w)
    child_stream = run(read_stream(w.stores, child_id()))
    assert attempts(child_stream) == [0, 1]
    assert [f.error.code for f in failures(child_stream)] == ["orphan_attempt_recovered"]


@pytest.mark.parametrize("reuse_stack", [False, True], ids=["fresh_stack", "same_stack"])
def test_crash_after_join(reuse_stack: bool) -> None:
    w = World(crash_at="after_join")
    before = None

    engine, _ = stack(w)
    with pytest.raises(Crash):
        run(start_parent(w, engine))
    before = run(read_stream(w.stores, child_id()))
    w.incarnation = 2
    if not reuse_stack:
        engine, _ = stack(w)
    result = run(engine.resume(w.stores, PARENT))
    assert result.phase is RunPhase.COMPLETED
    assert w.child_entered == 1
    assert_child_ran_once(w)
    # The join was answered from the record: the child's log did not change.
    assert run(read_stream(w.stores, child_id())) == before


# ------------------------------------------------------------------ refusals and failures


def _precreate_other_child(w: World) -> int:
    """A child run under `child_id()` started with another manifest; its stream's head."""
    plans = plans_for(w)

    async def precreate() -> int:
        other = manifest(BASE_CONFIG, CHILD_OP, {"something": "else"})
        mid = await store_manifest(w.stores, other)
        eng = DefaultExecutionEngine(Resolver(plans))
        start = StartRun(other, mid, plans[CHILD_OP], BASE_CONFIG, JsonContext({"seed": 5}))
        await eng.start_with_id(w.stores, start, child_id())
        return await w.stores.events.head_seq(child_id())

    return run(precreate())


def test_child_run_conflict_on_another_manifest() -> None:
    w = World()
    engine, _ = stack(w)
    _precreate_other_child(w)
    entered_before = w.child_entered
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.FAILED
    [failed] = failures(run(read_stream(w.stores, PARENT)))
    assert failed.error.code == "child_run_conflict"
    assert not failed.error.retryable
    assert w.child_entered == entered_before


def _failed_parent(w: World, namespace: str, request_: Any, key: str | None) -> Any:
    """Run a parent whose one state makes one call and fails for it: its one `StateFailed`."""
    plans = {PARENT_OP: plan((P1, _one_call(namespace, request_, key)), op_id=PARENT_OP)}
    engine, _ = stack(w, plans)
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.FAILED
    [failed] = failures(run(read_stream(w.stores, PARENT)))
    return failed


@pytest.mark.parametrize("recorded", ["spawn", "child_manifest_id"])
def test_await_refuses_a_stored_child_of_another_manifest(recorded: str) -> None:
    """Await checks the stored child's manifest against the one the spawn recorded (from the
    spawn request it carries, or the spawn response's `child_manifest_id`)."""
    w = World()
    head = _precreate_other_child(w)
    entered_before = w.child_entered
    req = await_request(str(child_id()), None)
    if recorded == "spawn":
        req["spawn"] = spawn_request()
    else:  # the id of the manifest spawn_request() describes
        m = manifest(BASE_CONFIG, CHILD_OP, {"op_config": {"mode": "test"}, "input": {"seed": 1}})
        req["child_manifest_id"] = artifact_id_for_json(m.to_json())
    failed = _failed_parent(w, AWAIT_NAMESPACE, req, AWAIT_KEY)
    assert failed.error.code == "child_run_conflict"
    assert failed.error.category is ErrorCategory.UNKNOWN and not failed.error.retryable
    # The child was neither resumed nor written to.
    assert run(w.stores.events.head_seq(child_id())) == head
    assert w.child_entered == entered_before


def test_await_with_the_spawn_responses_manifest_id_joins_the_child() -> None:
    w = World()

    async def parent(ctx: Any, io: Any, ev: Any) -> None:
        spawned = await io.call(IoCall(SPAWN_NAMESPACE, spawn_request(), SPAWN_KEY))
        req = await_request(spawned["child_run_id"], None)
        req["child_manifest_id"] = spawned["child_manifest_id"]
        ctx.write("joined", await io.call(IoCall(AWAIT_NAMESPACE, req, AWAIT_KEY)))

    plans = {**plans_for(w), PARENT_OP: plan((P1, parent), op_id=PARENT_OP)}
    engine, _ = stack(w, plans)
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.COMPLETED
    joined = run(snapshot(w.stores, result.final_snapshot_id))["joined"]
    assert joined["status"] == "completed"


def test_await_refuses_a_child_manifest_id_that_is_no_artifact_id() -> None:
    w = World()
    req = {**await_request(str(child_id()), None), "child_manifest_id": "not-an-id"}
    failed = _failed_parent(w, AWAIT_NAMESPACE, req, AWAIT_KEY)
    assert failed.error.code == "child_run_request_invalid"
    assert run(w.stores.events.head_seq(child_id())) == 0


def test_child_left_running_by_failpoint_is_reported_failed() -> None:
    w = World()
    engine, _ = stack(w, child_failpoints=EngineFailpoints(True))
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.COMPLETED
    final = run(snapshot(w.stores, result.final_snapshot_id))
    joined = final["joined"]
    assert joined["status"] == "failed"
    child_stream = run(read_stream(w.stores, child_id()))
    started = of_type(child_stream, RunStarted)[0]
    assert joined["final_snapshot_id"] == started.initial_snapshot_id
    assert joined["final_snapshot"] == {"seed": 1}
    # The child really is unfinished.
    assert attempts(child_stream) == [0] and completions(child_stream) == []


def test_spawn_of_an_unfinished_child_with_the_same_manifest_resumes_it() -> None:
    from mfm_engine.runtime.child_runs import _spawn_manifest

    w = World()
    plans = plans_for(w)

    async def precreate() -> Any:
        m, initial = _spawn_manifest(spawn_request(w.seed))
        mid = await store_manifest(w.stores, m)
        eng = DefaultExecutionEngine(Resolver(plans), failpoints=EngineFailpoints(True))
        start = StartRun(m, mid, plans[CHILD_OP], m.run_config, JsonContext(initial))
        return await eng.start_with_id(w.stores, start, child_id())

    first = run(precreate())
    assert first.phase is RunPhase.RUNNING
    assert (w.child_entered, w.child_completed) == (1, 1)  # the failpoint dropped its result
    engine, _ = stack(w, plans)
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.COMPLETED
    joined = run(snapshot(w.stores, result.final_snapshot_id))["joined"]
    assert joined["status"] == "completed"
    assert joined["final_snapshot"] == {"seed": 1, "out": 10}
    child_stream = run(read_stream(w.stores, child_id()))
    assert attempts(child_stream) == [0, 1]
    assert len(of_type(child_stream, RunStarted)) == 1
    assert len(completions(child_stream)) == 1


def test_failed_child_is_reported_failed() -> None:
    w = World()

    async def bad(ctx: Any, io: Any, ev: Any) -> None:
        raise KeyError("child broke")

    plans = plans_for(w)
    plans[CHILD_OP] = plan((C1, bad), op_id=CHILD_OP)
    engine, _ = stack(w, plans)
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.COMPLETED
    joined = run(snapshot(w.stores, result.final_snapshot_id))["joined"]
    assert joined["status"] == "failed"


def _one_call(namespace: str, request: Any, key: str | None) -> Callable[..., Any]:
    async def h(ctx: Any, io: Any, ev: Any) -> None:
        ctx.write("r", await io.call(IoCall(namespace, request, key)))

    return h


@pytest.mark.parametrize(
    ("namespace", "request_", "key", "code"),
    [
        (SPAWN_NAMESPACE, spawn_request(), None, "missing_fact_key"),
        (AWAIT_NAMESPACE, await_request(str(uuid.UUID(int=7)), None), None, "missing_fact_key"),
        (SPAWN_NAMESPACE, {"kind": "nope"}, "k", "child_run_request_invalid"),
        (SPAWN_NAMESPACE, {"kind": SPAWN_KIND}, "k", "child_run_request_invalid"),
        (
            SPAWN_NAMESPACE,
            {**spawn_request(), "initial_context": [1]},
            "k",
            "child_run_request_invalid",
        ),
        (
            AWAIT_NAMESPACE,
            {"kind": AWAIT_KIND, "child_run_id": "not-a-uuid"},
            "k",
            "child_run_request_invalid",
        ),
        (AWAIT_NAMESPACE, {"kind": AWAIT_KIND}, "k", "child_run_request_invalid"),
        (AWAIT_NAMESPACE, await_request(str(uuid.UUID(int=7)), None), "k", "run_not_found"),
    ],
)
def test_bad_child_run_requests(namespace: str, request_: Any, key: str | None, code: str) -> None:
    w = World()
    plans = {PARENT_OP: plan((P1, _one_call(namespace, request_, key)), op_id=PARENT_OP)}
    engine, _ = stack(w, plans)
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.FAILED
    assert {f.error.code for f in failures(run(read_stream(w.stores, PARENT)))} == {code}


def test_await_starts_an_unstarted_child_from_its_spawn_request() -> None:
    w = World()
    cid = uuid.uuid4()
    plans = plans_for(w)
    plans[PARENT_OP] = plan(
        (P1, _one_call(AWAIT_NAMESPACE, await_request(str(cid), spawn_request(3)), "k")),
        op_id=PARENT_OP,
    )
    engine, _ = stack(w, plans)
    result = run(start_parent(w, engine))
    assert result.phase is RunPhase.COMPLETED
    joined = run(snapshot(w.stores, result.final_snapshot_id))["r"]
    assert joined["status"] == "completed"
    assert joined["final_snapshot"] == {"seed": 3, "out": 30}
    assert run(w.stores.events.head_seq(cid)) > 0


def test_spawn_errors_are_io_errors() -> None:
    w = World()
    _engine, factory = stack(w)
    from mfm_engine.live_io import LiveIoEnv

    env = LiveIoEnv(PARENT, P1, 0, w.stores, BASE_CONFIG)
    transport = factory.make(env)
    with pytest.raises(IoError) as err:
        run(transport.call(IoCall(SPAWN_NAMESPACE, spawn_request(), None)))
    assert err.value.info.code == "missing_fact_key"
