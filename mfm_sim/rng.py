"""The simulator's own pseudo-random number generator.

A recorded seed must replay the same run on every Python version and platform, so nothing
here touches the `random` module (its algorithms and seeding have changed between releases)
or `hash()` (salted per process for str/bytes). Everything is plain 64-bit integer
arithmetic: xoshiro256** for the stream, splitmix64 to expand a seed into its state, and
SHA-256 to derive named sub-streams.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from typing import TypeVar

__all__ = [
    "MASK64",
    "Rng",
    "Streams",
    "derive_seed",
    "parse_seed",
    "splitmix64",
]

T = TypeVar("T")

MASK64 = (1 << 64) - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_TWO_POW_MINUS_53 = 1.0 / (1 << 53)


def splitmix64(x: int) -> int:
    """Return the splitmix64 output for state `x` (the state is advanced by the golden gamma
    before mixing, as in Vigna's reference, so ``splitmix64(0) == 0xE220A8397B1DCDAF``)."""
    z = (x + _GOLDEN_GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _check_seed(seed: int) -> int:
    # bool is an int subclass; a True/False seed is almost certainly a bug at the call site.
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed <= MASK64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


def derive_seed(seed: int, name: str) -> int:
    """Seed of the stream called `name` under `seed`.

    Hashing (rather than drawing from a parent generator) makes each named stream depend only
    on the root seed and its own name, so adding, removing or reordering consumers never
    shifts the numbers any other consumer sees.
    """
    _check_seed(seed)
    digest = hashlib.sha256(seed.to_bytes(8, "big") + name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


class Rng:
    """xoshiro256** generator seeded with a 64-bit integer.

    Every method's consumption of the underlying stream is part of the replay contract:
    changing how many words a method draws changes every later value for existing seeds,
    which the golden-value tests are there to catch.
    """

    __slots__ = ("_s0", "_s1", "_s2", "_s3", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = _check_seed(seed)
        # Expanding through splitmix64 is the seeding the xoshiro authors recommend: it never
        # yields the all-zero state (a fixed point of xoshiro) and decorrelates nearby seeds.
        self._s0 = splitmix64(seed)
        self._s1 = splitmix64((seed + _GOLDEN_GAMMA) & MASK64)
        self._s2 = splitmix64((seed + 2 * _GOLDEN_GAMMA) & MASK64)
        self._s3 = splitmix64((seed + 3 * _GOLDEN_GAMMA) & MASK64)

    def __repr__(self) -> str:
        return f"Rng(seed={self.seed:#018x})"

    def next_u64(self) -> int:
        """Next raw 64-bit output, uniform on [0, 2**64)."""
        # Masks are applied only where bits above 64 would reach a later step: the rotation
        # before `* 9` needs none, because its overflow is a multiple of 2**64.
        s0, s1, s2, s3 = self._s0, self._s1, self._s2, self._s3
        x = (s1 * 5) & MASK64
        s2 ^= s0
        s3 ^= s1
        self._s1 = s1 ^ s2
        self._s0 = s0 ^ s3
        self._s2 = (s2 ^ (s1 << 17)) & MASK64
        self._s3 = ((s3 << 45) | (s3 >> 19)) & MASK64
        return (((x << 7) | (x >> 57)) * 9) & MASK64

    def random(self) -> float:
        """Uniform float in [0, 1) with 53 bits of precision (every value is exact)."""
        # `next_u64` inlined: this is the draw behind every fault point.
        s0, s1, s2, s3 = self._s0, self._s1, self._s2, self._s3
        x = (s1 * 5) & MASK64
        s2 ^= s0
        s3 ^= s1
        self._s1 = s1 ^ s2
        self._s0 = s0 ^ s3
        self._s2 = (s2 ^ (s1 << 17)) & MASK64
        self._s3 = ((s3 << 45) | (s3 >> 19)) & MASK64
        return (((((x << 7) | (x >> 57)) * 9) & MASK64) >> 11) * _TWO_POW_MINUS_53

    def _bits(self, k: int) -> int:
        # Top bits are used because they are the strongest in xoshiro-family outputs.
        if k <= 64:
            return self.next_u64() >> (64 - k)
        value = 0
        while k > 0:
            take = min(k, 64)
            value = (value << take) | (self.next_u64() >> (64 - take))
            k -= take
        return value

    def below(self, n: int) -> int:
        """Uniform integer in [0, n), for n >= 1.

        Draws just enough bits for n-1 and rejects values >= n, so there is no modulo bias and
        powers of two never reject. Always consumes at least one word, even for n == 1, so the
        number of draws does not depend on special cases.
        """
        if n < 1:
            raise ValueError(f"below() needs n >= 1, got {n}")
        k = (n - 1).bit_length()
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
        """True with probability `p`; always consumes exactly one word, even for p of 0 or 1."""
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
        """`n` random bytes, built from ceil(n/8) words in little-endian order."""
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

        The fork consumes one word of this stream, so it behaves like any other draw: two
        forks with the same name at different points differ, and the parent's sequence after
        a fork is still reproducible. `name` keeps siblings forked from the same position
        apart and documents intent. For streams that must not shift when other code changes,
        use `Streams` instead.
        """
        return Rng(derive_seed(self.next_u64(), name))


class Streams:
    """Named, independent generators under one root seed.

    Each name maps to ``Rng(derive_seed(seed, name))`` and is created once, so every consumer
    asking for the same name shares one stream, and a new consumer under a new name leaves
    existing streams untouched.
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
            rng = self._streams[name] = Rng(derive_seed(self.seed, name))
        return rng


_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")


def parse_seed(text: str) -> int:
    """Parse a seed given on a command line or in a report: decimal or 0x-prefixed hex.

    Stricter than `int()` (no signs, underscores or other bases) so that a seed copied from
    a failure report means exactly one thing. Raises `ValueError` with a one-line hint.
    """
    s = text.strip()
    if not s:
        raise ValueError("seed is empty: give a decimal integer like 42 or hex like 0x2a")
    if _DECIMAL.fullmatch(s):
        value = int(s, 10)
    elif _HEX.fullmatch(s):
        value = int(s, 16)
    elif s.startswith("-"):
        raise ValueError(f"seed {text!r} is negative: seeds are in [0, 2**64)")
    else:
        raise ValueError(
            f"seed {text!r} is not an integer: give decimal digits like 42 or hex like 0x2a"
        )
    if value > MASK64:
        raise ValueError(f"seed {text!r} is too large: seeds are in [0, 2**64), max {MASK64:#x}")
    return value
