"""Every kind of JSON value, and a secret anywhere among them.

ENGINE.md: the secret scan runs "recursively over object keys and string values (numbers and
bools never)", first, over the whole value; canonical JSON holds strings, integers, booleans,
null, arrays and objects. The other workloads send small objects whose one string is the
secret, and contexts of integers, strings, lists and objects: an engine that stopped scanning
at the first number, null, boolean or plain string it met, that trusted a verdict it had never
computed, or that encoded null or a boolean wrongly, passed every sweep.

The feature (drawn from its own fork of the seed's stream, after every other draw, so no
earlier draw moves) adds to about half of the main programs:

- domain events whose payload is a list or an object of fillers (a fresh plain string, an
  integer, null, `true`, `false`, nested once) with, in most of them, one secret at a random
  place: a 12-word phrase of fresh random words (a verdict no earlier scan has cached) or a
  marker followed by fresh characters; often nested, with a member after it that a scan
  meets first (a float, a subclass of `str`, `int` or `list`, bytes). A refused one is
  caught, so the program goes on;
- writes of null, booleans and lists holding them to the context, so snapshots carry them.

The reference interpreter predicts every verdict with the oracle's own detector
(`mfm_sim.invariants.spec.secrets`) and the snapshots with its own model.
"""

from __future__ import annotations

import string
from typing import Any

from mfm_scenarios.program import EMIT, WRITE, Bag, Level, Op, Program, Text

from mfm_sim.world.rng import Rng

__all__ = ["FEATURE", "add_json_values"]

FEATURE = "json_values"
_LETTERS = string.ascii_lowercase
_MARKERS = ("password=", "x-api-key:", "refresh_token ", "bearer ")


def _fresh_phrase(rng: Rng) -> str:
    """Twelve words of 3-7 random lowercase letters: a mnemonic no earlier scan has seen."""
    return " ".join(
        "".join(rng.choice(_LETTERS) for _ in range(rng.between(3, 7))) for _ in range(12)
    )


def _secret(rng: Rng) -> str:
    if rng.chance(0.5):
        return _fresh_phrase(rng)
    return rng.choice(_MARKERS) + f"{rng.below(10**9):09d}"


def _filler(rng: Rng, depth: int = 0) -> Any:
    pick = rng.below(7 if depth == 0 else 5)
    if pick == 0:
        return f"v{rng.below(10**6)} note"  # a digit: never a mnemonic word
    if pick == 1:
        return rng.below(1000)
    if pick == 2:
        return None
    if pick == 3:
        return True
    if pick == 4:
        return False
    if pick == 5:
        return [_filler(rng, depth + 1) for _ in range(rng.between(1, 3))]
    return {f"k{i}": _filler(rng, depth + 1) for i in range(rng.between(1, 3))}


def _odd(rng: Rng) -> Any:
    """A member the scan must step past to reach what is queued before it: a float, a `str`
    or `int` subclass, a `list` subclass, bytes (no JSON value)."""
    return rng.choice((1.5, Text("t"), Level.HIGH, Bag([0]), b"x"))


def _payload(rng: Rng, secret: str | None) -> Any:
    """A list or object of fillers with the secret (if any) at a random place: among them, or
    nested in a container that an odd member after it is scanned before."""
    items = [_filler(rng) for _ in range(rng.between(1, 5))]
    if secret is not None:
        if rng.chance(0.6):
            inner = [_filler(rng, 1) for _ in range(rng.between(0, 2))]
            inner.insert(rng.below(len(inner) + 1), secret)
            at = rng.below(len(items) + 1)
            items.insert(at, inner if rng.chance(0.5) else {"s": inner})
            items.insert(rng.between(at + 1, len(items)), _odd(rng))
        else:
            items.insert(rng.below(len(items) + 1), secret)
    if rng.chance(0.5):
        return items
    return {f"f{i}": item for i, item in enumerate(items)}


def _written(rng: Rng) -> Any:
    """A value to write, made afresh (no two writes share a container)."""
    pick = rng.below(5)
    if pick == 3:
        return [None, True, 0]
    if pick == 4:
        return {"n": None, "b": False}
    return (None, True, False)[pick]


def _leading(ops: list[Op]) -> int:
    """How many ops lead the program as other features put them: inspected or retried."""
    n = 0
    while n < len(ops) and (ops[n].inspect or ops[n].retry_storage):
        n += 1
    return n


def add_json_values(rng: Rng, programs: list[Program]) -> frozenset[str]:
    """With even odds, add the feature's events and writes to about half of the main programs
    (in place); returns the feature if on."""
    if not rng.chance(0.5):
        return frozenset()
    for i, program in enumerate(programs):
        if not rng.chance(0.5):
            continue
        ops = list(program.ops)
        # After the ops other features put first (inspected refusals, retried calls), which
        # must run before anything else the attempt does.
        start = _leading(ops)
        for n in range(rng.between(1, 3)):
            secret = _secret(rng) if rng.chance(0.8) else None
            value = _payload(rng, secret)
            op = Op(EMIT, f"jv_{i}_{n}", name="values", value=value, catch=True)
            ops.insert(rng.between(start, len(ops)), op)
        for n in range(rng.between(1, 2)):
            written = Op(WRITE, f"jv_w{i}_{n}", value=_written(rng))
            ops.insert(rng.between(start, len(ops)), written)
        programs[i] = Program(tuple(ops), program.tags)
    return frozenset({FEATURE})
