"""Virtual time for the simulator.

Time is an integer count of nanoseconds so that arithmetic is exact and identical on every
platform; floats appear only at the asyncio boundary (`loop.time()`).

The clock and the timer queue are separate objects on purpose: when a simulated process
crashes, its event loop (and with it every timer that incarnation scheduled) is thrown away,
but the next incarnation's loop keeps using the same `VirtualClock`, so time carries on
instead of restarting at zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from sortedcontainers import SortedList

__all__ = ["NS_PER_MS", "NS_PER_SEC", "ClockError", "TimerQueue", "VirtualClock"]

T = TypeVar("T")

NS_PER_SEC = 1_000_000_000
NS_PER_MS = 1_000_000


class ClockError(ValueError):
    """Raised on an attempt to move virtual time backwards or to an invalid value."""


class VirtualClock:
    """Monotonic virtual time in integer nanoseconds, shareable by successive loops."""

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        if start_ns < 0:
            raise ClockError(f"clock cannot start before 0 ns, got {start_ns}")
        self._now_ns = int(start_ns)

    def __repr__(self) -> str:
        return f"VirtualClock(now_ns={self._now_ns})"

    # A read-only property (not a plain attribute) so nothing can bypass the monotonicity
    # check in `advance_to` by assigning directly.
    @property
    def now_ns(self) -> int:
        """Current virtual time in nanoseconds."""
        return self._now_ns

    def now(self) -> float:
        """Current virtual time in seconds (what `loop.time()` reports)."""
        return self._now_ns / NS_PER_SEC

    def now_millis(self) -> int:
        """Current virtual time in whole milliseconds, rounded down."""
        return self._now_ns // NS_PER_MS

    def advance_to(self, ns: int) -> None:
        """Move time forward to `ns`; staying put is allowed, going backwards is a bug."""
        if ns < self._now_ns:
            raise ClockError(
                f"virtual time cannot go backwards: now {self._now_ns} ns, asked for {ns} ns"
            )
        self._now_ns = ns

    def advance_by(self, delta_ns: int) -> None:
        """Move time forward by `delta_ns` (>= 0)."""
        if delta_ns < 0:
            raise ClockError(f"cannot advance by a negative amount: {delta_ns} ns")
        self._now_ns += delta_ns


_NO_ENTRIES: SortedList = SortedList()  # never added to: `push` replaces it first


class TimerQueue(Generic[T]):
    """Timers in a `SortedList` keyed by (when_ns, seq).

    `seq` increases with every push, so timers due at the same instant fire in the order they
    were scheduled, and the payload itself is never compared (asyncio handles are not
    meaningfully orderable). Cancellation is left to the owner: entries are opaque here, and
    the owner either skips dead ones at the head or calls `compact`.
    """

    __slots__ = ("_entries", "_seq")

    def __init__(self) -> None:
        # Shared and empty until the first push: most loops never set a timer, and a new
        # SortedList costs more than the rest of a loop's setup.
        self._entries: SortedList = _NO_ENTRIES
        self._seq = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def push(self, when_ns: int, item: T) -> int:
        """Schedule `item` at `when_ns`; returns the tie-breaking sequence number."""
        seq = self._seq
        self._seq = seq + 1
        entries = self._entries
        if entries is _NO_ENTRIES:
            entries = self._entries = SortedList()
        entries.add((when_ns, seq, item))
        return seq

    def peek(self) -> tuple[int, T] | None:
        """The earliest (when_ns, item), or None if empty."""
        if not self._entries:
            return None
        when_ns, _, item = self._entries[0]
        return when_ns, item

    def peek_time(self) -> int | None:
        """When the earliest timer is due, or None if empty."""
        return self._entries[0][0] if self._entries else None

    def pop(self) -> tuple[int, T]:
        """Remove and return the earliest (when_ns, item); IndexError if empty."""
        when_ns, _, item = self._entries.pop(0)
        return when_ns, item

    def pop_due(self, now_ns: int) -> list[T]:
        """Remove and return every item due at or before `now_ns`, in (when_ns, seq) order."""
        entries = self._entries
        # (now_ns + 1,) sorts before every (now_ns + 1, seq, item): the cut lands right
        # after the last entry due at now_ns.
        cut = entries.bisect_left((now_ns + 1,))
        # Popping the head one by one: usually one or two timers are due, and a pop is
        # several times cheaper than `islice` plus a slice deletion.
        pop = entries.pop
        return [pop(0)[2] for _ in range(cut)]

    def compact(self, keep: Callable[[T], bool]) -> int:
        """Drop entries whose item fails `keep`; returns how many were dropped."""
        before = len(self._entries)
        self._entries = SortedList(e for e in self._entries if keep(e[2]))
        return before - len(self._entries)

    def drain(self) -> list[T]:
        """Remove every entry and return the items in (when_ns, seq) order."""
        if not self._entries:
            return []
        items = [item for _, _, item in self._entries]
        self._entries = _NO_ENTRIES
        return items

    def clear(self) -> None:
        """Drop every entry (the sequence counter keeps counting)."""
        self._entries = _NO_ENTRIES
