"""Contexts, the staged overlay, snapshots and verified artifact reads/writes."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.context import (
    JsonContext,
    StagedContext,
    get_verified,
    put_verified,
    read_snapshot,
    snapshot_bytes,
    write_full_snapshot_value,
)
from mfm_engine.errors import (
    ContextError,
    ContextErrorKind,
    ErrorCategory,
    StorageError,
    StorageErrorKind,
)
from mfm_engine.hashing import artifact_id_for_bytes, artifact_id_for_json
from mfm_engine.stores import ArtifactKind, InMemoryArtifactStore

BASE = {"a": 1, "b": {"nested": [1, 2]}, "c": "three"}


def _base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


# ------------------------------------------------------------------- staged overlay


def test_staged_writes_are_visible_and_base_untouched() -> None:
    base = _base()
    staged = StagedContext(base)
    staged.write("a", 10)
    staged.write("new", [1])
    assert staged.read("a") == 10
    assert staged.read("new") == [1]
    assert staged.read("c") == "three"
    assert staged.dump() == {**BASE, "a": 10, "new": [1]}
    assert base == BASE


def test_delete_hides_base_key_and_read_after_delete_gives_default() -> None:
    base = _base()
    staged = StagedContext(base)
    staged.delete("a")
    assert staged.read("a") is None
    assert staged.read("a", "dflt") == "dflt"
    assert "a" not in staged.dump()
    assert base == BASE


def test_rewrite_after_delete() -> None:
    staged = StagedContext(_base())
    staged.delete("a")
    staged.write("a", 2)
    assert staged.read("a") == 2
    assert staged.dump()["a"] == 2
    staged.delete("a")
    assert staged.read("a") is None
    assert "a" not in staged.dump()


def test_delete_of_a_staged_new_key_and_of_a_missing_key() -> None:
    base = _base()
    staged = StagedContext(base)
    staged.write("tmp", 1)
    staged.delete("tmp")
    staged.delete("never")
    assert staged.read("tmp") is None
    assert staged.dump() == BASE
    assert base == BASE


def test_commit_is_dump_then_snapshot() -> None:
    async def go() -> None:
        store = InMemoryArtifactStore()
        base = _base()
        staged = StagedContext(base)
        staged.write("x", 1)
        staged.delete("c")
        sid = await write_full_snapshot_value(store, staged.dump())
        assert store.kinds[sid] is ArtifactKind.CONTEXT_SNAPSHOT
        assert await read_snapshot(store, sid) == {"a": 1, "b": {"nested": [1, 2]}, "x": 1}
        assert sid == artifact_id_for_json({"x": 1, "b": {"nested": [1, 2]}, "a": 1})
        assert base == BASE

    asyncio.run(go())


def test_discard_drops_writes_and_deletes() -> None:
    base = _base()
    staged = StagedContext(base)
    staged.write("a", 99)
    staged.write("z", 1)
    staged.delete("c")
    staged.discard()
    assert staged.dump() == BASE
    assert staged.read("a") == 1
    assert staged.read("c") == "three"
    assert staged.read("z") is None
    assert base == BASE


def test_require() -> None:
    staged = StagedContext({"n": None, "a": 1})
    assert staged.require("a") == 1
    assert staged.require("n") is None
    for key in ("missing", "a"):
        if key == "a":
            staged.delete("a")
        with pytest.raises(ContextError) as exc:
            staged.require(key)
        assert exc.value.kind is ContextErrorKind.MISSING_KEY
        assert exc.value.info.code == "context_missing_key"
        assert exc.value.info.category is ErrorCategory.CONTEXT


def test_dump_is_a_copy() -> None:
    base = _base()
    staged = StagedContext(base)
    staged.dump()["a"] = "mutated"
    assert staged.read("a") == 1
    assert base == BASE


_keys = st.sampled_from(["a", "b", "c", "d", "e"])
_ops = st.lists(
    st.tuples(st.sampled_from(["write", "delete", "discard", "read"]), _keys, st.integers()),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, st.integers(), max_size=5), _ops)
def test_staged_context_matches_a_model(
    base: dict[str, int], ops: list[tuple[str, str, int]]
) -> None:
    frozen = dict(base)
    staged = StagedContext(base)
    model = dict(base)
    for op, key, value in ops:
        if op == "write":
            staged.write(key, value)
            model[key] = value
        elif op == "delete":
            staged.delete(key)
            model.pop(key, None)
        elif op == "discard":
            staged.discard()
            model = dict(frozen)
        assert staged.read(key, "<none>") == model.get(key, "<none>")
        assert staged.dump() == model
    assert base == frozen


# ------------------------------------------------------------------------ JsonContext


def test_json_context() -> None:
    ctx = JsonContext({"a": 1})
    ctx.write("b", 2)
    ctx.delete("a")
    ctx.delete("absent")
    assert ctx.read("a") is None
    assert ctx.read("b") == 2
    dumped = ctx.dump()
    dumped["c"] = 3
    assert ctx.dump() == {"b": 2}
    assert JsonContext().dump() == {}


@pytest.mark.parametrize("value", [[1], "x", 5])
def test_json_context_must_be_an_object(value: Any) -> None:
    with pytest.raises(ContextError) as exc:
        JsonContext(value)
    assert exc.value.info.code == "snapshot_not_object"


# ------------------------------------------------------------------------- snapshots


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcxyz_é", max_size=6),
        st.integers() | st.booleans() | st.none() | st.lists(st.integers(), max_size=3),
        max_size=8,
    ),
    st.randoms(use_true_random=False),
)
def test_snapshot_id_independent_of_insertion_order(
    value: dict[str, Any], rnd: random.Random
) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    assert snapshot_bytes(shuffled) == snapshot_bytes(value)

    async def go() -> None:
        store = InMemoryArtifactStore()
        assert await write_full_snapshot_value(store, shuffled) == await write_full_snapshot_value(
            store, value
        )

    asyncio.run(go())


def test_snapshot_id_independent_of_insertion_order_through_staging() -> None:
    one = StagedContext({})
    one.write("x", 1)
    one.write("y", {"q": 1, "p": 2})
    two = StagedContext({"y": {"p": 2, "q": 1}})
    two.write("x", 1)
    assert snapshot_bytes(one.dump()) == snapshot_bytes(two.dump())


def _context_error(
    value: Any, code: str, kind: ContextErrorKind = ContextErrorKind.SERIALIZATION
) -> None:
    with pytest.raises(ContextError) as exc:
        snapshot_bytes(value)
    assert exc.value.kind is kind
    assert exc.value.info.code == code
    assert exc.value.info.category is ErrorCategory.CONTEXT


@pytest.mark.parametrize("value", [[], [1], "s", 1, None, True])
def test_snapshot_must_be_an_object(value: Any) -> None:
    _context_error(value, "snapshot_not_object")


@pytest.mark.parametrize(
    "value",
    [{"f": 1.0}, {"a": [1, {"b": 0.5}]}, {"n": float("nan")}, {"o": object()}, {"k": {1: 2}}],
)
def test_snapshot_must_be_canonical(value: Any) -> None:
    _context_error(value, "snapshot_not_canonical")


@pytest.mark.parametrize(
    "value",
    [
        {"password": "x"},
        {"a": {"b": ["my API_KEY is 1"]}},
        {"note": " ".join(["word"] * 12)},
        {"password": 1.0},
    ],
)
def test_snapshot_secrets_detected(value: Any) -> None:
    """A secret is a policy refusal (the original's `ContextError::Other`), not serialization."""
    _context_error(value, "secrets_detected", ContextErrorKind.OTHER)


# -------------------------------------------------------------- verified reads/writes


class LyingStore(InMemoryArtifactStore):
    async def put(self, kind: ArtifactKind, data: bytes) -> str:
        await super().put(kind, data)
        return hashlib.sha256(b"lie" + data).hexdigest()


def test_put_verified_refuses_a_lying_store() -> None:
    async def go() -> None:
        with pytest.raises(StorageError) as exc:
            await put_verified(LyingStore(), ArtifactKind.OTHER, b"data")
        assert exc.value.kind is StorageErrorKind.CORRUPTION
        assert exc.value.info.code == "artifact_put_id_mismatch"
        with pytest.raises(StorageError) as exc:
            await write_full_snapshot_value(LyingStore(), {"a": 1})
        assert exc.value.info.code == "artifact_put_id_mismatch"
        ok = InMemoryArtifactStore()
        assert await put_verified(ok, ArtifactKind.OTHER, b"data") == artifact_id_for_bytes(b"data")

    asyncio.run(go())


def test_read_snapshot_of_corrupted_bytes() -> None:
    async def go() -> None:
        store = InMemoryArtifactStore()
        sid = await write_full_snapshot_value(store, {"a": 1})
        store.data[sid] = b'{"a":2}'
        for read in (read_snapshot, get_verified):
            with pytest.raises(StorageError) as exc:
                await read(store, sid)
            assert exc.value.kind is StorageErrorKind.CORRUPTION
            assert exc.value.info.code == "artifact_content_address_mismatch"

    asyncio.run(go())


def test_read_snapshot_missing_is_not_found() -> None:
    async def go() -> None:
        with pytest.raises(StorageError) as exc:
            await read_snapshot(InMemoryArtifactStore(), "0" * 64)
        assert exc.value.kind is StorageErrorKind.NOT_FOUND

    asyncio.run(go())


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (b"not json", StorageError, "artifact_json_decode_failed"),
        (b"\xff\xfe", StorageError, "artifact_json_decode_failed"),
        (b"[1,2]", ContextError, "snapshot_not_object"),
        (b"null", ContextError, "snapshot_not_object"),
    ],
)
def test_read_snapshot_of_well_addressed_non_snapshots(
    data: bytes, error: type[Exception], code: str
) -> None:
    """Bytes that are not JSON are corruption; JSON that is not an object is no snapshot."""

    async def go() -> None:
        store = InMemoryArtifactStore()
        aid = await store.put(ArtifactKind.OTHER, data)
        with pytest.raises(error) as exc:
            await read_snapshot(store, aid)
        assert exc.value.info.code == code  # type: ignore[attr-defined]

    asyncio.run(go())
