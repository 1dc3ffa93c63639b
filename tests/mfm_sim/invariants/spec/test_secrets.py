"""`spec.secrets` agrees with the engine's secret scan and redaction on random values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine import hashing
from mfm_engine.errors import ErrorCategory, ErrorInfo

from mfm_sim.invariants.spec import secrets
from tests.mfm_sim.invariants.spec.strategies import json_like, markers_text, mnemonic_like


@settings(max_examples=400, deadline=None)
@given(json_like())
def test_has_secret_agrees_with_the_engine(value: Any) -> None:
    assert secrets.has_secret(value) == hashing.contains_secrets(value)


@settings(max_examples=400, deadline=None)
@given(st.one_of(markers_text(), mnemonic_like(), st.text()))
def test_text_has_secret_agrees_with_the_engine(text: str) -> None:
    assert secrets.text_has_secret(text) == hashing.string_has_secret(text)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(markers_text(), mnemonic_like()),
    st.one_of(st.none(), st.just({"private_key": "k"}), st.just({"n": 1})),
    st.booleans(),
)
def test_redaction_agrees_with_the_engine(
    message: str, details: dict[str, Any] | None, retryable: bool
) -> None:
    error = ErrorInfo("boom", ErrorCategory.RPC, retryable, message, details)
    assert secrets.redact(error) == hashing.redact_error_info(error)


def test_the_rules_of_engine_md() -> None:
    assert secrets.has_secret({"nested": [{"API_KEY": 1}]})  # a key, at any depth
    assert secrets.has_secret(["Authorization: Bearer abc"])
    assert not secrets.has_secret({"bearer": 1})  # "bearer " needs its space
    assert not secrets.has_secret([1, True, None])  # numbers and bools never
    words = " ".join(["abandon"] * 12)
    assert secrets.looks_like_mnemonic(words)
    assert not secrets.looks_like_mnemonic(" ".join(["abandon"] * 11))
    assert not secrets.looks_like_mnemonic(" ".join(["abandon"] * 25))
    assert not secrets.looks_like_mnemonic(words.replace("abandon", "Abandon", 1))
    redacted = secrets.redact(ErrorInfo("e", ErrorCategory.UNKNOWN, True, "my password", {"a": 1}))
    assert (redacted.message, redacted.details) == (secrets.REDACTED, None)
    kept = secrets.redact(ErrorInfo("e", ErrorCategory.UNKNOWN, True, "plain", {"a": 1}))
    assert (kept.message, kept.details) == ("plain", None)


# Whitespace the spec's "whitespace-separated words" includes (Unicode White_Space, as the
# original's `split_whitespace`). The engine's mnemonic pre-filter once counted only spaces,
# tabs and newlines and missed these mnemonics; this test found it.
OTHER_WHITESPACE = ["\r", "\x0b", "\x0c", "\u00a0", "\u2003"]


@pytest.mark.parametrize("separator", OTHER_WHITESPACE)
def test_mnemonics_split_by_other_whitespace(separator: str) -> None:
    text = separator.join(["abandon"] * 12)
    assert secrets.text_has_secret(text)
    assert hashing.string_has_secret(text)


def test_separators_that_are_not_whitespace_make_one_word() -> None:
    assert not secrets.looks_like_mnemonic("\x1c".join(["abandon"] * 12))
