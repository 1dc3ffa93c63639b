"""Hypothesis strategies shared by the spec modules' agreement tests: JSON-like values (floats
included, to be refused), and words that make mnemonic-looking strings."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["json_like", "markers_text", "mnemonic_like"]

_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
# Separators of a mnemonic the engine and the spec agree on (see ENGINE_MISSES in
# test_secrets.py for those they do not), and one that is not whitespace.
_SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", " \n ", "\x1c"])


def markers_text() -> st.SearchStrategy[str]:
    """Text that sometimes embeds a secret marker in mixed case."""
    marker = st.sampled_from(
        ["password", "PassWord", "api_key", "Bearer x", "bearer", "seed phrase", "ID_TOKEN"]
    )
    return st.one_of(
        st.text(max_size=12),
        st.builds(lambda a, m, b: a + m + b, st.text(max_size=4), marker, st.text(max_size=4)),
    )


def mnemonic_like() -> st.SearchStrategy[str]:
    """10 to 26 lowercase words (sometimes one with an uppercase letter or a digit), joined by
    one separator drawn per string; most have 12 to 24 words."""
    word = st.one_of(_WORDS, _WORDS.map(str.upper), st.just("abc1"))
    return st.builds(
        lambda words, sep: sep.join(words),
        st.one_of(
            st.lists(_WORDS, min_size=12, max_size=24),
            st.lists(st.one_of(_WORDS, _WORDS, _WORDS, word), min_size=10, max_size=26),
        ),
        _SEPARATORS,
    )


def json_like() -> st.SearchStrategy[Any]:
    """JSON values with string keys, floats and tuples allowed, strings sometimes secret."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        markers_text(),
        st.text(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(st.one_of(st.text(max_size=6), markers_text()), inner, max_size=4),
        ),
        max_leaves=12,
    )
