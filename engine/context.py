"""JSON contexts, the staged overlay a handler writes to, and verified artifact reads/writes."""

from __future__ import annotations

import json
from typing import Any

from mfm_engine.errors import ContextErrorKind, StorageErrorKind, context, storage
from mfm_engine.hashing import (
    FloatNotAllowed,
    NotJson,
    SecretsNotAllowed,
    artifact_id_for_bytes,
    canonical_json_bytes,
    decode_json,
)
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
        raise context(
            ContextErrorKind.SERIALIZATION, "secrets_detected", "context contained secrets"
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


async def write_full_snapshot_value(artifacts: ArtifactStore, value: Any) -> str:
    return await put_verified(artifacts, ArtifactKind.CONTEXT_SNAPSHOT, snapshot_bytes(value))


async def read_snapshot(artifacts: ArtifactStore, snapshot_id: str) -> dict[str, Any]:
    data = await get_verified(artifacts, snapshot_id)
    try:
        value = decode_json(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise context(
            ContextErrorKind.SERIALIZATION, "snapshot_decode_failed", "snapshot is not JSON"
        ) from None
    if not isinstance(value, dict):
        raise context(
            ContextErrorKind.SERIALIZATION, "snapshot_not_object", "snapshot is not a JSON object"
        )
    return value
