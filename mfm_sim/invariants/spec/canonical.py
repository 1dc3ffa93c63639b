"""Canonical JSON bytes, artifact ids and JSON decoding, as ENGINE.md ("Canonical JSON and
hashing") specifies them: secrets refused first, then no whitespace, object keys sorted by their
UTF-8 bytes, strings escaped as JSON does, integers only (bool is not a number)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mfm_sim.invariants.spec.secrets import has_secret

__all__ = [
    "FloatFound",
    "NotCanonical",
    "NotJsonValue",
    "SecretFound",
    "artifact_id",
    "canonical_bytes",
    "decode",
    "json_artifact_id",
]


class NotCanonical(ValueError):
    """The value has no canonical JSON form."""


class SecretFound(NotCanonical):
    """A key or string looks like a secret (checked before anything else)."""


class FloatFound(NotCanonical):
    """A float, `1.0` included: canonical JSON holds integers only."""


class NotJsonValue(NotCanonical):
    """Not a JSON value: another type, a non-string key, a cycle or a string that is not
    valid Unicode."""


def artifact_id(data: bytes) -> str:
    """Lowercase hex SHA-256 of the bytes."""
    return hashlib.sha256(data).hexdigest()


def json_artifact_id(value: Any) -> str:
    """The artifact id of the value's canonical bytes."""
    return artifact_id(canonical_bytes(value))


def canonical_bytes(value: Any) -> bytes:
    """The canonical UTF-8 bytes of a JSON value; `NotCanonical` (a subclass saying why) if it
    has none. A secret anywhere wins over any other reason."""
    if has_secret(value):
        raise SecretFound("value contains secrets")
    parts: list[str] = []
    _emit(value, parts, set())
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate has no UTF-8 form
        raise NotJsonValue(f"string is not valid unicode: {exc.reason}") from None


def _emit(value: Any, parts: list[str], path: set[int]) -> None:
    # bool before int: it is a JSON literal, not a number.
    if value is None or value is True or value is False:
        parts.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, float):
        raise FloatFound("floats are not allowed in canonical JSON")
    elif isinstance(value, int) and not isinstance(value, bool):
        parts.append(str(int(value)))
    elif isinstance(value, str):
        parts.append(json.dumps(str(value), ensure_ascii=False))
    elif isinstance(value, (dict, list, tuple)):
        if id(value) in path:
            raise NotJsonValue("circular reference: a value contains itself")
        path.add(id(value))
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str):
                    raise NotJsonValue(f"object key {key!r} is not a string")
            parts.append("{")
            for i, key in enumerate(sorted(value, key=_utf8_order)):
                if i:
                    parts.append(",")
                parts.append(json.dumps(str(key), ensure_ascii=False))
                parts.append(":")
                _emit(value[key], parts, path)
            parts.append("}")
        else:
            parts.append("[")
            for i, item in enumerate(value):
                if i:
                    parts.append(",")
                _emit(item, parts, path)
            parts.append("]")
        path.discard(id(value))
    else:
        raise NotJsonValue(f"{type(value).__name__} is not a JSON value")


def _utf8_order(key: str) -> bytes:
    # Keys sort by their UTF-8 bytes; a key with no UTF-8 form sorts by its escapes, and the
    # encoding of the whole then refuses it.
    return key.encode("utf-8", "surrogatepass")


def decode(data: bytes) -> Any:
    """JSON from UTF-8 bytes, as the engine's stores are read: UTF-8 only (no BOM, no other
    encoding); whitespace around the value is allowed. Raises ValueError (UnicodeDecodeError or
    JSONDecodeError) for anything else."""
    return json.loads(data.decode("utf-8"))
