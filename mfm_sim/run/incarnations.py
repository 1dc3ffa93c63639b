"""One schedule's process lifetimes: start, crash, a fresh engine over the durable stores, resume,
until the run is terminal; then what they left, as an observation."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from mfm_engine.config import RunManifest
from mfm_engine.errors import (
    RunError,
)
from mfm_engine.events import RunPhase, RunStarted
from mfm_engine.hashing import (
    artifact_id_for_bytes,
    decode_json,
)
from mfm_engine.live_io import LiveIoTransportFactory, UnimplementedLiveIoTransportFactory
from mfm_engine.plan import (
    StaticPlanResolver,
)
from mfm_engine.runtime import (
    ChildRunLiveIoTransportFactory,
    DefaultExecutionEngine,
    EngineFailpoints,
    RunResult,
)
from mfm_engine.stores import Stores

from mfm_sim.errors import HarnessError
from mfm_sim.faults.handlers import FaultyResolver, Process
from mfm_sim.faults.journal import RecordingTransportFactory
from mfm_sim.faults.stores import (
    FaultyArtifactStore,
    FaultyEventStore,
    IncarnationHandle,
    SimCrash,
    corrupt_bytes,
)
from mfm_sim.faults.transports import FaultyTransportFactory
from mfm_sim.invariants.detected_not_silent import LOG_LIE_REFUSALS, LOG_REFUSAL_CODES
from mfm_sim.run.backends import MemoryStores, StoreBackend
from mfm_sim.run.kept_engine import draw_kept
from mfm_sim.run.net_stores import over_network
from mfm_sim.run.observation import (
    Breach,
    ContractBreach,
    Incarnation,
    Observation,
    OperatorOutcome,
    Outcome,
    RunView,
)
from mfm_sim.run.operator import AFTER_CRASH, BEFORE_START, make_calls, resumable
from mfm_sim.run.raised import raised_error
from mfm_sim.run.recorded_facts import RecordedFacts, feeder
from mfm_sim.run.scenario import Scenario, ScenarioRun
from mfm_sim.run.seeded_history import seed_history
from mfm_sim.run.user_context import start_with_context
from mfm_sim.run.validate import checked_manifest, manifest_bytes
from mfm_sim.run.world import World
from mfm_sim.world.frames import raised_by_harness
from mfm_sim.world.loop import Deadlock, Runaway, SimLoop
from mfm_sim.world.scope import enter_simulation

__all__ = [
    "ENGINE_OWN_ERRORS",
    "LIVENESS_SLACK",
    "MAX_INCARNATIONS",
    "MAX_LOOP_STEPS",
    "MAX_VIRTUAL_NS",
    "RESTART_DELAY_NS",
    "TERMINAL",
    "Simulation",
]

TERMINAL = (RunPhase.COMPLETED, RunPhase.FAILED, RunPhase.CANCELLED)
LIVENESS_SLACK = 3  # fault-free incarnations allowed beyond one per (state, attempt)
MAX_INCARNATIONS = 256
MAX_LOOP_STEPS = 2_000_000
# A year of virtual time per incarnation: room for 33 exponential retries of 1 ms, which
# wait some 74 days (`mfm_scenarios.long_backoff`).
MAX_VIRTUAL_NS = 366 * 24 * 3600 * 10**9
# RunError kinds that no injected fault can cause once a run has started: storage faults
# surface as STORAGE, and CONTEXT is a handler's own invalid output (floats, secrets).
ENGINE_OWN_ERRORS = frozenset({"invalid_plan", "io", "state", "other"})
RESTART_DELAY_NS = 1_000_000_000  # an operator restarts the process a virtual second later


def _refused_a_lie(inc: Incarnation) -> bool:
    """The incarnation read a lying log and refused it: the store's failure, not the engine's
    own (whether it was the right refusal is invariant 11's to judge)."""
    return inc.error_code in LOG_REFUSAL_CODES and any(
        b.kind in LOG_LIE_REFUSALS for b in inc.bad_reads
    )


_NO_VALUE = object()


def _kinds(artifacts: object) -> dict[str, str]:
    """The kinds a memory store recorded per id (`InMemoryArtifactStore.kinds`), as values."""
    recorded = getattr(artifacts, "kinds", None) or {}
    # An enum's `_value_` is its `value` without the Python-level descriptor; the repr of
    # anything with no value is built only for it.
    out: dict[str, str] = {}
    for k, v in recorded.items():
        value = v._value_ if isinstance(v, Enum) else getattr(v, "value", _NO_VALUE)
        out[k] = repr(v) if value is _NO_VALUE else value
    return out


def _call_line(run_id: uuid.UUID | None) -> str:
    return str(run_id)[:8] if run_id else "-"


def _outcome_line(outcome: Outcome, phase: RunPhase | None, ecode: str | None) -> str:
    return f"{outcome.value} {phase.value if phase else ''} {ecode or ''}".strip()


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        instance: ScenarioRun,
        world: World,
        *,
        recoverable: bool,
        interleave: bool,
        check_idempotent: bool = True,
        facts: RecordedFacts | None = None,
        backend: StoreBackend | None = None,
    ) -> None:
        self.scenario = scenario
        self.instance = instance
        self.world = world
        self.recoverable = recoverable
        self.interleave = interleave
        self.check_idempotent = check_idempotent
        # Where the durable stores live: the memory stores, or a real store on the simulated
        # disk that every incarnation reopens from the disk (`run/backends.py`).
        self.backend: StoreBackend = backend if backend is not None else MemoryStores()
        self._contents: Any = None  # what the stores held at the end, read once
        self.incarnations: list[Incarnation] = []
        self.base_resolver = instance.resolver or StaticPlanResolver(instance.plan)
        # A reference run fed a schedule's facts answers its handlers with them.
        self.process = Process(feeder(facts, world.ids.issued) if facts else None)
        self.resolver = FaultyResolver(self.base_resolver, self.process)
        # Wrapped once, at setup: every incarnation's process runs this same plan object.
        self.plan = self.resolver.wrap(instance.plan, main=True)
        self.inner_transports = instance.transports(world) if instance.transports else None
        # The main run: the run this runner started, by its id (`_started_run`), never
        # inferred from the engine's id draws.
        self.run_id: uuid.UUID | None = None
        self.start_result_run_id: uuid.UUID | None = None  # from start's result, when seen
        self.final: RunResult | None = None
        self.breaches: list[ContractBreach] = []  # engine_contract's, in the order seen
        self.dead_tasks: list[Any] = []
        self.operator_calls: list[OperatorOutcome] = []  # the operator's mistakes, as made
        self.seeded: frozenset[tuple[uuid.UUID, int]] = frozenset()  # a recorded log's records
        # Some seeds keep one engine across the incarnations of a process that ends alive.
        self.kept = draw_kept(world.streams, instance.child_runs)

    def _engine(self, handle: IncarnationHandle) -> DefaultExecutionEngine:
        world = self.world
        resolver = self.resolver
        inner = self.inner_transports
        uses = self.process.uses
        factory: LiveIoTransportFactory | None = (
            FaultyTransportFactory(inner, handle, self.backend.log_view(world.appends), uses)
            if inner is not None
            else None  # type: ignore[arg-type]
        )
        if factory is None and not self.instance.child_runs:
            # The engine's own default, every use noted (replay mode must make none).
            factory = RecordingTransportFactory(
                UnimplementedLiveIoTransportFactory(), uses, handle.number
            )

        def build(
            f: LiveIoTransportFactory | None, failpoints: EngineFailpoints | None = None
        ) -> DefaultExecutionEngine:
            return DefaultExecutionEngine(
                resolver,
                live_transport_factory=f,
                failpoints=failpoints,
                ids=world.ids,
                clock=world.engine_clock,
                entropy=world.entropy,
            )

        kept = self.kept
        if kept is not None:
            reused = kept.reuse(factory)
            if reused is not None:
                return reused
            factory = kept.transports if factory is not None else None
        if self.instance.child_runs:
            child_build = build
            if self.instance.stopped_children:
                # The user's factory arms every child engine it builds: each stops after the
                # first handler it runs, so an await finds its child still RUNNING.
                def child_build(f: LiveIoTransportFactory | None) -> DefaultExecutionEngine:
                    return build(f, EngineFailpoints(stop_after_handler_once=True))

            factory = ChildRunLiveIoTransportFactory(factory, child_build)
        # The main run's engine only: a `stop_after_handler` fault sets its flag.
        engine = build(factory, self.process.failpoints)
        if kept is not None:
            kept.engine = engine
        return engine

    def _one(self, number: int, call: str, *, faults: bool = True) -> Incarnation:
        world = self.world
        injector = world.injector
        injector.incarnation = number
        handle = IncarnationHandle(world, number)
        self.process.handle = handle
        # A flag an untyped handler error left set belongs to that dead incarnation.
        self.process.failpoints.stop_after_handler_once = False
        durable = self.backend.open(handle)
        stores = Stores(
            FaultyArtifactStore(durable.artifacts, handle),
            FaultyEventStore(durable.events, handle),
        )
        if self.instance.net_stores:
            stores = over_network(stores)
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
            coro = start_with_context(
                engine,
                stores,
                (manifest, self.manifest_id, plan, inst.run_config),
                world.streams,
                inst.initial_context,
            )
        else:
            assert self.run_id is not None
            handle.lie_about = self.run_id
            coro = engine.resume(stores, self.run_id)
        outcome, phase, snap, ekind, ecode = Outcome.RESULT, None, None, None, None
        raised = None
        result_run_id = None
        try:
            result = loop.run_until_complete(coro)
            if call == "start":
                self.start_result_run_id = result.run_id
            phase, snap, result_run_id = result.phase, result.final_snapshot_id, result.run_id
            if phase in TERMINAL:
                self.final = result
        except SimCrash:
            outcome = Outcome.CRASH
        except RunError as exc:
            outcome, ekind, ecode = Outcome.ERROR, exc.kind.value, exc.info.code
            raised = raised_error(exc)
            if not handle.alive and self.backend.name != "memory":
                # The disk took the machine down and SQLite reported it as an I/O error.
                outcome, ekind, ecode = Outcome.CRASH, None, None
        except Deadlock:
            outcome = Outcome.DEADLOCK
        except Runaway:
            outcome = Outcome.RUNAWAY
        except Exception as exc:
            if raised_by_harness(exc.__traceback__):
                raise HarnessError(
                    f"harness failure in {call} (seed {world.seed}): {exc!r}"
                ) from exc
            outcome, ekind, ecode = Outcome.ERROR, "untyped", type(exc).__name__
            run_id = self.run_id or self._started_run()
            self.breaches.append(
                ContractBreach(Breach.UNTYPED, run_id, number, call, ekind, ecode, str(exc))
            )
        finally:
            handle.alive = False
            self.dead_tasks.extend(loop.kill())
            injector.paused = paused_before
        if self.kept is not None and outcome is Outcome.CRASH:
            self.kept.lose()  # the process died, and its engine with it
        self.backend.ended(outcome is Outcome.CRASH)
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
            raised=raised,
            failpoint_armed=number in self.process.stopped_in,
            failpoint_after=self.process.failpoints.stop_after_handler_once,
            result_run_id=result_run_id,
        )

    def _seed(self) -> None:
        """Write the scenario's recorded log as the main run's, under an id from the run id
        source (as `start` would draw it), before any incarnation: the operator's setup."""
        inst, world = self.instance, self.world
        assert inst.history is not None
        self.run_id = world.ids.new_run_id()
        seed_history(
            self.durable,
            self.run_id,
            inst.plan.op_id,
            self.manifest_id,
            inst.initial_context,
            inst.history,
            world.clock.now_ns // 1_000_000,
        )
        # Every record it wrote: the main run's and those of the children the log holds.
        self.seeded = frozenset(
            (run_id, env.seq)
            for run_id, stream in self.durable.events.streams.items()  # type: ignore[attr-defined]
            for env in stream
        )

    def _started_run(self) -> uuid.UUID | None:
        """The run this runner started: the id start returned, or, when the start's result was
        never seen (a crash, an error), the run whose durable `RunStarted` came first and cites
        the manifest the operator stored. A child run starts only inside its parent's states,
        after the parent's `RunStarted` is durable, so it can never come first; and no id the
        engine draws (for this run or any other) is consulted."""
        if self.start_result_run_id is not None:
            return self.start_result_run_id
        for batch in self.world.appends:
            run_id, envelopes = batch[3], batch[4]
            first = envelopes[0] if envelopes else None
            if (
                first is not None
                and first.seq == 1
                and isinstance(first.event, RunStarted)
                and first.event.manifest_id == self.manifest_id
            ):
                return run_id
        # A disk store may have made a start's `RunStarted` durable without acknowledging it.
        return self.backend.durable_start(self.manifest_id)

    def run(self) -> None:
        try:
            self._run()
        except BaseException:
            self.backend.close()
            raise
        finally:
            self._bury()  # also when the input turns out to be bad halfway

    @property
    def durable(self) -> Stores:
        """The memory stores themselves, for the operator's own writes and reads beside the
        engine (a recorded log, mistaken starts); a real store on the disk has no such door."""
        if not isinstance(self.backend, MemoryStores):
            raise HarnessError(
                "the operator's direct store access needs the memory store, "
                f"not {self.backend.name}"
            )
        return self.backend.open(None)  # type: ignore[arg-type]

    def contents(self) -> tuple[Mapping[str, bytes], Mapping[uuid.UUID, Sequence[Any]]]:
        """What the durable stores held when the run was over (artifacts, each run's events)."""
        if self._contents is None:
            self._contents = self.backend.contents()
            self.backend.close()  # nothing reads the stores after this
        return self._contents  # type: ignore[no-any-return]

    def _run(self) -> None:
        world = self.world
        data = manifest_bytes(self.scenario.name, self.instance)
        # Users' fault points (`buggify`) and strict mode find the world through this.
        enter_simulation(world)
        # The operator stored the manifest before the first start; that write is not under test.
        self.manifest_id = artifact_id_for_bytes(data)
        self.backend.seed_artifact(self.manifest_id, data)
        # Mistaken starts come before the manifest can rot: each is refused for its own fault.
        self.operator_calls.extend(make_calls(self, BEFORE_START))
        after_crash = any(c.when == AFTER_CRASH for c in self.instance.operator)
        rot = world.injector.decide_setup("manifest.put")
        if rot is not None:
            world.trace.fault(rot)
            world.corrupted[self.manifest_id] = corrupt_bytes(data)
        if self.instance.history is not None:
            self._seed()  # the first incarnation then resumes the run the operator brought
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
                self.run_id = self._started_run()
                if inc.outcome is Outcome.ERROR and self.run_id is None:
                    checked_manifest(self.scenario.name, self.instance)  # bad input raises
            if inc.outcome in (Outcome.DEADLOCK, Outcome.RUNAWAY):
                break
            if inc.outcome is Outcome.RESULT and inc.phase in TERMINAL:
                break
            if after_crash and inc.outcome is not Outcome.RESULT and resumable(self):
                after_crash = False  # the wrong build is tried once, then the right one
                self.operator_calls.extend(make_calls(self, AFTER_CRASH))
            if inc.outcome is Outcome.ERROR and self.run_id is None and inc.error_kind == "untyped":
                break  # an engine_contract violation is already recorded
            if (
                inc.outcome is Outcome.ERROR
                and inc.error_kind in ENGINE_OWN_ERRORS
                and self.run_id
                and not _refused_a_lie(inc)
            ):
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
        data = self.contents()[0].get(final.final_snapshot_id)
        return data is not None and decode_json(data) == model.final_snapshot

    def observation(self) -> Observation:
        """What the schedule left behind; the reference run, if one is needed, comes after."""
        world = self.world
        runs: dict[uuid.UUID, RunView] = {}
        pristine, streams = self.contents()
        resolver = self.base_resolver
        for run_id in streams:
            stream = tuple(streams[run_id])
            plan = cfg = None
            first = stream[0].event if stream else None
            manifest_id = getattr(first, "manifest_id", None)
            raw = pristine.get(manifest_id) if manifest_id else None
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
        visible = {**pristine, **world.corrupted} if world.corrupted else pristine
        final = self.final
        return Observation(
            seed=world.seed,
            scenario=self.scenario.name,
            main_run_id=self.run_id,
            runs=runs,
            artifacts=visible,
            pristine=pristine,
            lost_artifacts=frozenset(world.lost) | self.backend.lied_away(),
            corrupted_artifacts=frozenset(world.corrupted),
            artifact_kinds=_kinds(getattr(self.backend, "artifacts", None)),
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
            # the operator's manifest is stored under `artifact_id_for_bytes(data)`; a real
            # store's bytes, read back from a disk that may have lied, are checked one by one.
            content_addressed=self.backend.name == "memory",
            durable_store=self.backend.name,
            store_appends=tuple(self.backend.attempts),
            handler_journal=tuple(e.freeze() for e in self.process.journal),
            transport_uses=tuple(self.process.uses),
            service_states=world.service_states(),
            operator_calls=tuple(self.operator_calls),
            seeded=self.seeded,
            issued_run_ids=tuple(world.ids.issued),
            entropy_draws=getattr(world.entropy, "draws", None),
        )
