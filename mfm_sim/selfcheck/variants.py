"""Deliberately broken engine variants: the bugs a sweep must catch (checks must be able to fail).

A variant is a context manager that patches the engine's internals for the duration of one
simulation; the engine's source stays untouched. Every patch goes through
`unittest.mock.patch.object`, so leaving the block (normally or by an exception) restores the
original attributes.

Most variants replace one engine function with a copy of the original that differs only in the
line the variant's name describes. The copies below follow `engine/runtime/engine.py`,
`attempt.py`, `writer.py`, `child_runs.py` and `live_io.py`; a `_Bugs` record says which of the
copies' deviations are switched on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any
from unittest import mock

import attrs
from mfm_engine.config import IoMode, RunConfig, RunManifest
from mfm_engine.context import StagedContext, write_full_snapshot_value
from mfm_engine.errors import (
    ContextErrorKind,
    EngineError,
    ErrorCategory,
    IoErrorKind,
    RunError,
    RunErrorKind,
    StorageError,
    StorageErrorKind,
    as_run_error,
    context,
    info,
    invalid_plan,
    storage,
)
from mfm_engine.events import (
    PHASE_FOR_STATUS,
    Event,
    EventEnvelope,
    RunCompleted,
    RunPhase,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from mfm_engine.hashing import redact_error_info
from mfm_engine.live_io import FactIndex, IoCall, LiveIo, LiveIoEnv, io_error
from mfm_engine.plan import ExecutionPlan
from mfm_engine.recorder import EventRecorder
from mfm_engine.replay_io import ReplayIo
from mfm_engine.runtime import attempt as attempt_mod
from mfm_engine.runtime import child_runs as child_mod
from mfm_engine.runtime import engine as engine_mod
from mfm_engine.runtime.attempt import AttemptCtx, AttemptExec, Completed, Failed, StopAfterHandler
from mfm_engine.runtime.engine import DefaultExecutionEngine, RunResult
from mfm_engine.runtime.history import FailureRecord, read_run_history
from mfm_engine.runtime.writer import EventWriter
from mfm_engine.stores import Stores

PatchFactory = Callable[[], AbstractContextManager[None]]


@attrs.frozen
class Variant:
    name: str
    description: str
    patch: PatchFactory


VARIANTS: dict[str, Variant] = {}


def register(name: str, description: str) -> Callable[[PatchFactory], PatchFactory]:
    def deco(fn: PatchFactory) -> PatchFactory:
        VARIANTS[name] = Variant(name, description, fn)
        return fn

    return deco


class UnknownVariant(ValueError):
    pass


@contextlib.contextmanager
def variant_context(name: str | None) -> Iterator[None]:
    if name is None:
        yield
        return
    variant = VARIANTS.get(name)
    if variant is None:
        known = ", ".join(sorted(VARIANTS))
        raise UnknownVariant(f"unknown engine variant {name!r}; known: {known}")
    with variant.patch():
        yield


# ------------------------------------------------------------------------------ the copies


@attrs.frozen
class _Bugs:
    """Which deviations from the correct engine the patched copies make."""

    close_orphan: bool = True  # False: the seed's resume (no StateFailed, no bound)
    bound_orphan: bool = True  # False: the orphan is closed but retried whatever the bound
    off_by_one: bool = False  # retry while attempt + 1 <= max_attempts
    ignore_retryable: bool = False  # retry non-retryable failures too
    rerun_completed: bool = False  # resume runs the plan from its first state again
    finish_again: bool = False  # resume of a finished run appends RunCompleted again
    retry_from_initial: bool = False  # a resumed retry starts from the run's initial snapshot
    drop_state_failed: bool = False  # a failed attempt appends no StateFailed
    ignore_skip_tags: bool = False  # skip-tagged states run their handler


def _may_retry(bugs: _Bugs, retryable: bool, attempt: int, max_attempts: int) -> bool:
    """Whether a failure at `attempt` is retried (the correct rule unless a bug says otherwise)."""
    if not retryable and not bugs.ignore_retryable:
        return False
    if bugs.off_by_one:
        return attempt + 1 <= max_attempts
    return attempt + 1 < max_attempts


def _resume_copy(bugs: _Bugs) -> Callable[..., Any]:
    """`DefaultExecutionEngine._resume` with `bugs` in it."""

    async def _resume(self: DefaultExecutionEngine, stores: Stores, run_id: uuid.UUID) -> RunResult:
        if await stores.events.head_seq(run_id) == 0:
            raise storage(
                StorageErrorKind.NOT_FOUND, "run_not_found", "run event stream was not found"
            )
        stream = await stores.events.read_range(run_id, 1, None)
        facts = FactIndex.from_event_stream(stream)
        history = read_run_history(run_id, stream)

        if history.run_completed is not None:
            done = history.run_completed
            if bugs.finish_again:
                writer = await EventWriter.open(stores.events, run_id, self.clock)
                await writer.append([RunCompleted(done.status, done.final_snapshot_id)])
            return RunResult(run_id, PHASE_FOR_STATUS[done.status], done.final_snapshot_id)

        manifest = await engine_mod.read_manifest(stores, history.started.manifest_id)
        engine_mod.validate_execution_mode(manifest.run_config)
        if history.started.op_id != manifest.op_id:
            raise invalid_plan(
                "run_started_op_id_mismatch", "RunStarted.op_id did not match manifest.op_id"
            )
        plan = self.resolver.resolve(manifest)
        if plan.op_id != manifest.op_id:
            raise invalid_plan(
                "plan_op_id_mismatch", "resolved plan.op_id did not match manifest.op_id"
            )
        ordered = engine_mod.validated_order(plan)
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
        completed: Collection[str] = history.completed_states
        retry_base = history.started.initial_snapshot_id if bugs.retry_from_initial else None

        orphan = history.orphan_attempt
        delay_first = False
        if orphan is not None:
            if not bugs.close_orphan:
                # The seed: retry the orphan at once, leaving its StateEntered open.
                start = engine_mod._StartAt(
                    orphan.state_id, orphan.attempt + 1, retry_base or orphan.base_snapshot_id
                )
                return await self._run_states(
                    stores, plan, cfg, writer, checkpoint, completed, start, facts
                )
            await writer.append(
                [
                    StateFailed(
                        orphan.state_id,
                        info(
                            engine_mod.ORPHAN_ATTEMPT_RECOVERED,
                            ErrorCategory.UNKNOWN,
                            f"attempt {orphan.attempt} was interrupted; recovered on resume",
                            retryable=True,
                        ),
                    )
                ]
            )
            failures[orphan.state_id] = FailureRecord(orphan.attempt, orphan.base_snapshot_id, True)
            delay_first = True

        if bugs.rerun_completed:
            # Forgets which states completed: the plan runs again from its first state.
            return await self._run_states(
                stores, plan, cfg, writer, checkpoint, frozenset(), None, facts
            )

        next_state = next((n.id for n in ordered if n.id not in completed), None)
        if next_state is None:
            await writer.append([RunCompleted(RunStatus.COMPLETED, checkpoint)])
            return RunResult(run_id, RunPhase.COMPLETED, checkpoint)

        failure = failures.get(next_state)
        if failure is not None:
            nxt = failure.attempt + 1
            unbounded = (
                orphan is not None and orphan.state_id == next_state and not bugs.bound_orphan
            )
            retry = _may_retry(
                bugs, failure.retryable, failure.attempt, cfg.retry_policy.max_attempts
            )
            if not (retry or unbounded):
                await writer.append([RunCompleted(RunStatus.FAILED, checkpoint)])
                return RunResult(run_id, RunPhase.FAILED, checkpoint)
            start = engine_mod._StartAt(
                next_state, nxt, retry_base or failure.base_snapshot_id, delay_first
            )
        else:
            start = engine_mod._StartAt(next_state, history.next_attempt(next_state), checkpoint)
        return await self._run_states(
            stores, plan, cfg, writer, checkpoint, completed, start, facts
        )

    return _resume


def _run_states_copy(bugs: _Bugs) -> Callable[..., Any]:
    """`DefaultExecutionEngine._run_states` with `bugs` in its retry rule."""

    async def _run_states(
        self: DefaultExecutionEngine,
        stores: Stores,
        plan: ExecutionPlan,
        cfg: RunConfig,
        writer: EventWriter,
        current_snapshot_id: str,
        completed: Collection[str],
        start_at: Any,
        facts: FactIndex,
    ) -> RunResult:
        engine_mod.validate_execution_mode(cfg)
        ordered = engine_mod.validated_order(plan)
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
                    pause = engine_mod.compute_backoff(cfg.retry_policy.backoff, attempt - 1)
                    if pause:
                        await asyncio.sleep(pause.total_seconds())
                    delay = False
                outcome = await attempt_mod.execute_attempt(
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
                if _may_retry(bugs, outcome.retryable, attempt, cfg.retry_policy.max_attempts):
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

    return _run_states


def _execute_copy(bugs: _Bugs) -> Callable[[AttemptCtx], Any]:
    """`mfm_engine.runtime.attempt._execute` with `bugs` in it."""

    async def _execute(a: AttemptCtx) -> AttemptExec:
        await a.writer.append([StateEntered(a.state_id, a.attempt, a.base_snapshot_id)])

        skip = a.run_config.skip_tags and not set(a.meta.tags).isdisjoint(a.run_config.skip_tags)
        if skip and not bugs.ignore_skip_tags:
            await a.writer.append([StateCompleted(a.state_id, a.base_snapshot_id)])
            return Completed(a.base_snapshot_id)

        ctx = StagedContext(await attempt_mod.read_snapshot(a.stores.artifacts, a.base_snapshot_id))
        recorder = EventRecorder(a.run_config.event_profile)
        io: LiveIo | ReplayIo
        if a.run_config.io_mode is IoMode.REPLAY:
            io = ReplayIo(a.stores, a.facts, a.run_id, a.state_id, a.attempt, a.run_config)
        else:
            env = LiveIoEnv(a.run_id, a.state_id, a.attempt, a.stores, a.run_config)
            io = LiveIo(
                a.stores,
                a.facts,
                a.run_id,
                a.state_id,
                a.attempt,
                a.live_factory.make(env),
                a.writer,
                a.clock,
                a.entropy,
            )

        error = None
        try:
            await a.state.handle(ctx, io, recorder)
        except Exception as exc:
            error = attempt_mod._handler_error(exc)
            if error is None:
                raise

        if a.failpoints is not None and a.failpoints.should_stop_after_handler():
            ctx.discard()
            return StopAfterHandler()

        if error is None:
            snapshot_id = await write_full_snapshot_value(a.stores.artifacts, ctx.dump())
            await a.writer.append([*recorder.events, StateCompleted(a.state_id, snapshot_id)])
            return Completed(snapshot_id)

        if error.state_id is None:
            error.state_id = a.state_id
        failure = redact_error_info(error.info)
        del error  # as the engine does: no cycle through the traceback
        if bugs.drop_state_failed:
            # The redaction's error path swallowed the append: the attempt stays open.
            return Failed(failure.retryable)
        await a.writer.append([*recorder.events, StateFailed(a.state_id, failure)])
        return Failed(failure.retryable)

    return _execute


@contextlib.contextmanager
def _patch_engine(
    bugs: _Bugs, *, resume: bool = False, run_states: bool = False, execute: bool = False
) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if resume:
            stack.enter_context(
                mock.patch.object(DefaultExecutionEngine, "_resume", _resume_copy(bugs))
            )
        if run_states:
            stack.enter_context(
                mock.patch.object(DefaultExecutionEngine, "_run_states", _run_states_copy(bugs))
            )
        if execute:
            stack.enter_context(mock.patch.object(attempt_mod, "_execute", _execute_copy(bugs)))
        yield


# ------------------------------------------------------------------------------ recovery


@register(
    "unfixed_orphan",
    "the seed's resume: an orphan attempt is retried at attempt + 1 without first being "
    "closed by StateFailed orphan_attempt_recovered (two StateEntered in a row, no bound)",
)
@contextlib.contextmanager
def unfixed_orphan() -> Iterator[None]:
    with _patch_engine(_Bugs(close_orphan=False), resume=True):
        yield


@register(
    "orphan_retry_unbounded",
    "the orphan is closed, but its retry ignores max_attempts: a crash-looping state "
    "is retried forever",
)
@contextlib.contextmanager
def orphan_retry_unbounded() -> Iterator[None]:
    with _patch_engine(_Bugs(bound_orphan=False), resume=True):
        yield


@register(
    "rerun_completed",
    "resume forgets the completed states and runs the plan again from its first state",
)
@contextlib.contextmanager
def rerun_completed() -> Iterator[None]:
    with _patch_engine(_Bugs(rerun_completed=True), resume=True):
        yield


@register(
    "run_completed_twice",
    "resuming a finished run appends its RunCompleted again instead of returning the result",
)
@contextlib.contextmanager
def run_completed_twice() -> Iterator[None]:
    with _patch_engine(_Bugs(finish_again=True), resume=True):
        yield


@register(
    "wrong_base_snapshot",
    "a retry after resume (orphan or failed attempt) starts from the run's initial snapshot "
    "instead of the failed attempt's base snapshot",
)
@contextlib.contextmanager
def wrong_base_snapshot() -> Iterator[None]:
    with _patch_engine(_Bugs(retry_from_initial=True), resume=True):
        yield


async def _read_manifest_unchecked(stores: Stores, manifest_id: str) -> RunManifest:
    data = await stores.artifacts.get(manifest_id)
    # The bug: no hash check, so corrupt bytes are decoded (or fail to decode) as if sound.
    try:
        return RunManifest.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise context(
            ContextErrorKind.SERIALIZATION, "manifest_decode_failed", "failed to decode manifest"
        ) from None


@register(
    "manifest_hash_unchecked",
    "resume decodes the manifest bytes without checking that they hash to the manifest id",
)
@contextlib.contextmanager
def manifest_hash_unchecked() -> Iterator[None]:
    with mock.patch.object(engine_mod, "read_manifest", _read_manifest_unchecked):
        yield


# ------------------------------------------------------------------------------ retries


@register(
    "attempt_off_by_one",
    "a failed attempt is retried while attempt + 1 <= max_attempts (one attempt too many)",
)
@contextlib.contextmanager
def attempt_off_by_one() -> Iterator[None]:
    with _patch_engine(_Bugs(off_by_one=True), resume=True, run_states=True):
        yield


@register(
    "retry_non_retryable", "a failed attempt is retried whether or not its error is retryable"
)
@contextlib.contextmanager
def retry_non_retryable() -> Iterator[None]:
    with _patch_engine(_Bugs(ignore_retryable=True), resume=True, run_states=True):
        yield


def _no_backoff(policy: Any, attempt: int) -> timedelta:
    return timedelta(0)


@register(
    "backoff_ignored", "retries start at once: the engine never sleeps the retry policy's backoff"
)
@contextlib.contextmanager
def backoff_ignored() -> Iterator[None]:
    # Only the engine's reference to compute_backoff: the invariants keep the real one.
    with mock.patch.object(engine_mod, "compute_backoff", _no_backoff):
        yield


# ------------------------------------------------------------------------------ attempts


@register(
    "dropped_state_failed",
    "a failing attempt appends no StateFailed (its redaction path swallows the append), so "
    "the attempt stays open while the engine retries or finishes the run",
)
@contextlib.contextmanager
def dropped_state_failed() -> Iterator[None]:
    with _patch_engine(_Bugs(drop_state_failed=True), execute=True):
        yield


@register(
    "skip_tags_ignored", "a state whose tags meet run_config.skip_tags still runs its handler"
)
@contextlib.contextmanager
def skip_tags_ignored() -> Iterator[None]:
    with _patch_engine(_Bugs(ignore_skip_tags=True), execute=True):
        yield


# ------------------------------------------------------------------------------ the writer

_WRITER_RETRIES = 3


async def _blind_append(self: EventWriter, events: Sequence[Event]) -> int:
    """Re-reads the head before every append (and again to retry an error), so after an
    indeterminate append it writes the same events a second time at the new head."""
    ts = self._clock.now_millis()  # type: ignore[attr-defined]
    store = self._events  # type: ignore[attr-defined]
    for attempt in range(_WRITER_RETRIES):
        base = await store.head_seq(self.run_id)
        envelopes = [
            EventEnvelope(self.run_id, base + i, ev, ts) for i, ev in enumerate(events, start=1)
        ]
        try:
            self.head = await store.append(self.run_id, base, envelopes)
            return self.head
        except StorageError as exc:
            if not exc.info.retryable or attempt + 1 == _WRITER_RETRIES:
                raise
    raise AssertionError("unreachable")


@register(
    "writer_ignores_expected_seq",
    "the event writer ignores the head it appended and re-reads the store's head before "
    "every append, retrying failed appends there: an ambiguous append is written twice",
)
@contextlib.contextmanager
def writer_ignores_expected_seq() -> Iterator[None]:
    with mock.patch.object(EventWriter, "append", _blind_append):
        yield


# ------------------------------------------------------------------------------ facts


async def _call_ignoring_facts(self: LiveIo, call: IoCall) -> Any:
    if call.fact_key is None:
        return await self._transport.call(call)  # type: ignore[attr-defined]
    # The bug: the recorded payload is never consulted; the transport runs on every attempt.
    result = await self._transport.call(call)  # type: ignore[attr-defined]
    await self._record(call.fact_key, result)
    return result


@register(
    "fact_reexecuted",
    "live IO ignores recorded facts: a retried or resumed attempt calls the transport again",
)
@contextlib.contextmanager
def fact_reexecuted() -> Iterator[None]:
    with mock.patch.object(LiveIo, "call", _call_ignoring_facts):
        yield


# ------------------------------------------------------------------------------ child runs


async def _await_starting_again(self: Any, call: IoCall) -> Any:
    req = call.request
    if call.fact_key is None:
        raise io_error(
            IoErrorKind.MISSING_FACT_KEY,
            "missing_fact_key",
            ErrorCategory.PARSING_INPUT,
            "child run await needs a fact key",
        )
    if not isinstance(req, dict) or req.get("kind") != child_mod.AWAIT_KIND:
        raise child_mod._bad_request(
            f"child run await request must have kind {child_mod.AWAIT_KIND}"
        )
    try:
        child_id = uuid.UUID(str(req["child_run_id"]))
    except (KeyError, ValueError):
        raise child_mod._bad_request("child run await needs a valid child_run_id") from None
    task = self._factory._supervisor.get(child_id)
    if task is None:
        spawn = req.get("spawn")
        existing = await self._existing_manifest_id(child_id)
        if isinstance(spawn, dict):
            # The bug: whether or not the child exists, it is started from the spawn request.
            manifest, initial = child_mod._spawn_manifest(spawn)
            manifest_id = await self._store_manifest(manifest)
            task = self._launch(child_id, manifest, manifest_id, initial, False)
        elif existing is not None:
            task = self._launch(child_id, None, existing, {}, True)
        else:
            raise child_mod._child_error("run_not_found", f"child run {child_id} was never started")
    try:
        result = await task
    except RunError as exc:
        if exc.kind is RunErrorKind.STORAGE:
            raise
        return {
            "status": "failed",
            "final_snapshot_id": None,
            "final_snapshot": None,
            "error": exc.info.code,
        }
    status = "failed" if result.phase is RunPhase.RUNNING else result.phase.value
    snapshot = None
    if result.final_snapshot_id is not None:
        snapshot = await child_mod.read_snapshot(self._stores.artifacts, result.final_snapshot_id)
    return {
        "status": status,
        "final_snapshot_id": result.final_snapshot_id,
        "final_snapshot": snapshot,
    }


@register(
    "child_started_twice",
    "awaiting a child with no task in this process starts it again from the spawn request "
    "even when its run already exists (a second RunStarted in the child's log)",
)
@contextlib.contextmanager
def child_started_twice() -> Iterator[None]:
    with mock.patch.object(child_mod._ChildRunTransport, "_await", _await_starting_again):
        yield


# ------------------------------------------------------------------------------ artifacts


async def _read_snapshot_unverified(artifacts: Any, snapshot_id: str) -> dict[str, Any]:
    data = await artifacts.get(snapshot_id)  # the bug: no content-address check
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise context(
            ContextErrorKind.SERIALIZATION, "snapshot_decode_failed", "snapshot is not JSON"
        ) from None
    if not isinstance(value, dict):
        raise context(
            ContextErrorKind.SERIALIZATION, "snapshot_not_object", "snapshot is not a JSON object"
        )
    return value


@register(
    "snapshot_unverified",
    "context snapshots are read without checking their hash, so corrupted bytes are used "
    "(or fail to decode) instead of being reported as corruption",
)
@contextlib.contextmanager
def snapshot_unverified() -> Iterator[None]:
    with (
        mock.patch.object(attempt_mod, "read_snapshot", _read_snapshot_unverified),
        mock.patch.object(child_mod, "read_snapshot", _read_snapshot_unverified),
    ):
        yield
