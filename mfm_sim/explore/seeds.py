"""Seed sequences that are never materialised: `--seed-range 0..18446744073709551615` is legal
(seeds are u64), so a sweep's seeds are a lazy span, not a list or a bare `range`."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import overload

import attrs

__all__ = ["SEED_SPACE", "SeedSpan", "range_count"]

SEED_SPACE = 2**64


def range_count(r: range) -> int:
    """`len(r)`, also past `sys.maxsize` (where `len` raises OverflowError)."""
    span = r.stop - r.start if r.step > 0 else r.start - r.stop
    return max(0, (span + abs(r.step) - 1) // abs(r.step))


@attrs.frozen
class SeedSpan(Sequence[int]):
    """The seeds of `seeds` (a range of u64 seeds), lazily.

    A `range` of more than `sys.maxsize` items cannot report its length (`len()` raises
    OverflowError), so this one reports at most `sys.maxsize`: a sweep stops long before
    (its time budget, `--maxfail`), and `count` keeps the exact number for display.
    """

    seeds: range

    @property
    def count(self) -> int:
        return range_count(self.seeds)

    def __len__(self) -> int:
        return min(self.count, sys.maxsize)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> SeedSpan: ...
    def __getitem__(self, index: int | slice) -> int | SeedSpan:
        if isinstance(index, slice):
            return SeedSpan(self.seeds[index])
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError("seed index out of range")
        return self.seeds[index]

    def __iter__(self) -> Iterator[int]:
        return (self.seeds[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return self.count > 0
