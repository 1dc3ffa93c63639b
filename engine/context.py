"""JSON contexts, the staged overlay a handler writes to, and verified artifact reads/writes."""

from __future__ import annotations

from typing import Any

from mfm_engine.errors import ContextErrorKind, StorageErrorKind, context, storage
from mfm_engine.hashing import (
    FloatNotAllowed,
    NotJson,
    SecretsNotAllowed,
    artifact_id_for_bytes,
    canonical_json_bytes,
)
from mfm_engine.read_back import mark_canonical, validated_json
from mfm_engine.stores import ArtifactKind, ArtifactStore

_MISSING = object()


class JsonContext:
    """A mutable JSON object; what `StartRun.initial_context` carries."""

    def __init__(self, value: dict[str, Any] | None = None) -> None:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise context(
                ContextErrorKind.SERIALIZATION,
                "snapshot_not_object",
                "context must be a JSON object",
            )
        self._data = dict(value)

    def read(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def dump(self) -> dict[str, Any]:
        return dict(self._data)


class StagedContext:
    """Reads see staged writes first; nothing reaches the base until `dump` is snapshotted."""

    def __init__(self, base: dict[str, Any]) -> None:
        self._base = base
        self._writes: dict[str, Any] = {}
        self._deletes: set[str] = set()

    def read(self, key: str, default: Any = None) -> Any:
        value = self._writes.get(key, _MISSING)
        if value is not _MISSING:
            return value
        if key in self._deletes:
            return default
        return self._base.get(key, default)

    def require(self, key: str) -> Any:
        value = self.read(key, _MISSING)
        if value is _MISSING:
            raise context(
                ContextErrorKind.MISSING_KEY, "context_missing_key", f"context key {key!r} missing"
            )
        return value

    def write(self, key: str, value: Any) -> None:
        self._deletes.discard(key)
        self._writes[key] = value

    def delete(self, key: str) -> None:
        self._writes.pop(key, None)
        self._deletes.add(key)

    def dump(self) -> dict[str, Any]:
        out = {k: v for k, v in self._base.items() if k not in self._deletes}
        out.update(self._writes)
        return out

    def discard(self) -> None:
        self._writes.clear()
        self._deletes.clear()


def snapshot_bytes(value: Any) -> bytes:
    """Canonical bytes of a context snapshot, or the `ContextError` that forbids it."""
    if not isinstance(value, dict):
        raise context(
            ContextErrorKind.SERIALIZATION, "snapshot_not_object", "snapshot must be a JSON object"
        )
    try:
        return canonical_json_bytes(value)
    except SecretsNotAllowed:
        # The original's kind: a secret is a policy refusal, not a failure to serialize.
        raise context(
            ContextErrorKind.OTHER, "secrets_detected", "context contained secrets"
        ) from None
    except (FloatNotAllowed, NotJson) as exc:
        raise context(ContextErrorKind.SERIALIZATION, "snapshot_not_canonical", str(exc)) from None


async def put_verified(artifacts: ArtifactStore, kind: ArtifactKind, data: bytes) -> str:
    """Store bytes and insist that the store answered with their content address."""
    expected = artifact_id_for_bytes(data)
    got = await artifacts.put(kind, data)
    if got != expected:
        raise storage(
            StorageErrorKind.CORRUPTION,
            "artifact_put_id_mismatch",
            f"store returned id {got} for bytes hashing to {expected}",
        )
    return expected


async def get_verified(artifacts: ArtifactStore, artifact_id: str) -> bytes:
    """Read bytes and refuse them unless they hash to the id they were asked for."""
    data = await artifacts.get(artifact_id)
    if artifact_id_for_bytes(data) != artifact_id:
        raise storage(
            StorageErrorKind.CORRUPTION,
            "artifact_content_address_mismatch",
            f"artifact {artifact_id} bytes do not hash to their id",
        )
    return data


async def put_canonical(artifacts: ArtifactStore, kind: ArtifactKind, data: bytes) -> str:
    """`put_verified` for bytes from `canonical_json_bytes`: their read-back checks hold."""
    artifact_id = await put_verified(artifacts, kind, data)
    mark_canonical(artifact_id)
    return artifact_id


async def read_json_artifact(artifacts: ArtifactStore, artifact_id: str) -> Any:
    """The JSON value of an artifact, its bytes checked against its id, then re-validated."""
    return validated_json(await get_verified(artifacts, artifact_id), artifact_id)


async def write_full_snapshot_value(artifacts: ArtifactStore, value: Any) -> str:
    return await put_canonical(artifacts, ArtifactKind.CONTEXT_SNAPSHOT, snapshot_bytes(value))


async def read_snapshot(artifacts: ArtifactStore, snapshot_id: str) -> dict[str, Any]:
    value = await read_json_artifact(artifacts, snapshot_id)
    if not isinstance(value, dict):
        raise context(
            ContextErrorKind.SERIALIZATION, "snapshot_not_object", "snapshot is not a JSON object"
        )
    return value
