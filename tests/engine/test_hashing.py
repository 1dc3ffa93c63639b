"""Canonical JSON, content addressing, secret detection and redaction."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine import hashing
from mfm_engine.context import snapshot_bytes
from mfm_engine.errors import ContextError, ErrorCategory, ErrorInfo
from mfm_engine.hashing import (
    REDACTED_MESSAGE,
    SECRET_MARKERS,
    CanonicalJsonError,
    FloatNotAllowed,
    NotJson,
    SecretsNotAllowed,
    artifact_id_for_bytes,
    artifact_id_for_json,
    canonical_json_bytes,
    contains_secrets,
    decode_json,
    json_bytes_unchecked,
    redact_error_info,
    string_has_secret,
)

HELLO = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

# ---------------------------------------------------------------------------- vectors


def test_artifact_id_for_bytes_vectors() -> None:
    assert artifact_id_for_bytes(b"hello") == HELLO
    assert (
        artifact_id_for_bytes(b"")
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_artifact_id_for_json_hashes_canonical_bytes() -> None:
    assert artifact_id_for_json({"b": 1, "a": 2}) == artifact_id_for_bytes(b'{"a":2,"b":1}')
    assert artifact_id_for_json("hello") == artifact_id_for_bytes(b'"hello"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": 2}, b'{"a":2,"b":1}'),
        ("a\nb", b'"a\\nb"'),
        ({"k": [1, True, False, None, "x"]}, b'{"k":[1,true,false,null,"x"]}'),
        ({}, b"{}"),
        ([], b"[]"),
        ({"a": {"d": 1, "c": [{"f": 0, "e": -1}]}}, b'{"a":{"c":[{"e":-1,"f":0}],"d":1}}'),
        (10**30, b"1000000000000000000000000000000"),
        ('q"\\\t\x01', b'"q\\"\\\\\\t\\u0001"'),
        ("é☃", '"é☃"'.encode()),
        ((1, 2), b"[1,2]"),
    ],
)
def test_canonical_json_vectors(value: object, expected: bytes) -> None:
    assert canonical_json_bytes(value) == expected


def test_newline_stays_escaped() -> None:
    out = canonical_json_bytes({"s": "a\nb"})
    assert b"\n" not in out
    assert out == b'{"s":"a\\nb"}'


@pytest.mark.parametrize("value", [1.0, 0.5, float("nan"), float("inf"), -0.0])
def test_floats_refused(value: float) -> None:
    with pytest.raises(FloatNotAllowed):
        canonical_json_bytes(value)
    with pytest.raises(FloatNotAllowed):
        canonical_json_bytes({"a": [1, {"b": value}]})


def test_float_error_is_a_canonical_json_error() -> None:
    with pytest.raises(CanonicalJsonError) as exc:
        canonical_json_bytes(1.0)
    assert exc.value.code == "float_not_allowed"


def test_bool_is_not_a_number() -> None:
    assert canonical_json_bytes(True) == b"true"
    assert canonical_json_bytes(False) == b"false"
    assert canonical_json_bytes([True, 1]) == b"[true,1]"
    assert canonical_json_bytes(True) != canonical_json_bytes(1)
    assert canonical_json_bytes({"a": False}) != canonical_json_bytes({"a": 0})


def test_keys_sorted_by_utf8_bytes_not_code_units() -> None:
    # U+FFFF encodes as EF BF BF, U+10000 as F0 90 80 80: bytes put U+FFFF first.
    # (UTF-16 code-unit order would put U+10000, a D800 surrogate pair, first.)
    value = {"\U00010000": 1, "\uffff": 2}
    out = canonical_json_bytes(value)
    assert out == '{"\uffff":2,"\U00010000":1}'.encode()
    assert canonical_json_bytes({"\uffff": 2, "\U00010000": 1}) == out
    # ASCII before non-ASCII; uppercase before lowercase.
    assert canonical_json_bytes({"é": 1, "z": 2, "Z": 3}) == '{"Z":3,"z":2,"é":1}'.encode()


@pytest.mark.parametrize(
    "value", [{1: "a"}, {"a": object()}, {"a": {1, 2}}, b"bytes", {"a": {(1, 2): 3}}]
)
def test_non_json_refused(value: object) -> None:
    with pytest.raises(NotJson):
        canonical_json_bytes(value)


def test_lone_surrogate_refused_as_not_json() -> None:
    with pytest.raises(NotJson):
        canonical_json_bytes({"a": "\ud800"})
    with pytest.raises(NotJson):
        canonical_json_bytes({"\udfff": 1})


# ---------------------------------------------------------------------------- secrets

SPEC_MARKERS = [
    "password",
    "passphrase",
    "mnemonic",
    "private_key",
    "privatekey",
    "seed phrase",
    "seed_phrase",
    "seedphrase",
    "api_key",
    "apikey",
    "x-api-key",
    "x_api_key",
    "access_key",
    "accesskey",
    "secret_key",
    "secretkey",
    "aws_access_key_id",
    "aws_secret_access_key",
    "access_token",
    "refresh_token",
    "id_token",
    "authorization",
    "bearer ",
]


def test_marker_list_matches_the_spec() -> None:
    assert set(SECRET_MARKERS) == set(SPEC_MARKERS)


def _casings(marker: str) -> list[str]:
    rnd = random.Random(marker)
    mixed = "".join(c.upper() if rnd.random() < 0.5 else c for c in marker)
    return [marker, marker.upper(), marker.title(), mixed]


@pytest.mark.parametrize("marker", SPEC_MARKERS)
def test_every_marker_detected_in_keys_and_values_at_any_depth(marker: str) -> None:
    for text in _casings(marker):
        embedded = f"my {text} here"
        assert string_has_secret(embedded)
        for value in (
            {embedded: 1},
            {"x": embedded},
            {"a": [1, {"b": [{text: None}]}]},
            [[["ok", embedded]]],
            {"deep": {"deeper": {"deepest": text}}},
            embedded,
        ):
            assert contains_secrets(value), value
            with pytest.raises(SecretsNotAllowed):
                canonical_json_bytes(value)


def test_bearer_needs_its_space() -> None:
    assert not string_has_secret("bearer")
    assert not string_has_secret("forbearer_x")
    assert string_has_secret("Authorization: Bearer abc")
    assert string_has_secret("BEARER xyz")


def test_numbers_and_bools_are_never_secrets() -> None:
    assert not contains_secrets(123456789012345678901234)
    assert not contains_secrets({"n": 1, "b": True, "z": None, "l": [0, False]})
    assert canonical_json_bytes({"n": 1, "b": True}) == b'{"b":true,"n":1}'


def test_secrets_are_scanned_before_floats() -> None:
    with pytest.raises(SecretsNotAllowed):
        canonical_json_bytes({"password": 1.0})
    with pytest.raises(SecretsNotAllowed):
        canonical_json_bytes([1.5, "my password"])


def _words(n: int) -> str:
    pool = ["abandon", "ability", "able", "about", "above", "absent", "absorb", "abstract"]
    return " ".join(pool[i % len(pool)] for i in range(n))


@pytest.mark.parametrize("n", [12, 13, 18, 24])
def test_mnemonic_heuristic_yes(n: int) -> None:
    phrase = _words(n)
    assert string_has_secret(phrase)
    assert string_has_secret("  " + phrase.replace(" ", "\n  ") + "\t")
    assert contains_secrets({"note": phrase})
    with pytest.raises(SecretsNotAllowed):
        canonical_json_bytes({"a": [phrase]})


@pytest.mark.parametrize("n", [0, 1, 11, 25, 30])
def test_mnemonic_heuristic_no_for_wrong_length(n: int) -> None:
    assert not string_has_secret(_words(n))
    assert canonical_json_bytes(_words(n))


@pytest.mark.parametrize(
    "phrase",
    [
        _words(12).upper(),
        "Abandon " + _words(11),
        _words(11) + " ability1",
        _words(11) + " abilité",
        _words(11) + " can't",
        ", ".join(_words(12).split()),
    ],
)
def test_mnemonic_heuristic_only_lowercase_ascii_words(phrase: str) -> None:
    assert not string_has_secret(phrase)


# -------------------------------------------------------------------------- redaction


def test_redaction_drops_details() -> None:
    err = ErrorInfo("x", ErrorCategory.RPC, True, "plain failure", {"private_key": "k"})
    red = redact_error_info(err)
    assert red == ErrorInfo("x", ErrorCategory.RPC, True, "plain failure", None)
    assert "details" not in red.to_json()


@pytest.mark.parametrize(
    "message", ["bad password given", "API_KEY=abc", "Bearer xyz rejected", _words(12)]
)
def test_redaction_replaces_secret_message(message: str) -> None:
    err = ErrorInfo("e", ErrorCategory.UNKNOWN, False, message, {"a": 1})
    red = redact_error_info(err)
    assert red.message == REDACTED_MESSAGE == "error details redacted"
    assert red.details is None
    assert (red.code, red.category, red.retryable) == ("e", ErrorCategory.UNKNOWN, False)
    assert not contains_secrets(red.to_json())


# ------------------------------------------------------------------------- properties

# Keys and strings come from an alphabet that cannot spell any secret marker, and are
# too short to hold a 12-word mnemonic; they still exercise escapes and non-ASCII.
_SAFE_TEXT = st.text(alphabet='abcdXYZ019 _-é☃\U0001f600\n"\\', max_size=8)
_SAFE_SCALARS = st.none() | st.booleans() | st.integers() | _SAFE_TEXT
safe_json = st.recursive(
    _SAFE_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_SAFE_TEXT, children, max_size=4)
    ),
    max_leaves=20,
)


def _shuffled(value: object, rnd: random.Random) -> object:
    if isinstance(value, dict):
        items = [(k, _shuffled(v, rnd)) for k, v in value.items()]
        rnd.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


def _insert_at_random_depth(value: object, leaf: object, rnd: random.Random) -> object:
    if isinstance(value, dict) and value and rnd.random() < 0.7:
        key = rnd.choice(list(value))
        return {**value, key: _insert_at_random_depth(value[key], leaf, rnd)}
    if isinstance(value, list) and value and rnd.random() < 0.7:
        i = rnd.randrange(len(value))
        return [*value[:i], _insert_at_random_depth(value[i], leaf, rnd), *value[i + 1 :]]
    return {"wrap": [value, leaf]}


@settings(max_examples=150, deadline=None)
@given(safe_json, st.randoms(use_true_random=False))
def test_canonical_json_independent_of_key_order(value: object, rnd: random.Random) -> None:
    if contains_secrets(value):  # the mnemonic heuristic can still fire on odd draws
        return
    assert canonical_json_bytes(_shuffled(value, rnd)) == canonical_json_bytes(value)


@settings(max_examples=150, deadline=None)
@given(safe_json)
def test_canonical_json_round_trips(value: object) -> None:
    if contains_secrets(value):
        return
    out = canonical_json_bytes(value)
    assert json.loads(out) == value
    # Python's own sort is by code point, which is the UTF-8 byte order.
    oracle = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert out == oracle.encode()
    assert canonical_json_bytes(json.loads(out)) == out


@settings(max_examples=100, deadline=None)
@given(
    safe_json,
    st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1.0, 0.0, -2.0]),
    st.randoms(use_true_random=False),
)
def test_floats_refused_at_any_depth(value: object, f: float, rnd: random.Random) -> None:
    if contains_secrets(value):
        return
    with pytest.raises(FloatNotAllowed):
        canonical_json_bytes(_insert_at_random_depth(value, f, rnd))


@settings(max_examples=100, deadline=None)
@given(
    safe_json,
    st.sampled_from(SPEC_MARKERS),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_secrets_refused_at_any_depth(
    value: object, marker: str, as_key: bool, rnd: random.Random
) -> None:
    text = "".join(c.upper() if rnd.random() < 0.5 else c for c in marker)
    leaf: object = {f"x{text}y": 1} if as_key else f"x{text}y"
    nested = _insert_at_random_depth(value, leaf, rnd)
    assert contains_secrets(nested)
    with pytest.raises(SecretsNotAllowed):
        canonical_json_bytes(nested)


@settings(max_examples=300, deadline=None)
@given(safe_json)
def test_the_prebuilt_encoder_writes_what_the_stdlib_encoder_writes(value: object) -> None:
    # canonical_json_bytes reuses one C encoder instead of building one per call.
    from mfm_engine.hashing import _ENCODER, _encode

    assert _encode(value) == _ENCODER.encode(value)


class _Dict(dict):  # type: ignore[type-arg]
    pass


def test_a_value_that_contains_itself_is_refused_not_a_hang() -> None:
    # A handler can put a self-referencing dict into its context; the scan must not loop.
    looped: dict[str, object] = {}
    looped["self"] = looped
    inner: list[object] = []
    inner.append([inner])
    via_subclass = _Dict()
    via_subclass["again"] = [via_subclass]
    for value in (looped, {"a": inner}, via_subclass):
        with pytest.raises(CanonicalJsonError, match="circular reference"):
            canonical_json_bytes(value)
    with pytest.raises(ContextError) as err:
        snapshot_bytes({"k": looped})
    assert err.value.info.code == "snapshot_not_canonical"


def test_a_value_shared_twice_is_not_a_cycle() -> None:
    shared = {"x": 1}
    assert canonical_json_bytes({"a": shared, "b": [shared, shared]}) == (
        b'{"a":{"x":1},"b":[{"x":1},{"x":1}]}'
    )


def test_a_wide_value_is_scanned_again_with_cycle_tracking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mfm_engine.hashing as hashing

    monkeypatch.setattr(hashing, "_CAREFUL_AFTER", 3)
    wide = {"k": [[1], [2], [3], [4], {"password": 1}]}
    assert contains_secrets(wide)  # found by the careful pass too
    assert canonical_json_bytes({"k": [[1], [2], [3], [4]]}) == b'{"k":[[1],[2],[3],[4]]}'


@settings(max_examples=150, deadline=None)
@given(value=safe_json)
def test_unchecked_bytes_are_the_canonical_bytes_of_a_valid_value(value: object) -> None:
    assert json_bytes_unchecked(value) == canonical_json_bytes(value)


def test_unchecked_bytes_skip_the_checks() -> None:
    # What the checked encoding refuses, the unchecked one writes: its reader must check.
    assert json_bytes_unchecked({"password": "x", "rate": 0.5}) == b'{"password":"x","rate":0.5}'
    with pytest.raises(CanonicalJsonError):
        canonical_json_bytes({"rate": 0.5})


# ---------------------------------------------------------------------------- decoding


@settings(max_examples=200, deadline=None)
@given(value=safe_json)
def test_decode_json_reads_canonical_bytes_as_json_loads_does(value: object) -> None:
    data = canonical_json_bytes(value)
    assert decode_json(data) == json.loads(data) == value


@pytest.mark.parametrize(
    "data",
    [b" 1", b"1 ", b"\n{}\t", b"", b" ", b"1 2", b'{"a":', b"[1,2", b"nul", b'{"a":1}x', b"NaN"],
)
def test_decode_json_around_the_value_is_json_loads(data: bytes) -> None:
    # Whitespace around the value, trailing data, truncation: json.loads's answer or error.
    def outcome(load: object) -> object:
        try:
            return ("value", load(data))  # type: ignore[operator]
        except json.JSONDecodeError as exc:
            return ("error", exc.msg, exc.pos)

    assert outcome(decode_json) == outcome(lambda d: json.loads(d.decode("utf-8")))


@pytest.mark.parametrize(
    "data", [b"\xff", b'"\xc3"', "\ufeff{}".encode(), '{"a":1}'.encode("utf-16")]
)
def test_decode_json_reads_utf8_only_like_serde(data: bytes) -> None:
    # json.loads(bytes) would sniff UTF-16/32 and skip a BOM; the Rust reader accepts neither.
    with pytest.raises(ValueError):
        decode_json(data)


# ---------------------------------------------------------------------------- verdict cache


def test_secret_verdicts_are_remembered_and_the_cache_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hashing, "_SECRET_VERDICTS_KEPT", 3)
    hashing._secret_verdicts.clear()
    assert [string_has_secret(t) for t in ("a", "my password", "b")] == [False, True, False]
    assert hashing._secret_verdicts == {"a": False, "my password": True, "b": False}
    assert string_has_secret("my password")  # answered from the cache
    assert not string_has_secret("c")  # full: emptied, then remembered afresh
    assert hashing._secret_verdicts == {"c": False}
    # A scan consults the same verdicts: a string cached as a secret is one in any value.
    monkeypatch.setattr(hashing, "_SECRET_VERDICTS_KEPT", 1 << 16)
    hashing._secret_verdicts["innocent"] = True
    assert contains_secrets({"k": ["x", "innocent"]})
    hashing._secret_verdicts.clear()


class _Quiet(str):
    def lower(self) -> str:  # type: ignore[override]
        return ""


class _Loud(str):
    def lower(self) -> str:  # type: ignore[override]
        return "password"


def test_a_str_subclass_never_answers_for_the_plain_string() -> None:
    # A subclass may lower (or hash, or compare) itself its own way; its verdict must not be
    # remembered for the plain string it equals, nor the plain string's for it.
    hashing._secret_verdicts.clear()
    assert not string_has_secret(_Quiet("my password"))
    assert string_has_secret("my password")
    assert contains_secrets({"k": "my password"})
    assert string_has_secret(_Loud("hello"))
    assert not string_has_secret("hello")
    assert all(type(k) is str for k in hashing._secret_verdicts)
    hashing._secret_verdicts.clear()


@pytest.mark.parametrize("separator", [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2003"])
def test_a_mnemonic_split_by_any_unicode_whitespace_is_a_secret(separator: str) -> None:
    assert contains_secrets({"seed": separator.join(["abandon"] * 12)})


@pytest.mark.parametrize("separator", ["\x1c", "\x1f", "-"])
def test_separators_that_are_not_whitespace_make_one_word(separator: str) -> None:
    # Python's str.split() splits on U+001C..U+001F; the original's split_whitespace does not.
    assert not contains_secrets({"seed": separator.join(["abandon"] * 12)})
