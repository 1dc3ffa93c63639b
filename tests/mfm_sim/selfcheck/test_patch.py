"""The variants' seam: a source patch applies exactly once, runs in its module, and is undone."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from mfm_engine import context as context_mod
from mfm_engine.runtime import attempt as attempt_mod
from mfm_engine.runtime import child_runs as child_mod

from mfm_sim.selfcheck.patch import Edit, FunctionPatch, StalePatch, apply, patched
from mfm_sim.selfcheck.variants import variant_context

PROBE = """
from __future__ import annotations

FACTOR = 2


def scaled(x: int) -> int:
    if x > 0:
        return x * FACTOR
    return x * FACTOR


def total(xs: list[int]) -> int:
    acc = 0
    for x in xs:
        acc += x
    return acc


class Box:
    def get(self) -> int:
        return 1


def _closure() -> object:
    y = 1

    def inner() -> int:
        return y

    return inner


inner = _closure()
"""


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    (tmp_path / "variant_probe.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    sys.modules.pop("variant_probe", None)
    yield importlib.import_module("variant_probe")
    sys.modules.pop("variant_probe", None)


def _one(
    qualname: str, old: str, new: str, names: tuple[tuple[str, object], ...] = ()
) -> FunctionPatch:
    return FunctionPatch("variant_probe", qualname, (Edit(old, new),), names)


def test_an_edit_keeps_the_indentation_of_the_lines_it_replaces(probe: ModuleType) -> None:
    patch = _one(
        "total",
        """
        for x in xs:
            acc += x
        """,
        """
        for x in xs:
            # Doubled, at the loop's own indentation.
            acc += 2 * x
        """,
    )
    with patched("probe", [patch]):
        assert probe.total([1, 2]) == 6
    assert probe.total([1, 2]) == 3


def test_a_snippet_must_occur_exactly_once(probe: ModuleType) -> None:
    twice = _one("scaled", "return x * FACTOR", "return x")
    with pytest.raises(StalePatch, match=r"variant_probe\.scaled holds 2 occurrences"):
        apply("probe", twice)
    never = _one("scaled", "return x * 3", "return x")
    with pytest.raises(StalePatch, match=r"'probe' no longer applies.*0 occurrences"):
        apply("probe", never)
    # A line only matches whole: part of a line, or another indentation, is not the snippet.
    with pytest.raises(StalePatch, match="0 occurrences"):
        apply("probe", _one("scaled", "x > 0", "x"))


def test_the_patched_function_reads_its_own_modules_globals(
    probe: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, made = apply("probe", _one("scaled", "if x > 0:", "if x < 0:"))
    assert made.__globals__ is vars(probe)
    assert made.__module__ == "variant_probe"
    assert made.__qualname__ == original.__qualname__ == "scaled"
    monkeypatch.setattr(probe, "FACTOR", 5)
    assert made(3) == 15  # looked up at call time, like the engine's own code


def test_extra_names_are_closure_variables_not_module_globals(probe: ModuleType) -> None:
    patch = _one("total", "return acc", "return acc + BONUS", names=(("BONUS", 10),))
    with patched("probe", [patch]):
        assert probe.total([1]) == 11
    assert not hasattr(probe, "BONUS")


def test_a_method_is_swapped_on_its_class_and_restored_when_the_body_raises(
    probe: ModuleType,
) -> None:
    original = vars(probe.Box)["get"]
    with (
        pytest.raises(RuntimeError, match="boom"),
        patched("probe", [_one("Box.get", "return 1", "return 2")]),
    ):
        assert probe.Box().get() == 2
        raise RuntimeError("boom")
    assert vars(probe.Box)["get"] is original
    assert probe.Box().get() == 1


def test_nothing_is_swapped_when_any_patch_is_stale(probe: ModuleType) -> None:
    good = _one("Box.get", "return 1", "return 2")
    stale = _one("scaled", "return 0", "return 1")
    original = vars(probe.Box)["get"]
    with pytest.raises(StalePatch), patched("probe", [good, stale]):
        pass
    assert vars(probe.Box)["get"] is original


def test_two_patches_of_one_function_are_refused(probe: ModuleType) -> None:
    first = _one("scaled", "if x > 0:", "if x < 0:")
    second = _one("total", "return acc", "return 0")
    with (
        pytest.raises(StalePatch, match="patches one function twice"),
        patched("probe", [first, second, first]),
    ):
        pass
    assert probe.scaled(1) == 2


def test_a_closure_or_a_non_function_is_refused(probe: ModuleType) -> None:
    with pytest.raises(StalePatch, match="is a closure"):
        apply("probe", _one("inner", "return y", "return 2"))
    with pytest.raises(StalePatch, match="not a plain function"):
        apply("probe", _one("FACTOR", "2", "3"))


def test_every_engine_binding_of_a_function_is_patched_and_restored() -> None:
    """`read_snapshot` is defined in context and imported by name into attempt and child_runs:
    the engine looks it up in all three, so the patch must be in all three."""
    homes = (context_mod, attempt_mod, child_mod)
    original = context_mod.read_snapshot
    assert all(m.read_snapshot is original for m in homes)
    with variant_context("snapshot_unverified"):
        made = context_mod.read_snapshot
        assert made is not original
        assert all(m.read_snapshot is made for m in homes)
    assert all(m.read_snapshot is original for m in homes)
