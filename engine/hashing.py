"""Canonical JSON, content addressing, secret detection and error redaction."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from mfm_engine.errors import ErrorInfo


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


_MARKER_RE = re.compile("|".join(re.escape(m) for m in SECRET_MARKERS))
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# `JSONEncoder.encode` builds a fresh C encoder on every call; building it once halves the
# cost of a small value. No circular check: `_scan` has walked the value first.
_encode_chunks: Any = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    if json.encoder.c_make_encoder is not None  # type: ignore[attr-defined]
    else None
)


def _encode(value: Any) -> str:
    if _encode_chunks is None:  # no C accelerator: the pure-Python encoder does the same
        return _ENCODER.encode(value)
    return "".join(_encode_chunks(value, 0))


# Unicode White_Space: what the original's `split_whitespace` splits on. Not `str.split()`,
# which also splits on U+001C..U+001F (separators, not whitespace).
_WHITESPACE = re.compile(
    r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
)


def _looks_like_mnemonic(text: str) -> bool:
    # Cheap filter first: 12 one-letter words and 11 separators are 23 characters.
    if len(text) < 23:
        return False
    words = [w for w in _WHITESPACE.split(text) if w]
    return 12 <= len(words) <= 24 and all(_MNEMONIC_WORD.match(w) for w in words)


def _is_secret(text: str) -> bool:
    return _MARKER_RE.search(text.lower()) is not None or _looks_like_mnemonic(text)


def _check_secret(text: str) -> bool:
    """The verdict for an exact `str`, remembered: the same keys and values are scanned again
    in every snapshot of a run. A plain dict, emptied when full, is a cheaper hit than an
    LRU's bookkeeping."""
    found = _is_secret(text)
    if len(_secret_verdicts) >= _SECRET_VERDICTS_KEPT:
        _secret_verdicts.clear()
    _secret_verdicts[text] = found
    return found


_secret_verdicts: dict[str, bool] = {}
_SECRET_VERDICTS_KEPT = 1 << 16
_known_secret = _secret_verdicts.get


def string_has_secret(text: str) -> bool:
    if type(text) is not str:
        # A subclass may hash, compare or lower itself its own way: it must never answer
        # for (or be answered by) the plain string it equals.
        return _is_secret(text)
    found = _known_secret(text)
    return _check_secret(text) if found is None else found


class _Leave:
    """Marks, on the scan stack, the end of a container's members (cycle tracking)."""

    __slots__ = ("key",)

    def __init__(self, key: int) -> None:
        self.key = key


# A value with more containers than this is scanned again with cycle tracking: only a cycle
# (or a value too big to store anyway) gets here, and the common scan stays free of it.
_CAREFUL_AFTER = 100_000


def _scan(value: Any, careful: bool = False) -> tuple[bool, Exception | None]:
    """One pass over a value: (has a secret, the first reason it is not canonical JSON)."""
    problem: Exception | None = None
    stack = [value]
    pop, push = stack.pop, stack.append
    # `string_has_secret`, inlined for exact `str`s: a cached verdict, else check and cache.
    known, check = _known_secret, _check_secret
    containers = 0
    active: set[int] = set()  # ids of the containers on the current path (careful mode)
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict or kind is list or kind is tuple:
            pass
        elif kind is str:
            found = known(item)
            if found or (found is None and check(item)):
                return True, problem
            continue
        elif item is None or kind is int or kind is bool:
            continue
        elif kind is _Leave:
            active.discard(item.key)
            continue
        elif isinstance(item, float):
            problem = problem or FloatNotAllowed("floats are not allowed in canonical JSON")
            continue
        elif isinstance(item, str):
            if string_has_secret(str(item)):
                return True, problem
            continue
        elif isinstance(item, int):
            continue
        elif not isinstance(item, (dict, list, tuple)):
            if problem is None:
                problem = NotJson(f"{type(item).__name__} is not a JSON value")
            continue
        # A container (or a subclass of one).
        containers += 1
        if careful:
            if id(item) in active:
                problem = problem or NotJson("circular reference: a value contains itself")
                continue
            active.add(id(item))
            push(_Leave(id(item)))
        elif containers > _CAREFUL_AFTER:
            return _scan(value, careful=True)
        if isinstance(item, dict):
            for k in item:
                if type(k) is str:
                    found = known(k)
                    if found or (found is None and check(k)):
                        return True, problem
                elif problem is None:
                    problem = NotJson(f"object key {k!r} is not a string")
            members: Any = item.values()
        else:
            members = item
        # Scalar members are checked in place: most are strings or ints, and a push and pop
        # per member would cost more than the check.
        for v in members:
            t = type(v)
            if t is str:
                found = known(v)
                if found or (found is None and check(v)):
                    return True, problem
            elif not (t is int or t is bool or v is None):
                push(v)
    return False, problem


def contains_secrets(value: Any) -> bool:
    """True if any object key or string value (at any depth) looks like a secret."""
    return _scan(value)[0]


def canonical_json_bytes(value: Any) -> bytes:
    """Secrets first, then: no whitespace, keys sorted by UTF-8 bytes, integers only.

    UTF-8 preserves code-point order, so sorting keys as Python strings is the same order.
    """
    secret, problem = _scan(value)
    if secret:
        raise SecretsNotAllowed("value contains secrets")
    if problem is not None:
        raise problem
    try:
        return _encode(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotJson(f"string is not valid unicode: {exc.reason}") from None


def json_bytes_unchecked(value: Any) -> bytes:
    """`canonical_json_bytes` without its checks (secrets, floats, keys, types): the same
    bytes for a value that passes them, for a caller whose reader checks them anyway."""
    return _encode(value).encode("utf-8")


_scan_once: Any = json.scanner.make_scanner(json.JSONDecoder())


def decode_json(data: bytes) -> Any:
    """`json.loads` of UTF-8 bytes, as `serde_json::from_slice` reads them (no BOM, no other
    encoding).

    Bytes with nothing around the value (canonical bytes) go straight to the C scanner:
    `json.loads` spends most of a small value's time in its Python layers (encoding
    detection, whitespace skipping). Anything else gets `json.loads` itself, with its errors.
    """
    text = data.decode("utf-8")
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        return json.loads(text)  # raises the decoder's own error
    if end != len(text):
        return json.loads(text)  # trailing whitespace is fine, anything else an error
    return value


def artifact_id_for_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact_id_for_json(value: Any) -> str:
    return artifact_id_for_bytes(canonical_json_bytes(value))


def redact_error_info(error: ErrorInfo) -> ErrorInfo:
    """Details never persist; a message with a secret is replaced."""
    message = REDACTED_MESSAGE if string_has_secret(error.message) else error.message
    return ErrorInfo(error.code, error.category, error.retryable, message, None)
