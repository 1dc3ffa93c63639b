"""The simulator's own pseudo-random number generator.

A recorded seed must replay the same run on every Python version and platform, so nothing
here touches the `random` module (its algorithms and seeding have changed between releases)
or `hash()` (salted per process for str/bytes). The generator is counter-based, as Random123
and JAX's threefry are: block i of the stream named `name` under `seed` is
BLAKE2b-512(seed as 8 bytes big-endian + name in UTF-8 + i as 8 bytes big-endian), read as
eight little-endian 64-bit words. Each word's low 52 bits are one draw, m / 2**52.

Counter mode is what makes it fast in Python. A stream starts with no arithmetic (the key is
its name), and one C call makes eight draws, which a `chain` iterator then hands out. Each
named stream depends only on the root seed and its own name, so adding, removing or
reordering consumers never shifts the numbers any other consumer sees.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
import re
import struct
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = [
    "MASK64",
    "Rng",
    "Streams",
    "first_draws",
    "parse_seed",
]

T = TypeVar("T")

MASK64 = (1 << 64) - 1
_TWO_POW_32 = float(1 << 32)


def _check_seed(seed: int) -> int:
    # bool is an int subclass; a True/False seed is almost certainly a bug at the call site.
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed <= MASK64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


# A word's low 52 bits become the mantissa of a double with the exponent of 1.0, a value in
# [1, 2) that is exactly 1 + m / 2**52; subtracting 1.0 is exact. Done for all eight words
# with two big-int operations and one unpack, not eight shifts.
_MANTISSAS = int.from_bytes(b"\xff\xff\xff\xff\xff\xff\x0f\x00" * 8, "little")
_EXPONENTS = int.from_bytes(b"\x00\x00\x00\x00\x00\x00\xf0\x3f" * 8, "little")
_DOUBLES = struct.Struct("<8d")
_ONES = (1.0,) * 8


def _draws(key: bytes) -> Iterator[Iterator[float]]:
    """The stream keyed `key`, one block of eight draws at a time."""
    blake2b, unpack, sub = hashlib.blake2b, _DOUBLES.unpack, operator.sub
    for index in itertools.count():
        words = int.from_bytes(blake2b(key + index.to_bytes(8, "big")).digest(), "little")
        yield map(sub, unpack((words & _MANTISSAS | _EXPONENTS).to_bytes(64, "little")), _ONES)


def first_draws(seed: int, name: str) -> tuple[float, ...]:
    """The first eight draws of `Rng(seed, name)`, without making the stream: for a consumer
    that takes a few draws of a stream it never reads again (the swarm's per-kind draws)."""
    if not (type(seed) is int and 0 <= seed <= MASK64):
        _check_seed(seed)
    key = seed.to_bytes(8, "big") + name.encode("utf-8") + bytes(8)  # block 0
    words = int.from_bytes(hashlib.blake2b(key).digest(), "little")
    return tuple(
        map(
            operator.sub,
            _DOUBLES.unpack((words & _MANTISSAS | _EXPONENTS).to_bytes(64, "little")),
            _ONES,
        )
    )


class Rng:
    """The stream named `name` under a 64-bit `seed` (see the module docstring).

    Every method's consumption of draws is part of the replay contract: changing how many
    draws a method takes changes every later value for existing seeds, which the golden-value
    tests are there to catch.
    """

    __slots__ = ("name", "random", "seed")

    random: Callable[[], float]
    """Uniform float in [0, 1): m / 2**52 for a uniform 52-bit m (one draw)."""

    def __init__(self, seed: int, name: str = "") -> None:
        # The common case inline (a plain int in range); anything else gets the full check.
        self.seed = seed if type(seed) is int and 0 <= seed <= MASK64 else _check_seed(seed)
        self.name = name
        key = seed.to_bytes(8, "big") + name.encode("utf-8")
        # The C iterator's own `__next__` is the draw: no Python frame per call.
        self.random = itertools.chain.from_iterable(_draws(key)).__next__

    def __repr__(self) -> str:
        suffix = f", name={self.name!r}" if self.name else ""
        return f"Rng(seed={self.seed:#018x}{suffix})"

    def __reduce__(self) -> Any:
        # The position in the stream lives in a C iterator, which cannot be copied; a shallow
        # copy would silently share it. Say so instead.
        raise TypeError(
            "an Rng cannot be copied or pickled: fork() it, or make a new Rng(seed, name)"
        )

    def __copy__(self) -> Rng:
        return self.__reduce__()  # type: ignore[no-any-return]  # raises

    def __deepcopy__(self, memo: Any) -> Rng:
        return self.__reduce__()  # type: ignore[no-any-return]  # raises

    def _bits(self, k: int) -> int:
        # Scaling a draw by 2**k is exact, so int() keeps the top k of its 52 bits.
        if k <= 52:
            return int(self.random() * (1 << k))
        value = 0
        while k > 0:
            take = min(k, 32)
            value = (value << take) | int(self.random() * (1 << take))
            k -= take
        return value

    def next_u64(self) -> int:
        """Uniform integer in [0, 2**64), from two draws (the high 32 bits first)."""
        random = self.random
        return int(random() * _TWO_POW_32) << 32 | int(random() * _TWO_POW_32)

    def below(self, n: int) -> int:
        """Uniform integer in [0, n), for n >= 1.

        Takes just enough bits for n-1 and rejects values >= n, so there is no modulo bias and
        powers of two never reject. Always consumes at least one draw, even for n == 1, so the
        number of draws does not depend on special cases.
        """
        if n < 1:
            raise ValueError(f"below() needs n >= 1, got {n}")
        k = (n - 1).bit_length()
        if k <= 52:  # one draw per try: `_bits` inlined, as nearly every call is small
            scale, random = 1 << k, self.random
            while True:
                r = int(random() * scale)
                if r < n:
                    return r
        while True:
            r = self._bits(k)
            if r < n:
                return r

    def between(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi], both ends inclusive."""
        if lo > hi:
            raise ValueError(f"between() needs lo <= hi, got lo={lo} hi={hi}")
        return lo + self.below(hi - lo + 1)

    def chance(self, p: float) -> bool:
        """True with probability `p`; always consumes exactly one draw, even for p of 0 or 1."""
        # `not 0 <= p <= 1` also rejects NaN, which would otherwise silently mean "never".
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"chance() needs 0 <= p <= 1, got {p!r}")
        return self.random() < p

    def choice(self, seq: Sequence[T]) -> T:
        """Uniformly chosen element of a non-empty sequence."""
        if not seq:
            raise IndexError("choice() from an empty sequence")
        return seq[self.below(len(seq))]

    def shuffle(self, items: list[T]) -> None:
        """Shuffle `items` in place (Fisher-Yates, one `below` call per position)."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]

    def sample_bytes(self, n: int) -> bytes:
        """`n` random bytes: ceil(n/8) `next_u64` values, each little-endian."""
        if n < 0:
            raise ValueError(f"sample_bytes() needs n >= 0, got {n}")
        words = (n + 7) // 8
        out = b"".join(self.next_u64().to_bytes(8, "little") for _ in range(words))
        return out[:n]

    def uuid(self) -> uuid.UUID:
        """A UUID shaped like version 4 (RFC 4122 variant), from 16 random bytes."""
        low = self.next_u64()  # the bytes `sample_bytes(16)` gives, without its join
        raw = (low | self.next_u64() << 64).to_bytes(16, "little")
        return uuid.UUID(bytes=raw, version=4)

    def fork(self, name: str) -> Rng:
        """A child generator, independent of this one's future output.

        The fork takes its seed from this stream (`next_u64`), so it behaves like any other
        draw: two forks with the same name at different points differ, and the parent's
        sequence after a fork is still reproducible. `name` keeps siblings forked from the
        same position apart and documents intent. For streams that must not shift when other
        code changes, use `Streams` instead.
        """
        return Rng(self.next_u64(), name)


class Streams:
    """Named, independent generators under one root seed.

    Each name maps to ``Rng(seed, name)`` and is created once, so every consumer asking for
    the same name shares one stream, and a new consumer under a new name leaves existing
    streams untouched.
    """

    __slots__ = ("_streams", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = _check_seed(seed)
        self._streams: dict[str, Rng] = {}

    def __repr__(self) -> str:
        return f"Streams(seed={self.seed:#018x}, names={sorted(self._streams)!r})"

    def stream(self, name: str) -> Rng:
        """The generator for `name`; repeated calls return the same object."""
        rng = self._streams.get(name)
        if rng is None:
            rng = self._streams[name] = Rng(self.seed, name)
        return rng


_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")


def parse_seed(text: str) -> int:
    """Parse a seed given on a command line or in a report: decimal or 0x-prefixed hex.

    Stricter than `int()` (no signs, underscores or other bases) so that a seed copied from
    a failure report means exactly one thing. Raises `ValueError` with a one-line hint.
    """
    s = text.strip()
    shown = text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"
    if not s:
        raise ValueError("seed is empty: give a decimal integer like 42 or hex like 0x2a")
    # Leading zeros aside, a u64 has at most 20 decimal or 16 hex digits: longer text is too
    # large without converting it (`int()` refuses more than 4,300 digits with a ValueError).
    if _DECIMAL.fullmatch(s):
        value = int(s, 10) if len(s.lstrip("0")) <= 20 else MASK64 + 1
    elif _HEX.fullmatch(s):
        value = int(s, 16) if len(s[2:].lstrip("0")) <= 16 else MASK64 + 1
    elif s.startswith("-"):
        raise ValueError(f"seed {shown!r} is negative: seeds are in [0, 2**64)")
    else:
        raise ValueError(
            f"seed {shown!r} is not an integer: give decimal digits like 42 or hex like 0x2a"
        )
    if value > MASK64:
        raise ValueError(f"seed {shown!r} is too large: seeds are in [0, 2**64), max {MASK64:#x}")
    return value
