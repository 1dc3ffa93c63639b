"""The oracle's own secret detection, written from ENGINE.md ("Canonical JSON and hashing"):
recursively over object keys and string values (never numbers or bools), a case-insensitive
substring of any marker below, or a mnemonic: 12 to 24 whitespace-separated words, each only
lowercase ASCII letters.

A private detector for the promise checks; the oracle's shared one (`invariants/spec/`) is
written in parallel, and the two are to be unified.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MARKERS", "json_has_secret", "string_is_secret", "value_has_secret"]

MARKERS: tuple[str, ...] = (
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
_WORD = re.compile(r"[a-z]+")

# Verdicts by exact string and by stored bytes: the same keys, values and artifacts recur in
# every schedule of a sweep. A verdict is a pure function of its key, so the cache cannot
# change one; it is emptied when full.
_strings: dict[str, bool] = {}
_blobs: dict[bytes, bool] = {}
_KEPT = 1 << 15


def string_is_secret(text: str) -> bool:
    found = _strings.get(text)
    if found is not None:
        return found
    low = text.lower()
    found = any(m in low for m in MARKERS)
    if not found:
        words = text.split()
        found = 12 <= len(words) <= 24 and all(_WORD.fullmatch(w) for w in words)
    if len(_strings) >= _KEPT:
        _strings.clear()
    _strings[text] = found
    return found


def value_has_secret(value: Any) -> bool:
    """True if an object key or string value anywhere in `value` is secret."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if string_is_secret(v):
                return True
        elif isinstance(v, dict):
            for k, item in v.items():
                if isinstance(k, str) and string_is_secret(k):
                    return True
                stack.append(item)
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return False


def json_has_secret(data: bytes) -> bool:
    """True if `data` decodes as JSON holding a secret (bytes that are not JSON: False)."""
    found = _blobs.get(data)
    if found is not None:
        return found
    try:
        found = value_has_secret(json.loads(data))
    except (ValueError, UnicodeDecodeError, RecursionError):
        found = False
    if len(_blobs) >= _KEPT:
        _blobs.clear()
    _blobs[data] = found
    return found
