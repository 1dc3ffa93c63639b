"""The execution engine: start a run, execute its states in Kahn order, resume it from its log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from typing import Any

import attrs
from mfm_engine.config import ExecutionMode, RunConfig, RunManifest, compute_backoff
from mfm_engine.context import JsonContext, write_full_snapshot_value
from mfm_engine.errors import (
    ContextErrorKind,
    EngineError,
    ErrorCategory,
    RunError,
    RunErrorKind,
    StorageError,
    StorageErrorKind,
    as_run_error,
    context,
    corruption,
    info,
    invalid_plan,
    storage,
)
from mfm_engine.events import (
    PHASE_FOR_STATUS,
    RunCompleted,
    RunPhase,
    RunStarted,
    RunStatus,
    StateFailed,
)
from mfm_engine.hashing import (
    FloatNotAllowed,
    NotJson,
    SecretsNotAllowed,
    artifact_id_for_bytes,
    artifact_id_for_json,
)
from mfm_engine.live_io import (
    FactIndex,
    LiveIoTransportFactory,
    UnimplementedLiveIoTransportFactory,
)
from mfm_engine.plan import (
    ExecutionPlan,
    PlanResolver,
    PlanValidationError,
    StateNode,
    topological_order,
)
from mfm_engine.read_back import validated_json
from mfm_engine.runtime.attempt import (
    AttemptCtx,
    Completed,
    EngineFailpoints,
    Failed,
    StopAfterHandler,
    execute_attempt,
)
from mfm_engine.runtime.history import FailureRecord, read_run_history
from mfm_engine.runtime.writer import EventWriter
from mfm_engine.sources import Clock, Entropy, IdSource, SystemClock, SystemEntropy, Uuid4Ids
from mfm_engine.stores import Stores

ORPHAN_ATTEMPT_RECOVERED = "orphan_attempt_recovered"
MANIFEST_CORRUPT = "manifest_corrupt"


@attrs.frozen
class StartRun:
    manifest: RunManifest
    manifest_id: str
    plan: ExecutionPlan
    run_config: RunConfig
    initial_context: Any = attrs.field(factory=JsonContext)


@attrs.frozen
class RunResult:
    run_id: uuid.UUID
    phase: RunPhase
    final_snapshot_id: str | None


@attrs.frozen
class _StartAt:
    state_id: str
    attempt: int
    base_snapshot_id: str
    delay_first: bool = False


def validate_execution_mode(cfg: RunConfig) -> None:
    if cfg.execution_mode is not ExecutionMode.SEQUENTIAL:
        raise invalid_plan(
            "unsupported_execution_mode", "execution_mode FanOutJoin is not supported"
        )


# The last plan ordered, and its order. `start` and `resume` validate a plan and then run it,
# which orders the same (frozen) plan object twice; this remembers it by identity.
_last_order: tuple[ExecutionPlan, tuple[StateNode, ...]] | None = None


def validated_order(plan: ExecutionPlan) -> list[StateNode]:
    global _last_order
    last = _last_order
    if last is not None and last[0] is plan:
        return list(last[1])
    try:
        ordered = topological_order(plan)
    except PlanValidationError as exc:
        raise exc.as_run_error() from exc  # the fixed refusal; its reason as `__cause__`
    _last_order = (plan, tuple(ordered))
    return ordered


def validate_start_run_contract(run: StartRun) -> None:
    # seed/runtime.rs's two refusals of a manifest it cannot hash, word for word; a value that
    # is not JSON (a Python-only case: a non-str key, a set) is refused as not canonical too.
    try:
        computed = artifact_id_for_json(run.manifest.to_json())
    except SecretsNotAllowed:
        raise invalid_plan(
            "secrets_detected",
            "run manifest contained secrets (policy forbids persisting secrets)",
        ) from None
    except (FloatNotAllowed, NotJson):
        raise invalid_plan(
            "manifest_not_canonical",
            "run manifest is not canonical-json-hashable (floats are forbidden)",
        ) from None
    if computed != run.manifest_id:
        raise invalid_plan(
            "manifest_id_mismatch", "manifest_id did not match canonical JSON hash of the manifest"
        )
    if run.manifest.op_id != run.plan.op_id:
        raise invalid_plan("manifest_op_id_mismatch", "manifest.op_id did not match plan.op_id")
    if run.manifest.run_config != run.run_config:
        raise invalid_plan("run_config_mismatch", "run_config did not match manifest.run_config")


async def read_manifest(stores: Stores, manifest_id: str) -> RunManifest:
    data = await stores.artifacts.get(manifest_id)
    # The hash is checked before decoding, so corrupt bytes are reported as corruption.
    if artifact_id_for_bytes(data) != manifest_id:
        raise corruption(MANIFEST_CORRUPT, "manifest artifact content hash mismatch")
    value = validated_json(data, manifest_id)
    try:
        return RunManifest.from_json(value)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise context(
            ContextErrorKind.SERIALIZATION,
            "manifest_deserialize_failed",
            "failed to deserialize manifest",
        ) from None


async def read_back_manifest(stores: Stores, manifest_id: str) -> None:
    """Start's check, before it writes anything, that the store holds the manifest it is about to
    name in `RunStarted`: read back as resume reads it, with start's codes for what it lacks."""
    try:
        await read_manifest(stores, manifest_id)
    except StorageError as exc:
        if exc.kind is StorageErrorKind.NOT_FOUND:
            raise storage(
                StorageErrorKind.NOT_FOUND, "manifest_not_found", "manifest artifact was not found"
            ) from None
        if exc.info.code == MANIFEST_CORRUPT:
            raise corruption(
                "manifest_artifact_mismatch", "stored manifest bytes do not hash to manifest_id"
            ) from None
        raise


def _initial_value(initial_context: Any) -> Any:
    return initial_context.dump() if hasattr(initial_context, "dump") else initial_context


class DefaultExecutionEngine:
    """Validates the run contract, rebuilds facts and history from the log, runs states in order."""

    def __init__(
        self,
        resolver: PlanResolver,
        *,
        live_transport_factory: LiveIoTransportFactory | None = None,
        failpoints: EngineFailpoints | None = None,
        ids: IdSource | None = None,
        clock: Clock | None = None,
        entropy: Entropy | None = None,
    ) -> None:
        self.resolver = resolver
        self.live_transport_factory = (
            live_transport_factory or UnimplementedLiveIoTransportFactory()
        )
        self.failpoints = failpoints
        self.ids = ids or Uuid4Ids()
        self.clock = clock or SystemClock()
        self.entropy = entropy or SystemEntropy()

    async def start(self, stores: Stores, run: StartRun) -> RunResult:
        return await self.start_with_id(stores, run, None)

    async def start_with_id(
        self, stores: Stores, run: StartRun, run_id: uuid.UUID | None
    ) -> RunResult:
        """Start a run; `run_id` None takes a fresh id (child runs pass their derived id)."""
        try:
            return await self._start(stores, run, run_id)
        except RunError:
            raise  # already the caller's error, its typed cause chained
        except EngineError as exc:
            raise as_run_error(exc) from exc

    async def resume(self, stores: Stores, run_id: uuid.UUID) -> RunResult:
        try:
            return await self._resume(stores, run_id)
        except RunError:
            raise  # already the caller's error, its typed cause chained
        except EngineError as exc:
            raise as_run_error(exc) from exc

    async def _start(self, stores: Stores, run: StartRun, run_id: uuid.UUID | None) -> RunResult:
        validate_execution_mode(run.run_config)
        validate_start_run_contract(run)
        validated_order(run.plan)
        await read_back_manifest(stores, run.manifest_id)
        if run_id is None:
            run_id = self.ids.new_run_id()
        initial_snapshot_id = await write_full_snapshot_value(
            stores.artifacts, _initial_value(run.initial_context)
        )
        writer = await EventWriter.open(stores.events, run_id, self.clock)
        await writer.append([RunStarted(run.plan.op_id, run.manifest_id, initial_snapshot_id)])
        return await self._run_states(
            stores,
            run.plan,
            run.run_config,
            writer,
            initial_snapshot_id,
            frozenset(),
            None,
            FactIndex(),
        )

    async def _resume(self, stores: Stores, run_id: uuid.UUID) -> RunResult:
        if await stores.events.head_seq(run_id) == 0:
            raise storage(
                StorageErrorKind.NOT_FOUND, "run_not_found", "run event stream was not found"
            )
        stream = await stores.events.read_range(run_id, 1, None)
        # The stream's shape (seqs, envelopes, ids) is checked before facts are rebuilt from it.
        history = read_run_history(run_id, stream)
        facts = FactIndex.from_event_stream(stream)

        if history.run_completed is not None:
            done = history.run_completed
            return RunResult(run_id, PHASE_FOR_STATUS[done.status], done.final_snapshot_id)

        manifest = await read_manifest(stores, history.started.manifest_id)
        validate_execution_mode(manifest.run_config)
        if history.started.op_id != manifest.op_id:
            raise invalid_plan(
                "run_started_op_id_mismatch", "RunStarted.op_id did not match manifest.op_id"
            )
        plan = self.resolver.resolve(manifest)
        if plan.op_id != manifest.op_id:
            raise invalid_plan(
                "plan_op_id_mismatch", "resolved plan.op_id did not match manifest.op_id"
            )
        ordered = validated_order(plan)
        known = {node.id for node in ordered}
        for state_id in (*history.state_ids, *sorted(history.completed_states)):
            if state_id not in known:
                raise invalid_plan(
                    "recovery_state_not_in_plan", f"history names state {state_id} not in the plan"
                )

        cfg = manifest.run_config
        writer = await EventWriter.open(stores.events, run_id, self.clock)
        checkpoint = history.last_checkpoint
        failures = dict(history.last_failure_by_state)

        orphan = history.orphan_attempt
        delay_first = False
        if orphan is not None:
            # Close the orphan first, so the log never holds two open attempts in a row; the
            # retry then follows the same rule as any retryable failure, bounded by max_attempts.
            await writer.append(
                [
                    StateFailed(
                        orphan.state_id,
                        info(
                            ORPHAN_ATTEMPT_RECOVERED,
                            ErrorCategory.UNKNOWN,
                            f"attempt {orphan.attempt} was interrupted; recovered on resume",
                            retryable=True,
                        ),
                    )
                ]
            )
            failures[orphan.state_id] = FailureRecord(orphan.attempt, orphan.base_snapshot_id, True)
            delay_first = True

        next_state = next((n.id for n in ordered if n.id not in history.completed_states), None)
        if next_state is None:
            await writer.append([RunCompleted(RunStatus.COMPLETED, checkpoint)])
            return RunResult(run_id, RunPhase.COMPLETED, checkpoint)

        failure = failures.get(next_state)
        if failure is not None:
            nxt = failure.attempt + 1
            if not failure.retryable or nxt >= cfg.retry_policy.max_attempts:
                await writer.append([RunCompleted(RunStatus.FAILED, checkpoint)])
                return RunResult(run_id, RunPhase.FAILED, checkpoint)
            start = _StartAt(next_state, nxt, failure.base_snapshot_id, delay_first)
        else:
            start = _StartAt(next_state, history.next_attempt(next_state), checkpoint)
        return await self._run_states(
            stores, plan, cfg, writer, checkpoint, history.completed_states, start, facts
        )

    async def _run_states(
        self,
        stores: Stores,
        plan: ExecutionPlan,
        cfg: RunConfig,
        writer: EventWriter,
        current_snapshot_id: str,
        completed: Collection[str],
        start_at: _StartAt | None,
        facts: FactIndex,
    ) -> RunResult:
        validate_execution_mode(cfg)
        ordered = validated_order(plan)
        run_id = writer.run_id
        found_start = start_at is None
        failed = False
        for node in ordered:
            if node.id in completed:
                continue
            attempt, base, delay = 0, current_snapshot_id, False
            if start_at is not None:
                if not found_start:
                    if node.id != start_at.state_id:
                        continue
                    found_start = True
                if node.id == start_at.state_id:
                    attempt, base, delay = (
                        start_at.attempt,
                        start_at.base_snapshot_id,
                        start_at.delay_first,
                    )
            state = node.state
            meta = state.meta()
            while True:
                if delay:
                    pause = compute_backoff(cfg.retry_policy.backoff, attempt - 1)
                    if pause:
                        await asyncio.sleep(pause.total_seconds())
                    delay = False
                outcome = await execute_attempt(
                    AttemptCtx(
                        stores,
                        cfg,
                        run_id,
                        node.id,
                        attempt,
                        base,
                        facts,
                        writer,
                        self.live_transport_factory,
                        self.failpoints,
                        state,
                        meta,
                        self.clock,
                        self.entropy,
                    )
                )
                if isinstance(outcome, Completed):
                    current_snapshot_id = outcome.snapshot_id
                    break
                if isinstance(outcome, StopAfterHandler):
                    return RunResult(run_id, RunPhase.RUNNING, current_snapshot_id)
                assert isinstance(outcome, Failed)
                if outcome.retryable and attempt + 1 < cfg.retry_policy.max_attempts:
                    attempt += 1
                    delay = True
                    continue
                failed = True
                break
            if failed:
                break

        status = RunStatus.FAILED if failed else RunStatus.COMPLETED
        try:
            await writer.append([RunCompleted(status, current_snapshot_id)])
        except RunError:
            raise  # already the caller's error, its typed cause chained
        except EngineError as exc:
            raise as_run_error(exc) from exc
        return RunResult(run_id, PHASE_FOR_STATUS[status], current_snapshot_id)


__all__ = [
    "ORPHAN_ATTEMPT_RECOVERED",
    "DefaultExecutionEngine",
    "EngineFailpoints",
    "RunError",
    "RunErrorKind",
    "RunResult",
    "StartRun",
]
