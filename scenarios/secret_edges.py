"""Strings at the edges of ENGINE.md's secret detection, sent where the engine must judge them.

ENGINE.md: a secret is a case-insensitive substring of a marker, or "a string of 12 to 24
whitespace-separated words, each only lowercase ASCII letters". The strings below sit on each
side of every edge of that rule: 11, 12, 24 and 25 words; the shortest 12-word string (23
characters); a word with a capital or a digit; Unicode whitespace (and the separators U+001C..
U+001F, which are not whitespace); a marker in capitals, `bearer` without its space. A seed
that switches the feature on (from its own fork of the stream, so no other draw moves) puts
some of them in domain-event payloads (refused as `secrets_detected`, or kept) and in failure
messages (redacted, or kept); the reference interpreter predicts each verdict with the
oracle's own detector (`mfm_sim.invariants.spec.secrets`), never the engine's.
"""

from __future__ import annotations

import attrs
from mfm_scenarios.program import EMIT, FAIL, Op, Program

from mfm_sim.world.rng import Rng

__all__ = ["EDGE_ODDS", "EDGE_TEXTS", "add_secret_edges"]

_W = ("alpha", "beta", "gamma", "delta", "omega", "kappa")


def _words(n: int, sep: str = " ") -> str:
    return sep.join(_W[i % len(_W)] for i in range(n))


EDGE_TEXTS: tuple[str, ...] = (
    " ".join("abcdefghijkl"),  # 12 one-letter words: 23 characters, the shortest mnemonic
    " ".join("abcdefghijk") + "  ",  # 11 one-letter words: too few
    _words(11),  # 11 words, long enough to pass any length filter
    _words(12),
    _words(13, "  "),
    _words(24),
    _words(25),
    _words(12, "\u3000"),  # ideographic space: whitespace
    _words(12, "\xa0\t"),
    _words(12, "\x1c"),  # a separator, not whitespace: one word
    "Alpha " + _words(11),  # a capital: not a mnemonic word
    _words(11) + " beta2",  # a digit
    "\n" + _words(12) + "\n",
    "PASSWORD reset",
    "Bearer token",
    "bearertoken",
    "x_Api_Key=1",
    "seed-phrase words",
)
EDGE_ODDS = 0.3  # a seed's chance of the feature


def add_secret_edges(rng: Rng, programs: list[Program]) -> frozenset[str]:
    """With `EDGE_ODDS`, insert edge strings into the main programs (in place): events
    (caught when refused, mostly, so the program goes on) and, now and then, a first
    attempt's retryable failure whose message is one."""
    if not rng.chance(EDGE_ODDS):
        return frozenset()
    for i, program in enumerate(programs):
        if not rng.chance(0.5):
            continue
        ops = list(program.ops)
        for n in range(rng.between(1, 3)):
            text = rng.choice(EDGE_TEXTS)
            payload = {"note": text} if rng.chance(0.7) else {text: n}
            op = Op(EMIT, f"edge_{i}_{n}", name="edge", value=payload, catch=rng.chance(0.8))
            ops.insert(rng.below(len(ops) + 1), op)
        if rng.chance(0.3):
            fail = Op(FAIL, name="edge_failure", retryable=True, message=rng.choice(EDGE_TEXTS))
            ops.insert(rng.below(len(ops) + 1), attrs.evolve(fail, attempts=(0,)))
        programs[i] = Program(tuple(ops), program.tags)
    return frozenset({"secret_edges"})
