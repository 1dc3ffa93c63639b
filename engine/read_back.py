"""Checks of a JSON artifact read back from a store: the bytes the engine would have written.

Every JSON artifact the engine writes (manifest, snapshots, fact payloads) is canonical, holds
no float and no secret. A store that returns anything else for an id whose hash they match was
never given those bytes by this engine, so each failed check is `StorageError` CORRUPTION.
"""

from __future__ import annotations

import json
from typing import Any

from mfm_engine.errors import StorageError, corruption
from mfm_engine.hashing import FloatNotAllowed, NotJson, SecretsNotAllowed, decode_json
from mfm_engine.hashing import canonical_json_bytes as _canonical

__all__ = ["mark_canonical", "validated_json"]

# Ids whose bytes passed these checks (or were made canonical by the engine). The caller has
# matched the bytes to the id's hash, so the same id means the same bytes: the checks hold
# again, and a hot read path (every attempt reads its base snapshot) skips the re-encode.
_validated: dict[str, None] = {}
_VALIDATED_KEPT = 1 << 16


def mark_canonical(artifact_id: str) -> None:
    """Remember that `artifact_id` names canonical, secret-free, float-free JSON bytes."""
    if len(_validated) >= _VALIDATED_KEPT:
        _validated.clear()
    _validated[artifact_id] = None


def _refused(code: str, artifact_id: str, message: str) -> StorageError:
    return corruption(code, f"artifact {artifact_id} {message}", {"artifact_id": artifact_id})


def validated_json(data: bytes, artifact_id: str) -> Any:
    """The JSON value of `data` (already matched to `artifact_id`), refused unless the engine
    could have written it: decodable, no secret, no float, canonical bytes."""
    try:
        value = decode_json(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise _refused("artifact_json_decode_failed", artifact_id, "is not JSON") from None
    if artifact_id in _validated:
        return value
    try:
        canonical = _canonical(value)
    except SecretsNotAllowed:
        raise _refused("secrets_detected", artifact_id, "holds a secret") from None
    except FloatNotAllowed:
        raise _refused("artifact_float_not_allowed", artifact_id, "holds a float") from None
    except NotJson:  # only a decoded value that cannot re-encode (a lone surrogate) gets here
        raise _refused("artifact_not_canonical", artifact_id, "is not canonical JSON") from None
    if canonical != data:
        raise _refused("artifact_not_canonical", artifact_id, "is not canonical JSON")
    mark_canonical(artifact_id)
    return value
