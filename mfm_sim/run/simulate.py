"""Run one schedule: start, crash, rebuild a fresh engine over the durable stores, resume, check."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs
from mfm_engine.config import RunManifest
from mfm_engine.context import snapshot_bytes
from mfm_engine.errors import (
    EngineError,
    RunError,
)
from mfm_engine.events import RunPhase
from mfm_engine.hashing import (
    CanonicalJsonError,
    artifact_id_for_bytes,
    artifact_id_for_json,
    canonical_json_bytes,
    decode_json,
    json_bytes_unchecked,
)
from mfm_engine.live_io import LiveIoTransportFactory
from mfm_engine.plan import (
    PlanValidationError,
    StaticPlanResolver,
    topological_order,
)
from mfm_engine.runtime import (
    ChildRunLiveIoTransportFactory,
    DefaultExecutionEngine,
    RunResult,
    StartRun,
)
from mfm_engine.runtime.engine import validate_execution_mode
from mfm_engine.stores import InMemoryArtifactStore, InMemoryEventStore, Stores

from mfm_sim.faults.handlers import FaultyResolver, Process
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.faults.stores import (
    FaultyArtifactStore,
    FaultyEventStore,
    IncarnationHandle,
    SimCrash,
    corrupt_bytes,
)
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.faults.transports import FaultyTransportFactory
from mfm_sim.invariants import Violation, check, needs_reference
from mfm_sim.run.observation import (
    Breach,
    ContractBreach,
    Fault,
    Incarnation,
    Observation,
    Outcome,
    Reference,
    RunView,
)
from mfm_sim.run.scenario import Scenario, ScenarioRun
from mfm_sim.run.schedule import Schedule
from mfm_sim.run.trace import Trace
from mfm_sim.selfcheck.variants import variant_context
from mfm_sim.testing.buggify import enter_simulation
from mfm_sim.world.frames import ENGINE, HARNESS, package_of
from mfm_sim.world.loop import Deadlock, Runaway, SimLoop
from mfm_sim.world.rng import Streams
from mfm_sim.world.world import World

TERMINAL = (RunPhase.COMPLETED, RunPhase.FAILED, RunPhase.CANCELLED)
LIVENESS_SLACK = 3  # fault-free incarnations allowed beyond one per (state, attempt)
MAX_INCARNATIONS = 256
MAX_LOOP_STEPS = 2_000_000
MAX_VIRTUAL_NS = 7 * 24 * 3600 * 10**9  # a week of virtual time per incarnation
# RunError kinds that no injected fault can cause once a run has started: storage faults
# surface as STORAGE, and CONTEXT is a handler's own invalid output (floats, secrets).
ENGINE_OWN_ERRORS = frozenset({"invalid_plan", "io", "state", "other"})
RESTART_DELAY_NS = 1_000_000_000  # an operator restarts the process a virtual second later


class HarnessError(RuntimeError):
    """A bug in mfm_sim itself; never reported as an engine violation."""


class InvalidScenario(ValueError):
    """The scenario's input (plan, manifest, initial context) is invalid: bad input, not a
    violation. The engine's refusal to start such a run is correct behaviour."""

    def __init__(self, scenario: str, code: str, message: str) -> None:
        super().__init__(
            f"scenario {scenario!r} is invalid: the engine refused to start it: {code}: {message}"
        )
        self.code = code


@attrs.frozen
class Stats:
    faults_by_kind: tuple[tuple[str, int], ...]
    crashes: int
    resumes: int
    store_calls: int
    virtual_ns: int
    incarnations: int
    trace_entries: int


def _same_digest(a: Trace, b: Trace) -> bool:
    return a.digest == b.digest


@attrs.frozen
class SimResult:
    seed: int
    scenario: str
    violations: tuple[Violation, ...]
    # The trace's digest is computed when first read: a sweep never reads a passing one's.
    log: Trace = attrs.field(eq=attrs.cmp_using(eq=_same_digest), repr=False)
    trace: tuple[tuple[int, int, str, str], ...]
    schedule: Schedule
    stats: Stats
    final_phase: RunPhase | None
    final_snapshot_id: str | None
    observation: Observation | None = attrs.field(default=None, eq=False, repr=False)
    sites: tuple[str, ...] | None = attrs.field(
        default=None, eq=False, repr=False
    )  # site of each step

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def digest(self) -> str:
        return self.log.digest


def checked_manifest(scenario: str, instance: ScenarioRun) -> bytes:
    """The canonical bytes of the run's manifest, or `InvalidScenario` if the engine must
    refuse this run before writing anything.

    Checked with the engine's own pure validators, so a refusal of valid input can be told
    apart from bad input: the first is an engine violation, the second the scenario's fault.
    """
    try:
        validate_execution_mode(instance.run_config)
        topological_order(instance.plan)
        data = canonical_json_bytes(instance.manifest().to_json())
        snapshot_bytes(dict(instance.initial_context))
    except PlanValidationError as exc:
        raise InvalidScenario(
            scenario, "invalid_plan", f"execution plan failed validation: {exc}"
        ) from None
    except CanonicalJsonError as exc:
        raise InvalidScenario(
            scenario, exc.code, f"the run manifest cannot be hashed: {exc}"
        ) from None
    except EngineError as exc:
        raise InvalidScenario(scenario, exc.info.code, exc.info.message) from None
    return data


def manifest_bytes(scenario: str, instance: ScenarioRun) -> bytes:
    """The bytes the operator stores for the run's manifest, before the first start.

    The engine checks the manifest, the plan and the initial context itself before it writes
    anything, so the harness checks them again (`checked_manifest`) only when the engine did
    not start the run: it then tells bad input (`InvalidScenario`) from an engine that
    refused valid input. An engine that wrongly accepts invalid input is not caught here (the
    harness never ran an engine on input it had refused up front either).
    """
    try:
        return json_bytes_unchecked(instance.manifest().to_json())
    except Exception:  # not JSON at all: let the checked path name the problem
        return checked_manifest(scenario, instance)


def _call_line(run_id: uuid.UUID | None) -> str:
    return str(run_id)[:8] if run_id else "-"


def _outcome_line(outcome: Outcome, phase: RunPhase | None, ecode: str | None) -> str:
    return f"{outcome.value} {phase.value if phase else ''} {ecode or ''}".strip()


def _is_harness_frame(tb: Any) -> bool:
    """True if the innermost frame of ours or the engine's that the error passed is ours.

    Frames of the standard library or other packages in between are skipped: a harness
    function failing inside `dict.pop` or `sortedcontainers` is still a harness bug.
    """
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        package = package_of(frame)
        if package == HARNESS:
            return True
        if package == ENGINE:
            return False
    return False


class _Simulation:
    def __init__(
        self,
        scenario: Scenario,
        instance: ScenarioRun,
        world: World,
        *,
        recoverable: bool,
        interleave: bool,
        check_idempotent: bool = True,
    ) -> None:
        self.scenario = scenario
        self.instance = instance
        self.world = world
        self.recoverable = recoverable
        self.interleave = interleave
        self.check_idempotent = check_idempotent
        self.durable = Stores(InMemoryArtifactStore(), InMemoryEventStore())
        self.incarnations: list[Incarnation] = []
        self.base_resolver = instance.resolver or StaticPlanResolver(instance.plan)
        self.process = Process()
        self.resolver = FaultyResolver(self.base_resolver, self.process)
        # Wrapped once, at setup: every incarnation's process runs this same plan object.
        self.plan = self.resolver.wrap(instance.plan)
        self.inner_transports = instance.transports(world) if instance.transports else None
        self.run_id: uuid.UUID | None = None
        self.final: RunResult | None = None
        self.breaches: list[ContractBreach] = []  # engine_contract's, in the order seen
        self.dead_tasks: list[Any] = []

    def _engine(self, handle: IncarnationHandle) -> DefaultExecutionEngine:
        world = self.world
        resolver = self.resolver
        inner = self.inner_transports
        factory: LiveIoTransportFactory | None = (
            FaultyTransportFactory(inner, handle, self.durable.events)
            if inner is not None
            else None  # type: ignore[arg-type]
        )

        def build(f: LiveIoTransportFactory | None) -> DefaultExecutionEngine:
            return DefaultExecutionEngine(
                resolver,
                live_transport_factory=f,
                ids=world.ids,
                clock=world.engine_clock,
                entropy=world.entropy,
            )

        if self.instance.child_runs:
            factory = ChildRunLiveIoTransportFactory(factory, build)
        return build(factory)

    def _one(self, number: int, call: str, *, faults: bool = True) -> Incarnation:
        world = self.world
        injector = world.injector
        injector.incarnation = number
        handle = IncarnationHandle(world, number)
        self.process.handle = handle
        stores = Stores(
            FaultyArtifactStore(self.durable.artifacts, handle),
            FaultyEventStore(self.durable.events, handle),
        )
        engine = self._engine(handle)
        rng = world.streams.stream("interleave") if self.interleave else None
        loop = SimLoop(
            world.clock,
            rng,
            max_steps=MAX_LOOP_STEPS,
            max_time_ns=world.clock.now_ns + MAX_VIRTUAL_NS,
        )
        paused_before = injector.paused
        if not faults:
            injector.paused = True
        start_ns, first_step = world.clock.now_ns, injector.step
        first_batch = len(world.appends)  # incarnations run one after another
        world.trace.later(number, call, _call_line, self.run_id)
        if call == "start":
            inst = self.instance
            plan = self.plan
            manifest = inst.manifest()
            coro = engine.start(
                stores,
                StartRun(
                    manifest, self.manifest_id, plan, inst.run_config, dict(inst.initial_context)
                ),
            )
        else:
            assert self.run_id is not None
            coro = engine.resume(stores, self.run_id)
        outcome, phase, snap, ekind, ecode = Outcome.RESULT, None, None, None, None
        try:
            result = loop.run_until_complete(coro)
            phase, snap = result.phase, result.final_snapshot_id
            if phase in TERMINAL:
                self.final = result
        except SimCrash:
            outcome = Outcome.CRASH
        except RunError as exc:
            outcome, ekind, ecode = Outcome.ERROR, exc.kind.value, exc.info.code
        except Deadlock:
            outcome = Outcome.DEADLOCK
        except Runaway:
            outcome = Outcome.RUNAWAY
        except Exception as exc:
            if _is_harness_frame(exc.__traceback__):
                raise HarnessError(
                    f"harness failure in {call} (seed {world.seed}): {exc!r}"
                ) from exc
            outcome, ekind, ecode = Outcome.ERROR, "untyped", type(exc).__name__
            run_id = self.run_id or self._find_run()
            self.breaches.append(
                ContractBreach(Breach.UNTYPED, run_id, number, call, ekind, ecode, str(exc))
            )
        finally:
            handle.alive = False
            self.dead_tasks.extend(loop.kill())
            injector.paused = paused_before
        world.trace.later(number, "outcome", _outcome_line, outcome, phase, ecode)
        return Incarnation(
            number=number,
            call=call,
            outcome=outcome,
            phase=phase,
            final_snapshot_id=snap,
            error_kind=ekind,
            error_code=ecode,
            start_ns=start_ns,
            end_ns=world.clock.now_ns,
            first_step=first_step,
            last_step=injector.step,
            bad_reads=tuple(handle.bad_reads),
            appends=tuple(world.appends[first_batch:]),
        )

    def _find_run(self) -> uuid.UUID | None:
        streams = self.durable.events.streams
        for run_id in reversed(self.world.ids.issued):
            if streams.get(run_id):
                return run_id
        return None

    def run(self) -> None:
        try:
            self._run()
        finally:
            self._bury()  # also when the input turns out to be bad halfway

    def _run(self) -> None:
        world = self.world
        data = manifest_bytes(self.scenario.name, self.instance)
        # Users' fault points (`buggify`) and strict mode find the world through this.
        enter_simulation(world)
        # The operator stored the manifest before the first start; that write is not under test.
        self.manifest_id = artifact_id_for_bytes(data)
        self.durable.artifacts.data[self.manifest_id] = data  # type: ignore[attr-defined]
        rot = world.injector.decide_setup("manifest.put", world.streams.stream("faults:setup"))
        if rot is not None:
            world.trace.fault(rot)
            world.corrupted[self.manifest_id] = corrupt_bytes(data)
        # Once faults stop, every resume must finish a state or use up an attempt, so this
        # many consecutive fault-free incarnations without an end means the run is stuck.
        # Counting quiet incarnations (not "budget spent") makes a random run and the replay
        # of its schedule stop at the same point.
        plan_size = len(self.instance.plan.graph.states)
        quiet_bound = (
            plan_size * max(1, self.instance.run_config.retry_policy.max_attempts) + LIVENESS_SLACK
        )
        quiet = 0
        number = 0
        while number < MAX_INCARNATIONS:
            call = "start" if self.run_id is None else "resume"
            fired_before = len(world.injector.fired)
            inc = self._one(number, call)
            self.incarnations.append(inc)
            number += 1
            if self.run_id is None:
                self.run_id = self._find_run()
                if inc.outcome is Outcome.ERROR and self.run_id is None:
                    checked_manifest(self.scenario.name, self.instance)  # bad input raises
            if inc.outcome in (Outcome.DEADLOCK, Outcome.RUNAWAY):
                break
            if inc.outcome is Outcome.RESULT and inc.phase in TERMINAL:
                break
            if inc.outcome is Outcome.ERROR and self.run_id is None and inc.error_kind == "untyped":
                break  # an engine_contract violation is already recorded
            if inc.outcome is Outcome.ERROR and inc.error_kind in ENGINE_OWN_ERRORS and self.run_id:
                self.breaches.append(
                    ContractBreach(
                        Breach.OWN_FAILURE,
                        self.run_id,
                        inc.number,
                        call,
                        inc.error_kind,
                        inc.error_code,
                    )
                )
            if inc.outcome is Outcome.ERROR and self.run_id is None and inc.error_kind != "storage":
                # The input passed validation above, so refusing it is the engine's fault.
                self.breaches.append(
                    ContractBreach(
                        Breach.REFUSED_VALID_RUN,
                        None,
                        inc.number,
                        call,
                        inc.error_kind,
                        inc.error_code,
                    )
                )
                break
            quiet = quiet + 1 if len(world.injector.fired) == fired_before else 0
            if quiet >= quiet_bound:
                break
            world.clock.advance_by(RESTART_DELAY_NS)
        if self.run_id is None:
            checked_manifest(self.scenario.name, self.instance)  # never started: bad input?
        if self.final is not None and self.check_idempotent:
            self.incarnations.append(self._one(number, "idempotent_resume", faults=False))

    def _bury(self) -> None:
        """Close crashed incarnations' coroutines now, at a fixed point, not whenever GC runs.

        Closing runs their `finally` blocks; every store or service handle they hold is dead,
        so nothing they try can have an effect.
        """
        for task in self.dead_tasks:
            coro = task.get_coro()
            # A dead process's last gasp changes nothing; whatever it raises is dropped.
            with contextlib.suppress(BaseException):
                coro.close()
        self.dead_tasks.clear()

    def agrees_with_model(self) -> bool:
        """True if the run ended exactly as the scenario's full model predicts.

        Then crash transparency holds iff the fault-free run also matches the model, which is
        model agreement's job on fault-free schedules; the reference run would add nothing.
        """
        model, final = self.instance.model, self.final
        if model is None or model.final_snapshot is None or final is None:
            return False
        if final.phase is not model.phase or final.final_snapshot_id is None:
            return False
        data = self.durable.artifacts.data.get(final.final_snapshot_id)  # type: ignore[attr-defined]
        return data is not None and decode_json(data) == model.final_snapshot

    def observation(self) -> Observation:
        """What the schedule left behind; the reference run, if one is needed, comes after."""
        world = self.world
        runs: dict[uuid.UUID, RunView] = {}
        streams = self.durable.events.streams
        resolver = self.base_resolver
        for run_id in streams:
            stream = tuple(streams[run_id])
            plan = cfg = None
            first = stream[0].event if stream else None
            manifest_id = getattr(first, "manifest_id", None)
            raw = self.durable.artifacts.data.get(manifest_id) if manifest_id else None  # type: ignore[attr-defined]
            if raw is not None:
                manifest = (
                    self.instance.manifest()
                    if manifest_id == self.manifest_id
                    else RunManifest.from_json(decode_json(raw))
                )
                cfg = manifest.run_config
                try:
                    plan = resolver.resolve(manifest)
                except Exception:
                    plan = None
            is_child = run_id is not self.run_id and run_id != self.run_id  # UUID eq is slow
            runs[run_id] = RunView(run_id, stream, plan, cfg, is_child)
        pristine: dict[str, bytes] = self.durable.artifacts.data  # type: ignore[attr-defined]
        visible = {**pristine, **world.corrupted} if world.corrupted else pristine
        final = self.final
        return Observation(
            seed=world.seed,
            scenario=self.scenario.name,
            main_run_id=self.run_id,
            runs=runs,
            artifacts=visible,
            pristine=pristine,
            lost_artifacts=frozenset(world.lost),
            corrupted_artifacts=frozenset(world.corrupted),
            faults=tuple(world.injector.fired),
            incarnations=tuple(self.incarnations),
            seq_step=world.seq_step,
            seq_task=world.seq_task,
            final_phase=final.phase if final else None,
            final_snapshot_id=final.final_snapshot_id if final else None,
            model=self.instance.model,
            transparent=self.instance.transparent,
            recoverable=self.recoverable,
            effects=world.effects,
            operator_manifests=frozenset((self.manifest_id,)),
            contract_breaches=tuple(self.breaches),
            # The durable InMemoryArtifactStore keys every put by the bytes' own hash, and
            # the operator's manifest is stored under `artifact_id_for_bytes(data)`.
            content_addressed=True,
        )


_REFERENCE_CACHE: OrderedDict[tuple[str, str | None, str, str], Reference | None] = OrderedDict()
_REFERENCE_CACHE_SIZE = 4096


def _reference(
    scenario: Scenario, seed: int, variant: str | None, instance: ScenarioRun
) -> Reference | None:
    """The fault-free outcome of this seed's scenario instance.

    Cached by what decides it: the scenario, the engine variant, the manifest (plan shape and
    knobs are in it) and the initial context, so seeds that draw the same knobs share it.
    """
    try:
        key = (
            scenario.name,
            variant,
            artifact_id_for_json(instance.manifest().to_json()),
            artifact_id_for_json(dict(instance.initial_context)),
        )
    except CanonicalJsonError:
        # Only an engine that accepted invalid input gets here: name the input, clearly.
        checked_manifest(scenario.name, instance)
        raise
    if key in _REFERENCE_CACHE:
        _REFERENCE_CACHE.move_to_end(key)
        return _REFERENCE_CACHE[key]
    world = World(seed, None, keep_trace=False)
    instance = scenario.build(world.streams.stream("scenario"))
    sim = _Simulation(
        scenario, instance, world, recoverable=True, interleave=False, check_idempotent=False
    )
    sim.run()
    ref: Reference | None = None
    if sim.final is not None:
        snap = None
        if sim.final.final_snapshot_id is not None:
            snap = json.loads(sim.durable.artifacts.data[sim.final.final_snapshot_id])  # type: ignore[attr-defined]
        ref = Reference(sim.final.phase, snap)
    _REFERENCE_CACHE[key] = ref
    if len(_REFERENCE_CACHE) > _REFERENCE_CACHE_SIZE:
        _REFERENCE_CACHE.popitem(last=False)
    return ref


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
) -> SimResult:
    """Run one schedule of `scenario` for `seed` and check every invariant on what it left."""
    scripted: list[Fault] | None = None
    if isinstance(schedule, Schedule):
        scripted = list(schedule.faults)
        recoverable = schedule.recoverable
        interleave = schedule.interleave
    elif schedule is not None:
        scripted = list(schedule)
    swarm_rng = Streams(seed).stream("swarm")  # the swarm draws come before the world exists
    allowed = tuple(k for k in scenario.faults if faults is None or k in faults)
    config = FaultConfig.draw(swarm_rng, allowed, swarm=swarm, recoverable=recoverable)
    if interleave is None:
        interleave = swarm_rng.random() < 0.5  # drawn last: a given mode shifts nothing
    world = World(seed, config, schedule=scripted, keep_trace=keep_trace)
    if record_sites:
        world.injector.sites = []
    instance = scenario.build(world.streams.stream("scenario"))
    sim = _Simulation(scenario, instance, world, recoverable=recoverable, interleave=interleave)
    with variant_context(variant):
        sim.run()
        obs = sim.observation()
        if world.injector.fired and needs_reference(obs) and not sim.agrees_with_model():
            obs = attrs.evolve(obs, reference=_reference(scenario, seed, variant, instance))
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
            seed, scenario.name, tuple(world.injector.fired), recoverable, interleave
        ),
        stats=stats,
        final_phase=final.phase if final else None,
        final_snapshot_id=final.final_snapshot_id if final else None,
        observation=obs if keep_observation else None,
        sites=tuple(world.injector.sites) if world.injector.sites is not None else None,
    )
