"""`spec.canonical` agrees with the engine's hashing on random values, and holds ENGINE.md's
vectors on its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine import hashing

from mfm_sim.invariants.spec import canonical
from tests.mfm_sim.invariants.spec.strategies import json_like

# Each side's encoder and its refusals, most specific first: (secret, float, any other).
ENGINE = (
    hashing.canonical_json_bytes,
    (hashing.SecretsNotAllowed, hashing.FloatNotAllowed, hashing.CanonicalJsonError),
)
OURS = (
    canonical.canonical_bytes,
    (canonical.SecretFound, canonical.FloatFound, canonical.NotCanonical),
)


def _encoded(side: tuple[Any, tuple[type[Exception], ...]], value: Any) -> bytes | str:
    """The bytes, or which refusal: "secret", "float" or "not json"."""
    encode, refusals = side
    try:
        return encode(value)
    except refusals as exc:
        reason = next(i for i, kind in enumerate(refusals) if isinstance(exc, kind))
        return ("secret", "float", "not json")[reason]


@settings(max_examples=400, deadline=None)
@given(json_like())
def test_canonical_bytes_agree_with_the_engine(value: Any) -> None:
    assert _encoded(OURS, value) == _encoded(ENGINE, value)


@settings(max_examples=200, deadline=None)
@given(json_like())
def test_artifact_ids_and_decoding_agree_with_the_engine(value: Any) -> None:
    data = _encoded(OURS, value)
    if isinstance(data, str):
        return
    assert canonical.json_artifact_id(value) == hashing.artifact_id_for_json(value)
    assert canonical.artifact_id(data) == hashing.artifact_id_for_bytes(data)
    assert canonical.decode(data) == hashing.decode_json(data)
    assert canonical.decode(data) == json.loads(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=20), st.text(max_size=20).map(str.encode)))
def test_decode_refuses_what_the_engine_refuses(data: bytes) -> None:
    try:
        want: Any = ("ok", repr(hashing.decode_json(data)))
    except ValueError:
        want = "error"
    try:
        got: Any = ("ok", repr(canonical.decode(data)))
    except ValueError:
        got = "error"
    assert got == want


def test_the_vectors_of_engine_md() -> None:
    assert canonical.canonical_bytes({"b": 1, "a": 2}) == b'{"a":2,"b":1}'
    assert canonical.canonical_bytes("a\nb") == b'"a\\nb"'
    assert canonical.artifact_id(b"hello") == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
    assert canonical.canonical_bytes([True, None, -3]) == b"[true,null,-3]"
    assert canonical.canonical_bytes({"é": 1, "z": 2}) == '{"z":2,"é":1}'.encode()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (1.0, canonical.FloatFound),
        ({"a": [0.5]}, canonical.FloatFound),
        ({1: 2}, canonical.NotJsonValue),
        ({"x": object()}, canonical.NotJsonValue),
        ("\ud800", canonical.NotJsonValue),
        ({"password": 1.0}, canonical.SecretFound),  # secrets are looked for first
    ],
)
def test_refusals(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        canonical.canonical_bytes(value)


def test_a_cycle_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(canonical.NotJsonValue):
        canonical.canonical_bytes(loop)


def test_decode_reads_utf8_only() -> None:
    assert canonical.decode(b' {"a": 1} ') == {"a": 1}
    for bad in (b"\xef\xbb\xbf{}", '{"a":1}'.encode("utf-16"), b"{", b"\xff"):
        with pytest.raises(ValueError):
            canonical.decode(bad)
