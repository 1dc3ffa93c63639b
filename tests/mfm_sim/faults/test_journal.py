"""The handler journal's records: copies of what a handler read, wrote and emitted."""

from __future__ import annotations

from mfm_sim.faults.journal import _copy


def test_a_copy_of_a_container_of_scalars_is_a_new_equal_container() -> None:
    flat = {"a": 1, "b": "x", "c": None, "d": True}
    copied = _copy(flat)
    assert copied == flat and copied is not flat
    items = ["a", 2, 3.5]
    assert _copy(items) == items and _copy(items) is not items
    assert _copy(("a", "b")) == ["a", "b"]  # a tuple is recorded as the array it is


def test_a_nested_container_is_copied_all_the_way_down() -> None:
    value = {"path": ["s0"], "meta": {"tags": ["x"]}}
    copied = _copy(value)
    value["path"].append("s1")
    value["meta"]["tags"].clear()
    assert copied == {"path": ["s0"], "meta": {"tags": ["x"]}}
