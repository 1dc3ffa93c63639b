"""Operator mistakes: a start or resume made beside the main run with input the engine must
refuse before it writes anything (a plan it cannot run, a manifest that does not match, a
context that is not an object, a run id with no history, a wrong build's plan on resume).

A scenario lists them (`ScenarioRun.operator`); the runner makes each on a fresh engine of its
own (its own id stream, no transports) over the durable stores, with no fault point counted,
so the main run's schedule is what it would be without them. What each got, and whether the
durable stores changed, goes into the observation; the scenario's model predicts the refusal
and invariant 13 compares (`mfm_sim.invariants.operator_calls`).
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from mfm_engine.config import RunConfig, RunManifest
from mfm_engine.context import JsonContext
from mfm_engine.errors import ContextError, RunError
from mfm_engine.events import EventEnvelope, RunStarted
from mfm_engine.hashing import artifact_id_for_bytes, json_bytes_unchecked
from mfm_engine.plan import ExecutionPlan, StaticPlanResolver
from mfm_engine.runtime import DefaultExecutionEngine, StartRun
from mfm_engine.stores import ArtifactKind, ArtifactStore, Stores

from mfm_sim.errors import HarnessError
from mfm_sim.run.observation import OperatorOutcome, RaisedError
from mfm_sim.run.raised import raised_error
from mfm_sim.world.frames import raised_by_harness
from mfm_sim.world.loop import Deadlock, Runaway, SimLoop
from mfm_sim.world.sources import SimIds

if TYPE_CHECKING:
    from mfm_sim.run.incarnations import Simulation

__all__ = [
    "AFTER_CRASH",
    "BEFORE_START",
    "CONTEXT_FORMS",
    "OperatorCall",
    "make_calls",
    "resumable",
]

BEFORE_START = "before_start"  # before the main start: the store holds only the manifest
# After the first incarnation that died or failed and left the main run unfinished with a state
# entered: the operator restarts the process with the wrong build first.
AFTER_CRASH = "after_crash"
# How a start hands its initial context: the main run's value, left out (StartRun's default,
# an empty JsonContext), `context_value` as is, or wrapped in a JsonContext.
CONTEXT_FORMS = ("main", "omit", "value", "json_context")
_MAX_STEPS = 100_000  # a refusal takes a handful; a wrong engine that runs is cut short
_MAX_NS = 3600 * 10**9


@attrs.frozen
class OperatorCall:
    """One mistaken call. Unset parts are the main run's: its manifest (`manifest` None), the
    canonical id of the call's manifest (`manifest_id` None), its plan, the manifest's run
    config. A resume names the main run unless `run_id` is given; its engine resolves every
    manifest to `plan` (a wrong build) when given."""

    name: str
    call: str  # "start" | "resume"
    when: str = BEFORE_START
    manifest: RunManifest | None = None
    manifest_id: str | None = None
    store_manifest: bool = True  # the operator stored the call's manifest first
    plan: ExecutionPlan | None = None
    run_config: RunConfig | None = None
    context: str = "main"  # one of CONTEXT_FORMS
    # The start's context: a value, or a callable that builds it when the call is made (a value
    # that contains itself, which nothing before the engine should compare or copy).
    context_value: Any = None
    run_id: uuid.UUID | None = None
    # A resume of `run_id` over a log the operator wrote for it first (its `RunStarted` names
    # these manifest bytes, stored under their hash), taken away again after the call.
    recorded_manifest: bytes | None = None
    # With `recorded_manifest`: events that tool recorded after the `RunStarted` (seq 2, ...).
    recorded_events: tuple[Any, ...] = ()
    # A resume of `run_id` whose log the operator wrote first: one `RunStarted` naming this
    # JSON value, stored canonically, as its manifest (taken away again after the call).
    log_manifest: Any = None
    # A resume of `run_id` whose log the operator wrote first: one `RunStarted` naming
    # `manifest`, stored canonically, and this JSON value, stored canonically (or these bytes,
    # stored as they are), as its initial snapshot (taken away again after the call).
    log_snapshot: Any = None


class _DiskView:
    """The artifacts as a reader sees them now: corrupted bytes where a fault rotted them."""

    def __init__(self, inner: ArtifactStore, corrupted: Mapping[str, bytes]) -> None:
        self._inner = inner
        self._corrupted = corrupted

    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        return await self._inner.put(kind, data)

    async def get(self, artifact_id: str) -> bytes:
        rotten = self._corrupted.get(artifact_id)
        return rotten if rotten is not None else await self._inner.get(artifact_id)

    async def exists(self, artifact_id: str) -> bool:
        return await self._inner.exists(artifact_id)


def _durable_state(sim: Simulation, run_id: uuid.UUID | None) -> tuple[int, tuple[int, ...]]:
    """What a write would change, but appends to `run_id`'s stream (the call's run, whose
    appends are kept apart): the artifact count and every stream's length."""
    artifacts: dict[str, bytes] = sim.durable.artifacts.data  # type: ignore[attr-defined]
    streams = sim.durable.events.streams  # type: ignore[attr-defined]
    return len(artifacts), tuple(len(s) for r, s in streams.items() if r != run_id)


def _start_run(sim: Simulation, call: OperatorCall) -> StartRun:
    inst = sim.instance
    manifest = call.manifest or inst.manifest()
    data = json_bytes_unchecked(manifest.to_json())
    manifest_id = call.manifest_id or artifact_id_for_bytes(data)
    if call.store_manifest and call.manifest is not None:
        sim.durable.artifacts.data[artifact_id_for_bytes(data)] = data  # type: ignore[attr-defined]
    plan = call.plan or inst.plan
    cfg = call.run_config or manifest.run_config
    if call.context == "omit":
        return StartRun(manifest, manifest_id, plan, cfg)
    value: Any = dict(inst.initial_context) if call.context == "main" else call.context_value
    if callable(value):
        value = value()
    if call.context == "json_context":
        value = JsonContext(value)  # a non-object is refused right here, by the data type
    return StartRun(manifest, manifest_id, plan, cfg, value)


def _plant_log(
    sim: Simulation,
    run_id: uuid.UUID,
    manifest: bytes,
    op_id: str,
    at_ms: int,
    snapshot: bytes = b"{}",
    *,
    recorded: tuple[Any, ...] = (),
) -> list[str]:
    """Write a log under `run_id` (the operator's setup, no fault point): a `RunStarted` naming
    `manifest` and `snapshot` (an empty object unless given), stored as given, then the
    `recorded` events. Returns the artifact ids it added, for `_unplant`."""
    artifacts: dict[str, bytes] = sim.durable.artifacts.data  # type: ignore[attr-defined]
    added: list[str] = []
    ids = []
    for data in (manifest, snapshot):
        key = artifact_id_for_bytes(data)
        if key not in artifacts:
            artifacts[key] = data
            added.append(key)
        ids.append(key)
    started = RunStarted(op_id, ids[0], ids[1])
    envelopes = [EventEnvelope(run_id, seq, ev, at_ms) for seq, ev in enumerate(recorded, 2)]
    sim.durable.events.streams[run_id] = [EventEnvelope(run_id, 1, started, at_ms), *envelopes]  # type: ignore[attr-defined]
    return added


def _plant_recorded(sim: Simulation, call: OperatorCall) -> tuple[uuid.UUID, list[str]]:
    """`_plant_log` for a call's recorded run: its manifest, stored canonically, and initial
    snapshot, stored canonically or, given as bytes, as they are."""
    assert call.run_id is not None and call.manifest is not None
    manifest = json_bytes_unchecked(call.manifest.to_json())
    raw = call.log_snapshot
    snapshot = raw if isinstance(raw, bytes) else json_bytes_unchecked(raw)
    at_ms = sim.world.clock.now_ns // 1_000_000
    added = _plant_log(sim, call.run_id, manifest, call.manifest.op_id, at_ms, snapshot)
    return call.run_id, added


def _unplant(sim: Simulation, run_id: uuid.UUID, added: list[str]) -> None:
    """Take the planted log away again, so the main run's schedule is judged as it was."""
    sim.durable.events.streams.pop(run_id, None)  # type: ignore[attr-defined]
    for key in added:
        sim.durable.artifacts.data.pop(key, None)  # type: ignore[attr-defined]


def _one(sim: Simulation, call: OperatorCall, ids: SimIds) -> OperatorOutcome:
    world = sim.world
    run_id = call.run_id or sim.run_id
    planted: tuple[uuid.UUID, list[str]] | None = None
    if call.recorded_manifest is not None and run_id is not None:
        # A run another tool recorded, its manifest stored as that tool wrote it.
        data = call.recorded_manifest
        at_ms = world.clock.now_ns // 1_000_000
        op_id = str(json.loads(data)["op_id"])
        planted = run_id, _plant_log(sim, run_id, data, op_id, at_ms, recorded=call.recorded_events)
    head = len(sim.durable.events.streams.get(sim.run_id, ())) if sim.run_id else 0  # type: ignore[attr-defined]
    resolver = StaticPlanResolver(call.plan or sim.instance.plan)
    engine = DefaultExecutionEngine(
        resolver, ids=ids, clock=world.engine_clock, entropy=world.entropy
    )
    stores = Stores(_DiskView(sim.durable.artifacts, world.corrupted), sim.durable.events)
    loop = SimLoop(
        world.clock, None, max_steps=_MAX_STEPS, max_time_ns=world.clock.now_ns + _MAX_NS
    )
    if call.log_manifest is not None:
        # A run restored from another system's backup, whose manifest is no manifest.
        assert call.run_id is not None
        manifest = json_bytes_unchecked(call.log_manifest)
        planted = call.run_id, _plant_log(sim, call.run_id, manifest, sim.instance.plan.op_id, 0)
    if call.log_snapshot is not None:
        planted = _plant_recorded(sim, call)
    streams = sim.durable.events.streams  # type: ignore[attr-defined]
    known = len(streams.get(run_id, ()))
    read = tuple(streams.get(run_id, ())) if call.call == "resume" else ()
    before = _durable_state(sim, run_id)
    kind: str | None = None
    code: str | None = None
    raised: RaisedError | None = None
    category: str | None = None
    retryable: bool | None = None
    message: object = None
    subkind: str | None = None
    try:
        if call.call == "start":
            coro = engine.start(stores, _start_run(sim, call))
            before = _durable_state(sim, run_id)  # the operator's manifest put is not the engine's
        else:
            assert run_id is not None
            coro = engine.resume(stores, run_id)
        loop.run_until_complete(coro)
    except RunError as exc:
        kind, code, raised = _name(exc.kind), exc.info.code, raised_error(exc)
        category, retryable, message = (
            _name(exc.info.category),
            exc.info.retryable,
            exc.info.message,
        )
    except ContextError as exc:  # JsonContext refused the value before start was called
        kind, code, raised = "context", exc.info.code, raised_error(exc)
        category, retryable, message = (
            _name(exc.info.category),
            exc.info.retryable,
            exc.info.message,
        )
        subkind = _name(exc.kind)
    except (Deadlock, Runaway) as exc:
        kind, code = "untyped", type(exc).__name__
    except Exception as exc:
        if raised_by_harness(exc.__traceback__):
            raise HarnessError(
                f"harness failure in operator call {call.name} (seed {world.seed}): {exc!r}"
            ) from exc
        kind, code = "untyped", type(exc).__name__
    finally:
        sim.dead_tasks.extend(loop.kill())
    wrote = _durable_state(sim, run_id) != before
    appended = tuple(env.event for env in streams.get(run_id, ())[known:])
    if planted is not None:
        _unplant(sim, *planted)
    world.trace.add(-1, "operator", f"{call.call} {call.name}: {code or 'result'}")
    return OperatorOutcome(
        call.name,
        call.call,
        kind,
        code,
        wrote,
        head,
        raised,
        category,
        retryable,
        message,
        subkind,
        appended,
        call.plan or sim.instance.plan,
        read,
    )


def _name(member: object) -> str:
    """An engine enum member's value; anything else (a broken engine's) as its repr, for the
    oracle to judge rather than for the harness to trip on."""
    return member.value if isinstance(member, enum.Enum) else repr(member)


def make_calls(sim: Simulation, when: str) -> list[OperatorOutcome]:
    """Make the scenario's operator calls of moment `when`, in order."""
    calls = [c for c in sim.instance.operator if c.when == when]
    if not calls:
        return []
    ids = SimIds(sim.world.streams, "operator:ids")  # the main run's ids stay as drawn
    return [_one(sim, call, ids) for call in calls]


def resumable(sim: Simulation) -> bool:
    """The main run's durable log is unfinished and names a state: the moment an after-crash
    mistake is made (a wrong build's resume is then refused whatever the plan lacks)."""
    if sim.run_id is None:
        return False
    stream = sim.durable.events.streams.get(sim.run_id, ())  # type: ignore[attr-defined]
    names = {type(env.event).__name__ for env in stream}
    return "StateEntered" in names and "RunCompleted" not in names
