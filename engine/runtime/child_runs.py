"""Child runs through live IO: spawn and await, with deterministic ids and one task per child."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from mfm_engine.config import RunConfig, RunManifest
from mfm_engine.context import JsonContext, put_canonical, read_snapshot
from mfm_engine.errors import ErrorCategory, IoErrorKind, RunError, RunErrorKind
from mfm_engine.events import RunPhase, RunStarted
from mfm_engine.hashing import CanonicalJsonError, artifact_id_for_json, canonical_json_bytes
from mfm_engine.ids import child_run_id, is_artifact_id
from mfm_engine.live_io import IoCall, LiveIoEnv, LiveIoTransport, LiveIoTransportFactory, io_error
from mfm_engine.stores import ArtifactKind, Stores

SPAWN_NAMESPACE = "machine.child_run.spawn"
AWAIT_NAMESPACE = "machine.child_run.await"
SPAWN_KIND = "child_run_spawn_v1"
AWAIT_KIND = "child_run_await_v1"


def _bad_request(message: str) -> Exception:
    return io_error(
        IoErrorKind.OTHER, "child_run_request_invalid", ErrorCategory.PARSING_INPUT, message
    )


def _child_error(code: str, message: str, *, retryable: bool = False) -> Exception:
    return io_error(IoErrorKind.OTHER, code, ErrorCategory.UNKNOWN, message, retryable=retryable)


class _Supervisor:
    """At most one background task per child id, for the life of one engine incarnation."""

    def __init__(self) -> None:
        self.tasks: dict[uuid.UUID, asyncio.Task[Any]] = {}

    def get(self, child_id: uuid.UUID) -> asyncio.Task[Any] | None:
        """The live task for `child_id`; drops a cancelled one or one of another (dead) loop."""
        task = self.tasks.get(child_id)
        loop = asyncio.get_running_loop()
        if task is not None and (task.cancelled() or task.get_loop() is not loop):
            del self.tasks[child_id]
            return None
        return task

    def ensure(self, child_id: uuid.UUID, make: Any) -> asyncio.Task[Any]:
        task = self.get(child_id)
        if task is None:
            task = self.tasks[child_id] = asyncio.get_running_loop().create_task(make())
        return task


class ChildRunLiveIoTransportFactory:
    """Wraps a transport factory; intercepts the child-run namespaces and runs children itself.

    A child runs on an engine built by `engine_factory(self)` (so nested children work) over the
    same stores as its parent.
    """

    def __init__(self, inner: LiveIoTransportFactory | None, engine_factory: Any) -> None:
        self._inner = inner
        self._engine_factory = engine_factory
        self._supervisor = _Supervisor()

    def make(self, env: LiveIoEnv) -> LiveIoTransport:
        inner = self._inner.make(env) if self._inner is not None else None
        return _ChildRunTransport(self, env, inner)

    def engine(self) -> Any:
        return self._engine_factory(self)


def _spawn_manifest(req: dict[str, Any]) -> tuple[RunManifest, dict[str, Any]]:
    try:
        cfg = RunConfig.from_json(req["run_config"])
        manifest = RunManifest(
            op_id=str(req["op_id"]),
            op_version=str(req.get("op_version", "1")),
            input_params={"op_config": req.get("op_config"), "input": req.get("input")},
            run_config=cfg,
        )
        initial = req.get("initial_context") or {}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad_request(f"malformed child run request: {exc}") from None
    if not isinstance(initial, dict):
        raise _bad_request("child initial_context must be a JSON object")
    return manifest, initial


def _initial_snapshot_id(initial: dict[str, Any]) -> str:
    """The id the child's start writes its initial snapshot under: the same canonical bytes."""
    try:
        return artifact_id_for_json(initial)
    except CanonicalJsonError as exc:
        raise _bad_request(f"child initial_context is not canonical JSON: {exc}") from None


class _ChildRunTransport:
    def __init__(
        self, factory: ChildRunLiveIoTransportFactory, env: LiveIoEnv, inner: LiveIoTransport | None
    ) -> None:
        self._factory = factory
        self._env = env
        self._inner = inner

    async def call(self, call: IoCall) -> Any:
        if call.namespace == SPAWN_NAMESPACE:
            return await self._spawn(call)
        if call.namespace == AWAIT_NAMESPACE:
            return await self._await(call)
        if self._inner is None:
            raise io_error(
                IoErrorKind.OTHER,
                "io_unknown_namespace",
                ErrorCategory.UNKNOWN,
                f"no transport for namespace {call.namespace!r}",
            )
        return await self._inner.call(call)

    @property
    def _stores(self) -> Stores:
        return self._env.stores

    async def _store_manifest(self, manifest: RunManifest) -> str:
        return await put_canonical(
            self._stores.artifacts, ArtifactKind.MANIFEST, canonical_json_bytes(manifest.to_json())
        )

    async def _existing_manifest_id(self, child_id: uuid.UUID) -> str | None:
        head = await self._stores.events.head_seq(child_id)
        if head == 0:
            return None
        first = await self._stores.events.read_range(child_id, 1, 1)
        if first and isinstance(first[0].event, RunStarted):
            return first[0].event.manifest_id
        return None

    def _launch(
        self,
        child_id: uuid.UUID,
        manifest: RunManifest,
        manifest_id: str,
        initial: dict[str, Any],
        exists: bool,
    ) -> asyncio.Task[Any]:
        engine = self._factory.engine()
        stores = self._stores

        async def run() -> Any:
            if exists:
                return await engine.resume(stores, child_id)
            from mfm_engine.runtime.engine import StartRun

            plan = engine.resolver.resolve(manifest)
            start = StartRun(manifest, manifest_id, plan, manifest.run_config, JsonContext(initial))
            return await engine.start_with_id(stores, start, child_id)

        return self._factory._supervisor.ensure(child_id, run)

    async def _spawn(self, call: IoCall) -> Any:
        req = call.request
        if call.fact_key is None:
            raise io_error(
                IoErrorKind.MISSING_FACT_KEY,
                "missing_fact_key",
                ErrorCategory.PARSING_INPUT,
                "child run spawn needs a fact key",
            )
        if not isinstance(req, dict) or req.get("kind") != SPAWN_KIND:
            raise _bad_request(f"child run spawn request must have kind {SPAWN_KIND}")
        manifest, initial = _spawn_manifest(req)
        initial_snapshot_id = _initial_snapshot_id(initial)
        child_id = child_run_id(self._env.run_id, call.fact_key)
        manifest_id = await self._store_manifest(manifest)
        existing = await self._existing_manifest_id(child_id)
        if existing is not None and existing != manifest_id:
            raise _child_error(
                "child_run_conflict", f"child run {child_id} exists with another manifest"
            )
        self._launch(child_id, manifest, manifest_id, initial, existing is not None)
        return {
            "parent_run_id": str(self._env.run_id),
            "child_run_id": str(child_id),
            "child_manifest_id": manifest_id,
            "child_initial_snapshot_id": initial_snapshot_id,
        }

    def _awaited_manifest_id(self, req: dict[str, Any]) -> str | None:
        """The child manifest the spawn recorded: the await request's `child_manifest_id` (from
        the spawn's response), else that of its `spawn` request; None if it names neither."""
        recorded = req.get("child_manifest_id")
        if recorded is not None:
            if not is_artifact_id(recorded):
                raise _bad_request("child run await's child_manifest_id is not an artifact id")
            return str(recorded)
        spawn = req.get("spawn")
        if not isinstance(spawn, dict):
            return None
        manifest, _ = _spawn_manifest(spawn)
        return artifact_id_for_json(manifest.to_json())

    async def _await(self, call: IoCall) -> Any:
        req = call.request
        if call.fact_key is None:
            raise io_error(
                IoErrorKind.MISSING_FACT_KEY,
                "missing_fact_key",
                ErrorCategory.PARSING_INPUT,
                "child run await needs a fact key",
            )
        if not isinstance(req, dict) or req.get("kind") != AWAIT_KIND:
            raise _bad_request(f"child run await request must have kind {AWAIT_KIND}")
        try:
            child_id = uuid.UUID(str(req["child_run_id"]))
        except (KeyError, ValueError):
            raise _bad_request("child run await needs a valid child_run_id") from None
        spawn = req.get("spawn")
        existing = await self._existing_manifest_id(child_id)
        expected = self._awaited_manifest_id(req)
        if existing is not None and expected is not None and existing != expected:
            raise _child_error(
                "child_run_conflict",
                f"child run {child_id} holds another manifest than the spawn recorded",
            )
        task = self._factory._supervisor.get(child_id)
        if task is None:
            if existing is None:
                if not isinstance(spawn, dict):
                    raise _child_error("run_not_found", f"child run {child_id} was never started")
                manifest, initial = _spawn_manifest(spawn)
                manifest_id = await self._store_manifest(manifest)
                task = self._launch(child_id, manifest, manifest_id, initial, False)
            else:
                task = self._launch(child_id, None, existing, {}, True)  # type: ignore[arg-type]
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
        phase = result.phase
        status = "failed" if phase is RunPhase.RUNNING else phase.value
        snapshot = None
        if result.final_snapshot_id is not None:
            snapshot = await read_snapshot(self._stores.artifacts, result.final_snapshot_id)
        return {
            "status": status,
            "final_snapshot_id": result.final_snapshot_id,
            "final_snapshot": snapshot,
        }
