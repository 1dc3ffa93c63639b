"""Secret verdicts for the promise checks, remembered: the rule is `spec.secrets`'s (ENGINE.md's
markers and mnemonics), which caches its verdicts by exact string; this module walks values
with that cache read inline and caches verdicts by stored bytes, since the same keys, values
and artifacts recur in every schedule of a sweep. A verdict is a pure function of its key, so
the cache cannot change one; it is emptied when full.
"""

from __future__ import annotations

from typing import Any

from mfm_sim.invariants.content_cache import remember
from mfm_sim.invariants.spec.canonical import decode
from mfm_sim.invariants.spec.secrets import VERDICTS, text_has_secret

__all__ = ["json_has_secret", "string_is_secret", "value_has_secret"]

_strings = VERDICTS  # the rule's own cache, read inline below
_blobs: dict[bytes, bool] = {}  # kept by `content_cache`'s policy
_KEPT = 1 << 15
# Exact types that hold no string: a dict item of one of them is not pushed to be looked at.
_LEAVES = frozenset((int, float, bool, type(None)))


# The rule itself, cached there by exact string: no call level of its own.
string_is_secret = text_has_secret


def value_has_secret(value: Any) -> bool:
    """True if an object key or string value anywhere in `value` is secret."""
    strings = _strings
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        # Exact types first (the cache read inline: no call per string); subclasses below.
        if t is str:
            found = strings.get(v)
            if found is None:
                found = string_is_secret(v)
            if found:
                return True
        elif t is dict:
            for k, item in v.items():
                if type(k) is str:
                    found = strings.get(k)
                    if found is None:
                        found = string_is_secret(k)
                    if found:
                        return True
                elif isinstance(k, str) and string_is_secret(k):
                    return True
                ti = type(item)
                if ti is str:  # a string value, judged here rather than pushed
                    found = strings.get(item)
                    if found is None:
                        found = string_is_secret(item)
                    if found:
                        return True
                elif ti not in _LEAVES:  # a number, bool or null holds no string
                    stack.append(item)
        elif t is list or t is tuple:
            stack.extend(v)
        elif isinstance(v, str):
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
    if found is None:
        try:
            found = value_has_secret(decode(data))
        except (ValueError, UnicodeDecodeError, RecursionError):
            found = False
        remember(_blobs, data, found, _KEPT)
    return found
