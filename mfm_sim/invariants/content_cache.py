"""The one policy of the oracle's caches by content, across schedules.

A decoded value or a secret verdict is a pure function of its key (the exact bytes or text),
so a cache cannot change one, and the same keys recur in schedule after schedule of a sweep.
Each cache is a plain dict its owner reads inline (the lookup is the hot path); what it keeps
goes through `remember`. Only keys up to `KEPT_SIZE` are kept: a dict holds its keys whole,
and `edge_values` stores snapshots of hundreds of kilobytes that never come back (they held
gigabytes at 1,500 seeds). A full cache is emptied, never trimmed entry by entry: an LRU's
bookkeeping cost more than the lookups it saved.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KEPT_SIZE", "remember"]

KEPT_SIZE = 1 << 16  # bytes of a blob, characters of a text


def remember(cache: dict[Any, Any], key: bytes | str, value: Any, most: int) -> None:
    """Keep `value` under `key` if the key is small; empty `cache` first if it holds `most`."""
    if len(key) <= KEPT_SIZE:
        if len(cache) >= most:
            cache.clear()
        cache[key] = value
