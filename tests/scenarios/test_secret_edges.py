"""Edge strings of ENGINE.md's secret rule: the oracle's verdicts, and a sweep that catches an
engine whose mnemonic rule is off by one word."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mfm_engine import hashing
from mfm_scenarios.generated import SCENARIO, draw
from mfm_scenarios.program import EMIT, FAIL
from mfm_scenarios.secret_edges import EDGE_TEXTS

from mfm_sim import simulate
from mfm_sim.invariants.spec.secrets import text_has_secret
from mfm_sim.selfcheck.patch import Edit, FunctionPatch, patched
from mfm_sim.world.rng import Streams

# ENGINE.md read by hand: 12 to 24 words of lowercase ASCII letters split on Unicode
# whitespace, or a marker in any case ("bearer " with its space).
EXPECTED = {
    " ".join("abcdefghijkl"): True,
    " ".join("abcdefghijk") + "  ": False,
    "alpha\x1cbeta\x1cgamma\x1cdelta\x1comega\x1ckappa\x1calpha\x1cbeta\x1cgamma\x1cdelta"
    "\x1comega\x1ckappa": False,
    "PASSWORD reset": True,
    "Bearer token": True,
    "bearertoken": False,
    "x_Api_Key=1": True,
    "seed-phrase words": False,
}


def test_the_oracle_judges_the_edges_as_engine_md_says() -> None:
    for text, secret in EXPECTED.items():
        assert text in EDGE_TEXTS
        assert text_has_secret(text) is secret, text
    counts = {len(t.split()) for t in EDGE_TEXTS if t.isascii() and "=" not in t}
    assert {11, 12, 13, 24, 25} <= counts  # both sides of both word-count bounds


def _edge_programs(seed: int) -> list[str]:
    drawn = draw(Streams(seed).stream("scenario"))
    ops = [op for node in drawn.plan.graph.states for op in node.state.program.ops]
    return [op.kind for op in ops if op.name in ("edge", "edge_failure")]


def test_some_seeds_send_edge_strings_in_events_and_failure_messages() -> None:
    kinds = [k for seed in range(60) for k in _edge_programs(seed)]
    assert EMIT in kinds and FAIL in kinds


@pytest.fixture
def thirteen_word_mnemonics() -> Iterator[None]:
    """An engine whose mnemonic rule starts at 13 words (its verdict cache emptied around it,
    so no verdict of the correct rule answers for the broken one or back)."""
    bug = FunctionPatch(
        "mfm_engine.hashing",
        "_looks_like_mnemonic",
        (
            Edit(
                "return 12 <= len(words) <= 24 and all(_MNEMONIC_WORD.match(w) for w in words)",
                "return 13 <= len(words) <= 24 and all(_MNEMONIC_WORD.match(w) for w in words)",
            ),
        ),
    )
    hashing._secret_verdicts.clear()
    with patched("mnemonic_from_13_words", (bug,)):
        yield
    hashing._secret_verdicts.clear()


def test_a_mnemonic_rule_off_by_one_word_is_caught(thirteen_word_mnemonics: None) -> None:
    found = []
    for seed in range(120):
        if not _edge_programs(seed):
            continue
        result = simulate(SCENARIO, seed, keep_trace=False)
        found += [v for v in result.violations if v.invariant == "model_agreement"]
        if found:
            break
    assert found, "no seed of 120 caught a 13-word mnemonic rule"
