"""Secret detection and the redaction of a state's error, as ENGINE.md says: a case-insensitive
substring of any marker, or a mnemonic-looking string, in any object key or string value
(numbers and bools never); a persisted error drops its details and a message holding a secret
becomes "error details redacted"."""

from __future__ import annotations

import re
from typing import Any

from mfm_engine.errors import ErrorInfo

from mfm_sim.invariants.content_cache import remember

__all__ = [
    "MARKERS",
    "REDACTED",
    "VERDICTS",
    "has_secret",
    "looks_like_mnemonic",
    "redact",
    "text_has_secret",
]

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
# One scan of the lowered text for all markers: a match exactly when one is a substring.
_ANY_MARKER = re.compile("|".join(map(re.escape, MARKERS)))
REDACTED = "error details redacted"
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
# Unicode White_Space, what the original's `split_whitespace` splits on (Python's `str.split`
# also splits on the separators U+001C..U+001F, which are not whitespace).
_WHITESPACE = re.compile(
    r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
)


def looks_like_mnemonic(text: str) -> bool:
    """12 to 24 whitespace-separated words, each only lowercase ASCII letters."""
    words = [word for word in _WHITESPACE.split(text) if word]
    return 12 <= len(words) <= 24 and all(_LOWER.issuperset(word) for word in words)


# Verdicts by exact string, kept by `content_cache`'s policy (a longer text is judged each
# time). Emptied when full, never replaced: `secret_words` reads this very dict inline.
VERDICTS: dict[str, bool] = {}
_KEPT = 1 << 15


def _judge(text: str) -> bool:
    lowered = str(text).lower()
    return _ANY_MARKER.search(lowered) is not None or looks_like_mnemonic(str(text))


def text_has_secret(text: str) -> bool:
    if type(text) is not str:
        return _judge(text)  # a subclass may render itself differently: judged each time
    found = VERDICTS.get(text)
    if found is None:
        found = _judge(text)
        remember(VERDICTS, text, found, _KEPT)
    return found


def has_secret(value: Any) -> bool:
    """True if any object key or string value, at any depth, looks like a secret."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if text_has_secret(item):
                return True
        elif isinstance(item, (dict, list, tuple)):
            if id(item) in seen:  # a cycle: scanned already
                continue
            seen.add(id(item))
            if isinstance(item, dict):
                stack.extend(k for k in item if isinstance(k, str))
                stack.extend(item.values())
            else:
                stack.extend(item)
    return False


def redact(error: ErrorInfo) -> ErrorInfo:
    """The error as it may be persisted: no details; a message with a secret replaced."""
    message = REDACTED if text_has_secret(error.message) else error.message
    return ErrorInfo(error.code, error.category, error.retryable, message, None)
