"""Engine-API oracle of the mutation sweep: the engine driven directly, outside the simulator.

The simulator starts only well-formed runs of well-formed plans, never uses failpoints, and
keeps only the phase and snapshot of the `RunResult`s it gets. Mutation testing
(docs/mutation.md) showed what the 13 invariants cannot see for that reason:

* **refusals**: the error kind, code, category and message of every way `start`/`resume`
  refuse bad input (validation, a missing or corrupt manifest, a malformed log);
* **return values**: the `run_id`, phase and snapshot of every `RunResult` return path
  (failpoint stop, finished run, a run whose `RunCompleted` was lost, COMPLETED and FAILED);
* **what the engine hands on**: the failpoints, entropy, event profile and attempt identity
  (`LiveIoEnv`, derived fact keys, replay lookups) it gives the attempt, and the state id it
  fills into a handler's `StateError`;
* **resume timing**: an orphan is retried after the backoff of the orphaned attempt; a
  retryable failure found in the log is retried at once, as `seed/runtime.rs` does;
* **planning cost**: one `start` or `resume` orders its plan at most once (the
  `validated_order` memo), also in a fresh process whose memo is cold.

`api_violations(scenario, seed)` derives every input from that seed's scenario instance (its
op id, state ids and edges, run config, manifest and initial context) and runs the checks on
a stock asyncio loop with in-memory stores; only the timing checks run on a `SimLoop`, whose
virtual clock makes a backoff measurable without waiting for it. The expected errors are
written out below (`_REFUSALS`), taken from ENGINE.md and the seed; they are the contract, so
they are not read from the engine.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import attrs
from mfm_engine.config import (
    Backoff,
    EventProfile,
    ExecutionMode,
    Exponential,
    FanOutJoin,
    Fixed,
    IoMode,
    RetryPolicy,
    RunConfig,
    RunManifest,
)
from mfm_engine.errors import (
    ContextError,
    ContextErrorKind,
    ErrorCategory,
    RunError,
    RunErrorKind,
    StateError,
    StorageError,
    StorageErrorKind,
    info,
)
from mfm_engine.events import (
    FACT_RECORDED,
    DomainEvent,
    Event,
    EventEnvelope,
    RunCompleted,
    RunPhase,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from mfm_engine.hashing import artifact_id_for_bytes, canonical_json_bytes
from mfm_engine.live_io import IoCall, LiveIoEnv
from mfm_engine.meta import StateMeta
from mfm_engine.plan import ExecutionPlan, StateGraph, StateNode, topological_order
from mfm_engine.runtime import DefaultExecutionEngine, EngineFailpoints, RunResult, StartRun
from mfm_engine.stores import InMemoryArtifactStore, InMemoryEventStore, Stores

from mfm_sim.run.scenario import ScenarioRun, get_scenario
from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.loop import SimLoop
from mfm_sim.world.rng import Streams

# The runtime module whose plan-order memo is checked; looked up by name so that mutmut's
# copy (`mutants/engine/...`) is the one patched when the sweep runs there.
_ENGINE_MODULE = "mfm_engine.runtime.engine"

RUN_ID = uuid.UUID("00000000-0000-4000-8000-0000000a9100")
OTHER_RUN_ID = uuid.UUID("00000000-0000-4000-8000-0000000a9101")
NOW_MS = 1_700_000_000_000  # what the probe clock says; every timestamp must be this
GHOST_STATE = "ghost.state.unplanned"
PRESET_STATE = "probe.preset.state"
TIMING_LOOP_STEPS = 200_000


@attrs.frozen
class Refusal:
    """What a refusal must look like: a `RunError` with exactly this kind and info."""

    kind: RunErrorKind
    code: str
    category: ErrorCategory
    message: str
    prefix: bool = False  # the message continues with details (the exception's text)
    # The typed error the engine wrapped, chained as `__cause__`: how a caller tells a
    # missing artifact from a corrupt one, since `RunError.kind` only says STORAGE.
    cause: StorageErrorKind | ContextErrorKind | None = None

    def problems(self, exc: BaseException) -> list[str]:
        if type(exc) is not RunError:
            return [f"raised {type(exc).__name__}: {exc}"]
        out: list[str] = []
        got = exc.info
        if exc.kind is not self.kind:
            out.append(f"kind {exc.kind} (want {self.kind})")
        if got.code != self.code:
            out.append(f"code {got.code!r} (want {self.code!r})")
        if got.category is not self.category:
            out.append(f"category {got.category} (want {self.category})")
        if got.retryable is not False:
            out.append(f"retryable {got.retryable!r} (a refusal is final)")
        ok = (
            isinstance(got.message, str) and got.message.startswith(self.message)
            if self.prefix
            else got.message == self.message
        )
        if not ok:
            out.append(f"message {got.message!r} (want {self.message!r})")
        if self.cause is not None:
            cause = exc.__cause__
            if not isinstance(cause, (StorageError, ContextError)) or cause.kind is not self.cause:
                kind = getattr(cause, "kind", None)
                out.append(f"wrapped {type(cause).__name__} kind {kind} (want {self.cause})")
        return out


def _plan_refusal(code: str, message: str, *, prefix: bool = False) -> Refusal:
    return Refusal(RunErrorKind.INVALID_PLAN, code, ErrorCategory.UNKNOWN, message, prefix)


# The contract: ENGINE.md "Start and resume" and "Attempt envelopes", seed/runtime.rs.
_REFUSALS: dict[str, Refusal] = {
    "unsupported_execution_mode": _plan_refusal(
        "unsupported_execution_mode", "execution_mode FanOutJoin is not supported"
    ),
    "manifest_float": _plan_refusal(
        "manifest_not_canonical",
        "run manifest is not canonical-json-hashable (floats are forbidden)",
    ),
    "manifest_secret": _plan_refusal(
        "secrets_detected", "run manifest contained secrets (policy forbids persisting secrets)"
    ),
    # Not JSON (a Python-only case): the seed's one not-canonical refusal.
    "manifest_not_json": _plan_refusal(
        "manifest_not_canonical",
        "run manifest is not canonical-json-hashable (floats are forbidden)",
    ),
    "manifest_id_mismatch": _plan_refusal(
        "manifest_id_mismatch", "manifest_id did not match canonical JSON hash of the manifest"
    ),
    "manifest_op_id_mismatch": _plan_refusal(
        "manifest_op_id_mismatch", "manifest.op_id did not match plan.op_id"
    ),
    "run_config_mismatch": _plan_refusal(
        "run_config_mismatch", "run_config did not match manifest.run_config"
    ),
    "manifest_not_found": Refusal(
        RunErrorKind.STORAGE,
        "manifest_not_found",
        ErrorCategory.STORAGE,
        "manifest artifact was not found",
        cause=StorageErrorKind.NOT_FOUND,
    ),
    "run_not_found": Refusal(
        RunErrorKind.STORAGE,
        "run_not_found",
        ErrorCategory.STORAGE,
        "run event stream was not found",
        cause=StorageErrorKind.NOT_FOUND,
    ),
    "manifest_corrupt": Refusal(
        RunErrorKind.STORAGE,
        "manifest_corrupt",
        ErrorCategory.STORAGE,
        "manifest artifact content hash mismatch",
        cause=StorageErrorKind.CORRUPTION,
    ),
    "manifest_deserialize_failed": Refusal(
        RunErrorKind.CONTEXT,
        "manifest_deserialize_failed",
        ErrorCategory.CONTEXT,
        "failed to deserialize manifest",
        cause=ContextErrorKind.SERIALIZATION,
    ),
    # ENGINE.md "Later checks": every JSON artifact read back is re-validated.
    "artifact_json_decode_failed": Refusal(
        RunErrorKind.STORAGE,
        "artifact_json_decode_failed",
        ErrorCategory.STORAGE,
        "artifact ",
        prefix=True,
        cause=StorageErrorKind.CORRUPTION,
    ),
    "run_started_op_id_mismatch": _plan_refusal(
        "run_started_op_id_mismatch", "RunStarted.op_id did not match manifest.op_id"
    ),
    "plan_op_id_mismatch": _plan_refusal(
        "plan_op_id_mismatch", "resolved plan.op_id did not match manifest.op_id"
    ),
    "recovery_state_not_in_plan": _plan_refusal(
        "recovery_state_not_in_plan", f"history names state {GHOST_STATE} not in the plan"
    ),
    "invalid_attempt_envelopes": _plan_refusal(
        "invalid_attempt_envelopes", "invalid attempt envelopes in event stream"
    ),
    "run_id_mismatch": _plan_refusal("run_id_mismatch", "event stream run_id mismatch"),
    "missing_run_started": _plan_refusal("missing_run_started", "missing RunStarted kernel event"),
}


def derived_key(kind: str, run_id: uuid.UUID, state_id: str, attempt: int, ordinal: int) -> str:
    """ENGINE.md: `mfm:{kind}|run:{run_id}|state:{state_id}|attempt:{n}|ord:{k}`."""
    return f"mfm:{kind}|run:{run_id}|state:{state_id}|attempt:{attempt}|ord:{ordinal}"


def first_backoff_ms(backoff: Backoff) -> int:
    """ENGINE.md `compute_backoff(policy, 0)`: Fixed: the delay; Exponential: min(base, max)."""
    if isinstance(backoff, Fixed):
        delay = backoff.delay
    else:
        assert isinstance(backoff, Exponential)
        delay = min(backoff.base_delay, backoff.max_delay)
    return delay // timedelta(milliseconds=1)


# ------------------------------------------------------------------ what the engine is given


class _FixedIds:
    def new_run_id(self) -> uuid.UUID:
        return RUN_ID


class _FixedClock:
    def now_millis(self) -> int:
        return NOW_MS


class _CountingEntropy:
    """Deterministic bytes that remember being issued, so a substitute entropy is noticed."""

    def __init__(self) -> None:
        self.issued: list[bytes] = []

    def random_bytes(self, n: int) -> bytes:
        out = bytes((len(self.issued) * 7 + i + 1) % 256 for i in range(n))
        self.issued.append(out)
        return out


class _EchoTransport:
    async def call(self, call: IoCall) -> Any:
        return {"echo": call.request}


class _RecordingFactory:
    """A live transport factory that keeps every `LiveIoEnv` the engine hands it."""

    def __init__(self) -> None:
        self.envs: list[LiveIoEnv] = []

    def make(self, env: LiveIoEnv) -> _EchoTransport:
        self.envs.append(env)
        return _EchoTransport()


class _IoProbe:
    """Reads the clock and entropy, makes one keyed call and emits one domain event."""

    def __init__(self, state_id: str) -> None:
        self.state_id = state_id

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        now = await io.now_millis()
        noise = await io.random_bytes(4)
        echo = await io.call(IoCall("probe", {"state": self.state_id}, f"probe:{self.state_id}"))
        events.emit("probe_note", {"state": self.state_id})
        ctx.write(self.state_id, {"now": now, "noise": noise.hex(), "echo": echo})


class _Raiser:
    """Raises the prepared `StateError`s in turn and keeps them, to see what the engine filled
    in: the retryable one has no state id (the engine fills it), the last a preset one."""

    def __init__(self, state_id: str) -> None:
        self.state_id = state_id
        self.raised: list[StateError] = []
        self.pending = [
            StateError(info("probe_retry", ErrorCategory.RPC, "try again", retryable=True)),
            StateError(info("probe_fatal", ErrorCategory.UNKNOWN, "give up"), PRESET_STATE),
        ]

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        exc = self.pending.pop(0)
        self.raised.append(exc)
        raise exc


class _Resolver:
    def __init__(self, plan: ExecutionPlan) -> None:
        self.plan = plan

    def resolve(self, manifest: RunManifest) -> ExecutionPlan:
        return self.plan


# ------------------------------------------------------------------ helpers


def _manifest_bytes(manifest: RunManifest) -> bytes:
    return canonical_json_bytes(manifest.to_json())


def _stores(*artifacts: bytes) -> Stores:
    stores = Stores(InMemoryArtifactStore(), InMemoryEventStore())
    for data in artifacts:
        stores.artifacts.data[artifact_id_for_bytes(data)] = data  # type: ignore[attr-defined]
    return stores


def _seed_log(stores: Stores, run_id: uuid.UUID, events: Sequence[Event]) -> None:
    """Write a log as a store would hold it (no engine in between: that is the point)."""
    envs = [EventEnvelope(run_id, seq, ev, 0) for seq, ev in enumerate(events, start=1)]
    stores.events.streams[run_id] = envs  # type: ignore[attr-defined]


def _contents(stores: Stores) -> tuple[dict[str, bytes], dict[uuid.UUID, tuple[Any, ...]]]:
    arts: dict[str, bytes] = dict(stores.artifacts.data)  # type: ignore[attr-defined]
    streams = {k: tuple(v) for k, v in stores.events.streams.items()}  # type: ignore[attr-defined]
    return arts, streams


def _stream(stores: Stores, run_id: uuid.UUID) -> list[EventEnvelope]:
    return list(stores.events.streams.get(run_id, ()))  # type: ignore[attr-defined]


def _snapshot(stores: Stores, snapshot_id: str | None) -> Any:
    data = stores.artifacts.data.get(snapshot_id) if snapshot_id else None  # type: ignore[attr-defined]
    return None if data is None else json.loads(data)


def _without_last(stores: Stores, run_id: uuid.UUID) -> Stores:
    """The same run, as if the process had died just before its `RunCompleted` was durable."""
    cut = Stores(stores.artifacts, InMemoryEventStore())
    cut.events.streams[run_id] = _stream(stores, run_id)[:-1]  # type: ignore[attr-defined]
    return cut


@contextmanager
def _plan_orders() -> Iterator[list[ExecutionPlan]]:
    """Count the engine's calls of `topological_order`, starting from a cold memo (what a
    fresh process has; mutmut forks every mutant from a warm one, so this is explicit)."""
    module = importlib.import_module(_ENGINE_MODULE)
    real = module.topological_order
    calls: list[ExecutionPlan] = []

    def counting(plan: ExecutionPlan) -> Any:
        calls.append(plan)
        return real(plan)

    module._last_order = None
    module.topological_order = counting
    try:
        yield calls
    finally:
        module.topological_order = real


def _same_result(got: Any, run_id: uuid.UUID, phase: RunPhase, snap: str | None) -> str | None:
    want = RunResult(run_id, phase, snap)
    if not isinstance(got, RunResult) or got != want:
        return f"returned {got!r}, want {want!r}"
    return None


# ------------------------------------------------------------------ the checks


class _Checks:
    def __init__(self, instance: ScenarioRun) -> None:
        self.out: list[str] = []
        self.instance = instance
        inst = instance
        self.plan = inst.plan
        self.op_id = inst.plan.op_id
        self.manifest = inst.manifest()
        self.manifest_data = _manifest_bytes(self.manifest)
        self.manifest_id = artifact_id_for_bytes(self.manifest_data)
        self.initial = dict(inst.initial_context)
        order = [n.id for n in topological_order(inst.plan)]
        self.first = order[0]
        self.state_ids = order
        # Probe runs: the instance's shape and knobs, with probe handlers, live IO, nothing
        # skipped, room for a retry and (off the virtual loop) no backoff to wait for.
        cfg = inst.run_config
        policy = RetryPolicy(max(2, cfg.retry_policy.max_attempts), cfg.retry_policy.backoff)
        self.timed_cfg = RunConfig(
            io_mode=IoMode.LIVE,
            retry_policy=policy,
            event_profile=cfg.event_profile,
            execution_mode=ExecutionMode.SEQUENTIAL,
            skip_tags=(),
        )
        self.probe_cfg = attrs.evolve(self.timed_cfg, retry_policy=RetryPolicy(policy.max_attempts))

    def fail(self, case: str, problem: str) -> None:
        self.out.append(f"api_contract: {case}: {problem}")

    def engine(self, plan: ExecutionPlan, **kw: Any) -> DefaultExecutionEngine:
        kw.setdefault("ids", _FixedIds())
        kw.setdefault("clock", _FixedClock())
        kw.setdefault("entropy", _CountingEntropy())
        return DefaultExecutionEngine(_Resolver(plan), **kw)

    def probe_plan(self, make: Callable[[str], Any] = _IoProbe) -> ExecutionPlan:
        nodes = [StateNode(n.id, make(n.id)) for n in self.plan.graph.states]
        return ExecutionPlan(self.op_id, StateGraph(nodes, self.plan.graph.edges))

    def probe_manifest(self, cfg: RunConfig) -> tuple[RunManifest, bytes, str]:
        manifest = attrs.evolve(self.manifest, run_config=cfg)
        data = _manifest_bytes(manifest)
        return manifest, data, artifact_id_for_bytes(data)

    async def refused(self, case: str, stores: Stores, call: Awaitable[Any]) -> None:
        want = _REFUSALS[case]
        before = _contents(stores)
        try:
            got = await call
        except Exception as exc:
            for problem in want.problems(exc):
                self.fail(case, problem)
        else:
            self.fail(case, f"returned {got!r} instead of refusing with {want.code}")
        if _contents(stores) != before:
            self.fail(case, "wrote to the stores while refusing")

    # -------------------------------------------------------------- start refusals

    async def start_refusals(self) -> None:
        inst, manifest, plan = self.instance, self.manifest, self.plan
        cfg = inst.run_config

        def start(m: RunManifest, mid: str | None = None, rc: RunConfig | None = None) -> Any:
            mid = mid if mid is not None else artifact_id_for_bytes(_manifest_bytes(m))
            run = StartRun(m, mid, plan, rc or m.run_config, self.initial)
            return self.engine(plan).start(stores, run)

        fan = attrs.evolve(cfg, execution_mode=FanOutJoin(2))
        stores = _stores(_manifest_bytes(attrs.evolve(manifest, run_config=fan)))
        await self.refused(
            "unsupported_execution_mode", stores, start(attrs.evolve(manifest, run_config=fan))
        )
        bad_inputs = {
            "manifest_float": {"params": inst.input_params, "ratio": 0.5},
            "manifest_secret": {"params": inst.input_params, "password": "hunter2"},
            "manifest_not_json": {"params": inst.input_params, "tags": {1, 2}},
        }
        for case, params in bad_inputs.items():
            stores = _stores(self.manifest_data)
            bad = attrs.evolve(manifest, input_params=params)
            await self.refused(case, stores, start(bad, self.manifest_id))
        stores = _stores(self.manifest_data)
        wrong_id = artifact_id_for_bytes(b"not this manifest")
        await self.refused("manifest_id_mismatch", stores, start(manifest, wrong_id))
        other_op = attrs.evolve(manifest, op_id=f"{self.op_id}_other")
        stores = _stores(_manifest_bytes(other_op))
        await self.refused("manifest_op_id_mismatch", stores, start(other_op))
        stores = _stores(self.manifest_data)
        policy = cfg.retry_policy
        other_cfg = attrs.evolve(
            cfg, retry_policy=RetryPolicy(policy.max_attempts + 1, policy.backoff)
        )
        await self.refused("run_config_mismatch", stores, start(manifest, rc=other_cfg))
        stores = _stores()
        await self.refused("manifest_not_found", stores, start(manifest))

    # -------------------------------------------------------------- resume refusals

    async def resume_refusals(self) -> None:
        snap_data = canonical_json_bytes(self.initial)
        snap = artifact_id_for_bytes(snap_data)
        started = RunStarted(self.op_id, self.manifest_id, snap)
        entered = StateEntered(self.first, 0, snap)
        failed = StateFailed(self.first, info("probe", ErrorCategory.UNKNOWN, "x", retryable=True))
        engine = self.engine(self.plan)

        async def resume(case: str, events: Sequence[Event], *artifacts: bytes) -> None:
            stores = _stores(self.manifest_data, snap_data, *artifacts)
            if events:
                _seed_log(stores, RUN_ID, events)
            await self.refused(case, stores, engine.resume(stores, RUN_ID))

        await resume("run_not_found", [])
        # The manifest's bytes rotted in the store: they no longer hash to their id.
        stores = _stores(snap_data)
        stores.artifacts.data[self.manifest_id] = self.manifest_data + b" "  # type: ignore[attr-defined]
        _seed_log(stores, RUN_ID, [started])
        await self.refused("manifest_corrupt", stores, engine.resume(stores, RUN_ID))
        # Bytes that hash to their id but are no manifest: JSON of another shape, and not JSON.
        for case, junk in (
            ("manifest_deserialize_failed", canonical_json_bytes({"not": "a manifest"})),
            ("artifact_json_decode_failed", b"\xffnot json"),
        ):
            log = [RunStarted(self.op_id, artifact_id_for_bytes(junk), snap)]
            await resume(case, log, junk)
        await resume(
            "run_started_op_id_mismatch",
            [RunStarted(f"{self.op_id}_other", self.manifest_id, snap)],
        )
        stores = _stores(self.manifest_data, snap_data)
        _seed_log(stores, RUN_ID, [started])
        renamed = ExecutionPlan(f"{self.op_id}_other", self.plan.graph)
        await self.refused(
            "plan_op_id_mismatch", stores, self.engine(renamed).resume(stores, RUN_ID)
        )
        await resume("recovery_state_not_in_plan", [started, StateEntered(GHOST_STATE, 0, snap)])
        await resume(
            "invalid_attempt_envelopes", [started, entered, StateEntered(self.first, 1, snap)]
        )
        await resume("invalid_attempt_envelopes", [started, failed])
        # A store that hands back another run's stream under this run's id.
        stores = _stores(self.manifest_data, snap_data)
        _seed_log(stores, OTHER_RUN_ID, [started])
        stores.events.streams[RUN_ID] = stores.events.streams.pop(OTHER_RUN_ID)  # type: ignore[attr-defined]
        await self.refused("run_id_mismatch", stores, engine.resume(stores, RUN_ID))
        await resume("missing_run_started", [entered, StateCompleted(self.first, snap)])
        await resume("missing_run_started", [DomainEvent("probe_note", {})])

    # -------------------------------------------------------------- valid runs

    async def live_run(self) -> None:
        """Failpoint stop, orphan recovery, finished run and lost `RunCompleted`, live IO."""
        case = "live_run"
        plan = self.probe_plan()
        manifest, data, mid = self.probe_manifest(self.probe_cfg)
        stores = _stores(data)
        failpoints = EngineFailpoints(stop_after_handler_once=True)
        factory = _RecordingFactory()
        entropy = _CountingEntropy()
        engine = self.engine(
            plan, live_transport_factory=factory, failpoints=failpoints, entropy=entropy
        )
        calls: list[tuple[str, int, int]] = []  # (call, plan orderings, expected)

        with _plan_orders() as orders:
            stopped = await engine.start(
                stores, StartRun(manifest, mid, plan, self.probe_cfg, self.initial)
            )
            calls.append(("start", len(orders), 1))
        log = _stream(stores, RUN_ID)
        initial = log[0].event.initial_snapshot_id if log else None
        if (problem := _same_result(stopped, RUN_ID, RunPhase.RUNNING, initial)) is not None:
            self.fail(case, f"start with stop_after_handler_once {problem}")
        if failpoints.stop_after_handler_once:
            self.fail(case, "the failpoint was not cleared when it fired")
        if any(isinstance(e.event, (StateCompleted, StateFailed)) for e in log):
            self.fail(case, "a terminal event was written after the failpoint stop")

        with _plan_orders() as orders:
            done = await engine.resume(stores, RUN_ID)
            calls.append(("resume", len(orders), 1))
        log = _stream(stores, RUN_ID)
        last = log[-1].event
        final = last.final_snapshot_id if isinstance(last, RunCompleted) else None
        if (problem := _same_result(done, RUN_ID, RunPhase.COMPLETED, final)) is not None:
            self.fail(case, f"resume after the failpoint stop {problem}")
        self.check_live_log(case, stores, log, factory, entropy)

        with _plan_orders() as orders:
            again = await engine.resume(stores, RUN_ID)
            calls.append(("resume of a finished run", len(orders), 0))
        if (problem := _same_result(again, RUN_ID, RunPhase.COMPLETED, final)) is not None:
            self.fail(case, f"resume of the finished run {problem}")
        if len(_stream(stores, RUN_ID)) != len(log):
            self.fail(case, "resume of the finished run appended to its log")

        cut = _without_last(stores, RUN_ID)
        with _plan_orders() as orders:
            closed = await self.engine(plan).resume(cut, RUN_ID)
            calls.append(("resume closing the run", len(orders), 1))
        if (problem := _same_result(closed, RUN_ID, RunPhase.COMPLETED, final)) is not None:
            self.fail(case, f"resume of a run whose RunCompleted was lost {problem}")
        if _stream(cut, RUN_ID)[-1].event != RunCompleted(RunStatus.COMPLETED, final):
            self.fail(case, "resume of a run whose RunCompleted was lost did not append it")
        for call, n, want in calls:
            if n != want:
                self.fail("plan_order", f"{call} ordered the plan {n} times (want {want})")

    def check_live_log(
        self,
        case: str,
        stores: Stores,
        log: Sequence[EventEnvelope],
        factory: _RecordingFactory,
        entropy: _CountingEntropy,
    ) -> None:
        entered = [e.event for e in log if isinstance(e.event, StateEntered)]
        want_envs = {(ev.state_id, ev.attempt) for ev in entered}
        got_envs = {(env.state_id, env.attempt) for env in factory.envs}
        if got_envs != want_envs or len(factory.envs) != len(entered):
            self.fail(case, f"transport envs for {sorted(got_envs, key=str)}, want {want_envs}")
        for env in factory.envs:
            if env.run_id != RUN_ID or env.stores is not stores or env.run_config != self.probe_cfg:
                self.fail(case, f"transport env {env!r} does not name this run and its config")
                break
        facts: dict[str, Any] = {}
        attempt: StateEntered | None = None
        ordinal = 0
        for env in log:
            ev = env.event
            if env.ts_millis != NOW_MS:
                self.fail(case, f"seq {env.seq} stamped {env.ts_millis!r}, the clock says {NOW_MS}")
            if isinstance(ev, StateEntered):
                attempt, ordinal = ev, 0
            elif isinstance(ev, DomainEvent) and ev.name == FACT_RECORDED:
                key = ev.payload["key"]
                facts[key] = _snapshot(stores, ev.payload["payload_id"])
                if key.startswith("mfm:") and attempt is not None:
                    kind = key.split("|", 1)[0][4:]
                    want = derived_key(kind, RUN_ID, attempt.state_id, attempt.attempt, ordinal)
                    if key != want:
                        self.fail(case, f"derived fact key {key!r}, want {want!r}")
                    ordinal += 1
        notes = [
            e for e in log if isinstance(e.event, DomainEvent) and e.event.name == "probe_note"
        ]
        want_notes = (
            0 if self.probe_cfg.event_profile is EventProfile.MINIMAL else len(self.state_ids)
        )
        if len(notes) != want_notes:
            self.fail(
                case,
                f"{len(notes)} probe_note events under {self.probe_cfg.event_profile} "
                f"(want {want_notes}: MINIMAL keeps only fact_recorded)",
            )
        last = log[-1].event
        snapshot = (
            _snapshot(stores, last.final_snapshot_id) if isinstance(last, RunCompleted) else None
        )
        issued = {b.hex() for b in entropy.issued}
        for sid in self.state_ids:
            got = (snapshot or {}).get(sid)
            if not isinstance(got, dict) or got.get("now") != NOW_MS:
                self.fail(case, f"{sid} saw {got!r}: the engine's clock was not used")
            elif got.get("noise") not in issued:
                self.fail(case, f"{sid} got random bytes {got.get('noise')} not from its entropy")
            elif got.get("echo") != {"echo": {"state": sid}}:
                self.fail(case, f"{sid} got {got.get('echo')!r} from its transport")
        for key, value in facts.items():
            if key.startswith("mfm:random_bytes|") and value["hex"] not in issued:
                self.fail(case, f"fact {key} holds bytes not from the engine's entropy")

    async def failed_run(self) -> None:
        """A retryable then a fatal handler error: the FAILED return paths and state ids."""
        case = "failed_run"
        raisers: dict[str, _Raiser] = {}

        def make(state_id: str) -> Any:
            if state_id != self.first:
                return _IoProbe(state_id)
            raisers[state_id] = _Raiser(state_id)
            return raisers[state_id]

        plan = self.probe_plan(make)
        manifest, data, mid = self.probe_manifest(self.probe_cfg)
        stores = _stores(data)
        result = await self.engine(plan).start(
            stores, StartRun(manifest, mid, plan, self.probe_cfg, self.initial)
        )
        log = _stream(stores, RUN_ID)
        initial = log[0].event.initial_snapshot_id
        if (problem := _same_result(result, RUN_ID, RunPhase.FAILED, initial)) is not None:
            self.fail(case, f"start {problem}")
        codes = [e.event.error.code for e in log if isinstance(e.event, StateFailed)]
        if codes != ["probe_retry", "probe_fatal"]:
            self.fail(case, f"failures {codes}, want ['probe_retry', 'probe_fatal']")
        raised = raisers[self.first].raised
        # ENGINE.md "One attempt" 5: the engine fills in the state id of the handler's error.
        if [exc.state_id for exc in raised] != [self.first, PRESET_STATE]:
            got = [exc.state_id for exc in raised]
            self.fail(case, f"handler errors carry state ids {got}, want {self.first} filled in")
        cut = _without_last(stores, RUN_ID)
        closed = await self.engine(plan).resume(cut, RUN_ID)
        if (problem := _same_result(closed, RUN_ID, RunPhase.FAILED, initial)) is not None:
            self.fail(case, f"resume of a run whose RunCompleted was lost {problem}")

    async def replay_run(self) -> None:
        """Replay answers from facts recorded in the log: keyed and derived, for this run."""
        case = "replay_run"
        cfg = attrs.evolve(self.probe_cfg, io_mode=IoMode.REPLAY)
        plan = self.probe_plan()
        _, data, mid = self.probe_manifest(cfg)
        snap_data = canonical_json_bytes(self.initial)
        events: list[Event] = [RunStarted(self.op_id, mid, artifact_id_for_bytes(snap_data))]
        payloads: list[bytes] = []
        want: dict[str, Any] = {}
        for i, sid in enumerate(self.state_ids):
            recorded = {
                f"probe:{sid}": {"echo": {"state": sid}, "recorded": i},
                derived_key("now_millis", RUN_ID, sid, 0, 0): {"now_millis": 1000 + i},
                derived_key("random_bytes", RUN_ID, sid, 0, 1): {"hex": f"{i:08x}"},
            }
            for key, value in recorded.items():
                payload = canonical_json_bytes(value)
                payloads.append(payload)
                fact = {"key": key, "payload_id": artifact_id_for_bytes(payload), "meta": {}}
                events.append(DomainEvent(FACT_RECORDED, fact))
            want[sid] = {"now": 1000 + i, "noise": f"{i:08x}", "echo": recorded[f"probe:{sid}"]}
        stores = _stores(data, snap_data, *payloads)
        _seed_log(stores, RUN_ID, events)
        result = await self.engine(plan).resume(stores, RUN_ID)
        log = _stream(stores, RUN_ID)
        last = log[-1].event
        final = last.final_snapshot_id if isinstance(last, RunCompleted) else None
        if (problem := _same_result(result, RUN_ID, RunPhase.COMPLETED, final)) is not None:
            failures = [e.event.error.message for e in log if isinstance(e.event, StateFailed)]
            self.fail(case, f"resume {problem}; failures: {failures[:2]}")
            return
        got = _snapshot(stores, final)
        if any(got.get(sid) != value for sid, value in want.items()):
            self.fail(case, f"replayed values {got!r}, want the recorded {want!r}")

    # -------------------------------------------------------------- resume timing

    def timing(self) -> None:
        """On a virtual clock: an orphan waits the backoff of the orphaned attempt before its
        retry; a retryable failure already in the log is retried at once (seed/runtime.rs
        resumes a failed state straight into `run_states`; the restart was the pause)."""
        cfg = self.timed_cfg
        wait_ms = first_backoff_ms(cfg.retry_policy.backoff)
        snap_data = canonical_json_bytes(self.initial)
        snap = artifact_id_for_bytes(snap_data)
        failed = StateFailed(self.first, info("probe", ErrorCategory.RPC, "x", retryable=True))
        cases = (
            ("resume_orphan_backoff", [StateEntered(self.first, 0, snap)], wait_ms),
            ("resume_failed_state_no_backoff", [StateEntered(self.first, 0, snap), failed], 0),
        )
        for case, tail, want_ms in cases:
            _, data, mid = self.probe_manifest(cfg)
            stores = _stores(data, snap_data)
            _seed_log(stores, RUN_ID, [RunStarted(self.op_id, mid, snap), *tail])
            clock = VirtualClock()
            engine = self.engine(
                self.probe_plan(), clock=clock, live_transport_factory=_RecordingFactory()
            )
            loop = SimLoop(clock, max_steps=TIMING_LOOP_STEPS)
            try:
                result = loop.run_until_complete(engine.resume(stores, RUN_ID))
            except Exception as exc:
                self.fail(case, f"resume raised {type(exc).__name__}: {exc}")
                continue
            finally:
                loop.close()
            if result.phase is not RunPhase.COMPLETED:
                self.fail(case, f"resume returned {result!r}")
            retry = next(
                (
                    e
                    for e in _stream(stores, RUN_ID)[len(tail) + 1 :]
                    if isinstance(e.event, StateEntered)
                ),
                None,
            )
            waited = None if retry is None else retry.ts_millis
            # The loop's timer resolution can add a nanosecond, never a millisecond.
            if waited is None or not want_ms <= waited <= want_ms + 1:
                self.fail(case, f"the retry was entered at {waited} ms, want {want_ms} ms")


def api_violations(scenario: str, seed: int) -> list[str]:
    """Every check above on this seed's instance of `scenario`; [] when the engine keeps its
    documented API."""
    instance = get_scenario(scenario).build(Streams(seed).stream("scenario"))
    checks = _Checks(instance)
    loop = asyncio.new_event_loop()
    try:
        for step in (
            checks.start_refusals,
            checks.resume_refusals,
            checks.live_run,
            checks.failed_run,
            checks.replay_run,
        ):
            try:
                loop.run_until_complete(step())
            except Exception as exc:
                checks.fail(step.__name__, f"raised {type(exc).__name__}: {exc}")
    finally:
        loop.close()
    checks.timing()
    return checks.out
