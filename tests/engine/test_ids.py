"""Op ids, state ids, artifact ids and run ids."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.errors import RunError, RunErrorKind
from mfm_engine.ids import (
    OP_ID_RE,
    STATE_ID_RE,
    artifact_id,
    child_run_id,
    is_artifact_id,
    op_id,
    run_id,
    state_id,
)

HELLO = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def _refused(fn, value, code: str) -> None:
    with pytest.raises(RunError) as exc:
        fn(value)
    assert exc.value.kind is RunErrorKind.INVALID_PLAN
    assert exc.value.info.code == code
    assert exc.value.code == code
    assert exc.value.info.retryable is False


@pytest.mark.parametrize("value", ["a", "op", "a1", "a_b_9", "swap_tokens", "z" + "a" * 62])
def test_valid_op_ids(value: str) -> None:
    assert op_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1abc",
        "_abc",
        "Abc",
        "abC",
        "a-b",
        "a.b",
        "a b",
        "a" * 64,
        "é",
        "abc\n",
        "\nabc",
        " abc",
        None,
        12,
        b"abc",
    ],
)
def test_invalid_op_ids(value: object) -> None:
    _refused(op_id, value, "invalid_op_id")


@pytest.mark.parametrize(
    "value", ["m.s.l", "machine.step.local", "a1.b_2.c3", ".".join(["a" * 63] * 3)]
)
def test_valid_state_ids(value: str) -> None:
    assert state_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "a..c",
        ".a.b",
        "a.b.",
        "A.b.c",
        "a.b.1c",
        "a.b-c.d",
        "a.b.c\n",
        "a.b." + "c" * 64,
        None,
        ("a", "b", "c"),
    ],
)
def test_invalid_state_ids(value: object) -> None:
    _refused(state_id, value, "invalid_state_id")


def test_valid_artifact_ids() -> None:
    assert artifact_id(HELLO) == HELLO
    assert artifact_id("0" * 64) == "0" * 64
    assert is_artifact_id(HELLO)


@pytest.mark.parametrize(
    "value",
    ["", HELLO.upper(), HELLO[:-1], HELLO + "0", "g" * 64, HELLO + "\n", "sha256:" + HELLO, None],
)
def test_invalid_artifact_ids(value: object) -> None:
    _refused(artifact_id, value, "invalid_artifact_id")
    assert not is_artifact_id(value)


def test_run_ids() -> None:
    u = uuid.uuid4()
    assert run_id(u) is u
    assert run_id(str(u)) == u
    assert isinstance(run_id(str(u)), uuid.UUID)


@pytest.mark.parametrize("value", ["", "not-a-uuid", "1234", None, 5, "g" * 32])
def test_invalid_run_ids(value: object) -> None:
    _refused(run_id, value, "invalid_run_id")


def test_child_run_id_is_uuid5_of_parent_and_key() -> None:
    parent = uuid.UUID("12345678-1234-5678-1234-567812345678")
    child = child_run_id(parent, "spawn|k")
    assert child == uuid.uuid5(parent, "spawn|k")
    assert child.version == 5
    assert child_run_id(parent, "spawn|k") == child
    assert child_run_id(parent, "spawn|j") != child
    assert child_run_id(uuid.uuid4(), "spawn|k") != child


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=70))
def test_op_id_accepts_exactly_the_pattern(value: str) -> None:
    ok = (
        1 <= len(value) <= 63
        and "a" <= value[0] <= "z"
        and all(c == "_" or "a" <= c <= "z" or "0" <= c <= "9" for c in value)
    )
    assert (OP_ID_RE.match(value) is not None) == ok
    if ok:
        assert op_id(value) == value
    else:
        _refused(op_id, value, "invalid_op_id")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), min_size=1, max_size=5))
def test_state_id_needs_exactly_three_segments(segments: list[str]) -> None:
    value = ".".join(segments)
    assert (STATE_ID_RE.match(value) is not None) == (len(segments) == 3)
