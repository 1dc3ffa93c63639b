"""Canonical JSON, content addressing, secret detection and error redaction."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from engine.errors import ErrorInfo


class CanonicalJsonError(ValueError):
    code = "canonical_json_error"


class FloatNotAllowed(CanonicalJsonError):
    code = "float_not_allowed"


class SecretsNotAllowed(CanonicalJsonError):
    code = "secrets_not_allowed"


class NotJson(CanonicalJsonError):
    code = "not_json"


SECRET_MARKERS: tuple[str, ...] = (
    "password",
    "passphrase",
    "mnemonic",
    "private_key",
    "privatekey",
    "seed phrase",
    "seed_phrase",
    "seedphrase",
    "api_key",
    "apikey",
    "x-api-key",
    "x_api_key",
    "access_key",
    "accesskey",
    "secret_key",
    "secretkey",
    "aws_access_key_id",
    "aws_secret_access_key",
    "access_token",
    "refresh_token",
    "id_token",
    "authorization",
    "bearer ",
)
_MNEMONIC_WORD = re.compile(r"^[a-z]+$")
REDACTED_MESSAGE = "error details redacted"


def _looks_like_mnemonic(text: str) -> bool:
    words = text.split()
    return 12 <= len(words) <= 24 and all(_MNEMONIC_WORD.match(w) for w in words)


def string_has_secret(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in SECRET_MARKERS) or _looks_like_mnemonic(text)


def contains_secrets(value: Any) -> bool:
    """True if any object key or string value (at any depth) looks like a secret."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if string_has_secret(item):
                return True
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and string_has_secret(k):
                    return True
                stack.append(v)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def _check_canonical(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (str, bool, int)):
            continue
        if isinstance(item, float):
            raise FloatNotAllowed("floats are not allowed in canonical JSON")
        if isinstance(item, dict):
            for k, v in item.items():
                if not isinstance(k, str):
                    raise NotJson(f"object key {k!r} is not a string")
                stack.append(v)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            raise NotJson(f"{type(item).__name__} is not a JSON value")


def _sort_key(key: str) -> bytes:
    return key.encode("utf-8")


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        first = True
        for k in sorted(value, key=_sort_key):
            if not first:
                out.append(",")
            first = False
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _encode(value[k], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    else:
        out.append(json.dumps(value, ensure_ascii=False))


def canonical_json_bytes(value: Any) -> bytes:
    """Secrets first, then: no whitespace, keys sorted by UTF-8 bytes, integers only."""
    if contains_secrets(value):
        raise SecretsNotAllowed("value contains secrets")
    _check_canonical(value)
    out: list[str] = []
    try:
        _encode(value, out)
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:
        raise NotJson("string is not valid Unicode (lone surrogate)") from None


def artifact_id_for_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact_id_for_json(value: Any) -> str:
    return artifact_id_for_bytes(canonical_json_bytes(value))


def redact_error_info(error: ErrorInfo) -> ErrorInfo:
    """Details never persist; a message with a secret is replaced."""
    message = REDACTED_MESSAGE if string_has_secret(error.message) else error.message
    return ErrorInfo(error.code, error.category, error.retryable, message, None)
