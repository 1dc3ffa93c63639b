"""One attempt of one state: enter, run the handler on a staged context, record the outcome."""

from __future__ import annotations

import uuid
from typing import Any

import attrs
from mfm_engine.config import IoMode, RunConfig
from mfm_engine.context import StagedContext, read_snapshot, write_full_snapshot_value
from mfm_engine.errors import (
    ContextError,
    EngineError,
    ErrorCategory,
    ErrorInfo,
    IoError,
    RunError,
    StateError,
    StorageError,
    as_run_error,
    info,
)
from mfm_engine.events import StateCompleted, StateEntered, StateFailed
from mfm_engine.hashing import redact_error_info
from mfm_engine.live_io import FactIndex, LiveIo, LiveIoEnv, LiveIoTransportFactory
from mfm_engine.meta import StateMeta
from mfm_engine.recorder import EventRecorder
from mfm_engine.replay_io import ReplayIo
from mfm_engine.runtime.writer import EventWriter
from mfm_engine.sources import Clock, Entropy
from mfm_engine.stores import Stores


@attrs.frozen
class Completed:
    snapshot_id: str


@attrs.frozen
class Failed:
    retryable: bool


@attrs.frozen
class StopAfterHandler:
    pass


AttemptExec = Completed | Failed | StopAfterHandler


@attrs.define
class EngineFailpoints:
    """Test hooks that stop an engine at a known point. Single use: observing clears the flag."""

    stop_after_handler_once: bool = False

    def should_stop_after_handler(self) -> bool:
        fired = self.stop_after_handler_once
        self.stop_after_handler_once = False
        return fired


@attrs.frozen
class AttemptCtx:
    stores: Stores
    run_config: RunConfig
    run_id: uuid.UUID
    state_id: str
    attempt: int
    base_snapshot_id: str
    facts: FactIndex
    writer: EventWriter
    live_factory: LiveIoTransportFactory
    failpoints: EngineFailpoints | None
    state: Any
    meta: StateMeta
    clock: Clock
    entropy: Entropy


def _handler_error(exc: Exception) -> StateError | None:
    """The state error a handler's exception means, or None if it is the engine's own failure."""
    if isinstance(exc, StateError):
        return exc
    if isinstance(exc, (StorageError, RunError)):
        return None
    if isinstance(exc, (IoError, ContextError, EngineError)):
        return StateError(exc.info)
    return StateError(
        info("handler_exception", ErrorCategory.UNKNOWN, f"{type(exc).__name__}: {exc}")
    )


async def execute_attempt(a: AttemptCtx) -> AttemptExec:
    try:
        return await _execute(a)
    except RunError:
        raise  # already the caller's error, its typed cause chained
    except EngineError as exc:
        raise as_run_error(exc) from exc


async def _execute(a: AttemptCtx) -> AttemptExec:
    await a.writer.append([StateEntered(a.state_id, a.attempt, a.base_snapshot_id)])

    if a.run_config.skip_tags and not set(a.meta.tags).isdisjoint(a.run_config.skip_tags):
        await a.writer.append([StateCompleted(a.state_id, a.base_snapshot_id)])
        return Completed(a.base_snapshot_id)

    ctx = StagedContext(await read_snapshot(a.stores.artifacts, a.base_snapshot_id))
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

    error: StateError | None = None
    try:
        await a.state.handle(ctx, io, recorder)
    except Exception as exc:
        error = _handler_error(exc)
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
    failure: ErrorInfo = redact_error_info(error.info)
    # The handler's exception may be `error` itself, and its traceback holds this frame:
    # dropping the name breaks that cycle, so the attempt is freed without the collector.
    del error
    await a.writer.append([*recorder.events, StateFailed(a.state_id, failure)])
    return Failed(failure.retryable)
