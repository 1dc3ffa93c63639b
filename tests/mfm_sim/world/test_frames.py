"""Frames are told harness, engine or user by their module's name, never by their file path."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType, FunctionType
from typing import Any

import mfm_engine.ids
import pytest

import mfm_sim.run.simulate
import mfm_sim.world.rng
from mfm_sim.world.frames import (
    ENGINE,
    HARNESS,
    is_engine_frame,
    is_harness_frame,
    package_of,
)

# A function whose frame is returned to the caller, to be compiled under any globals.
SOURCE = "def here():\n    import sys\n\n    return sys._getframe()\n"


def _compiled(globals_: dict[str, Any], filename: str = "<user code>") -> FunctionType:
    """`here` compiled from SOURCE under `filename`, running with `globals_` as its module's."""
    module = compile(SOURCE, filename, "exec")
    code = next(c for c in module.co_consts if getattr(c, "co_name", None) == "here")
    return FunctionType(code, globals_)


def _frame_of(module_name: str, filename: str = "<user code>") -> FrameType:
    return _compiled({"__name__": module_name}, filename)()


def _innermost_frame(call: Callable[[], object]) -> FrameType:
    """The frame an exception raised by `call` was raised in."""
    with pytest.raises(Exception) as info:
        call()
    tb = info.value.__traceback__
    assert tb is not None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


def test_a_harness_function_runs_in_a_harness_frame() -> None:
    frame = _innermost_frame(lambda: mfm_sim.world.rng.parse_seed("not a seed"))
    assert frame.f_globals["__name__"].startswith("mfm_sim.world.")
    assert package_of(frame) == HARNESS == "mfm_sim"
    assert is_harness_frame(frame)
    assert not is_engine_frame(frame)


def test_an_engine_function_runs_in_an_engine_frame() -> None:
    frame = _innermost_frame(lambda: mfm_engine.ids.op_id("not an op id"))
    assert frame.f_code.co_name == "op_id"
    assert package_of(frame) == ENGINE == "mfm_engine"
    assert is_engine_frame(frame)
    assert not is_harness_frame(frame)


def test_a_users_function_runs_in_neither() -> None:
    frame = sys._getframe()
    assert package_of(frame) == __name__.partition(".")[0] == "tests"
    assert not is_harness_frame(frame)
    assert not is_engine_frame(frame)


def test_code_compiled_with_an_engine_modules_globals_is_the_engines() -> None:
    # No file of the engine's: the code was made from a string, as a generated method is.
    here = _compiled(vars(mfm_engine.ids))
    frame = here()
    assert frame.f_code.co_filename == "<user code>"
    assert is_engine_frame(frame)
    assert not is_harness_frame(frame)


def test_a_users_code_filed_inside_the_harness_folder_is_not_the_harness() -> None:
    path = str(Path(mfm_sim.run.simulate.__file__).resolve())
    frame = _frame_of("user_module", filename=path)
    assert frame.f_code.co_filename == path
    assert package_of(frame) == "user_module"
    assert not is_harness_frame(frame)
    assert not is_engine_frame(frame)
    engine_path = str(Path(mfm_engine.ids.__file__).resolve())
    assert not is_engine_frame(_frame_of("user_module", filename=engine_path))


def test_harness_code_filed_anywhere_is_the_harness() -> None:
    assert is_harness_frame(_frame_of("mfm_sim.testing.userplan", filename="/elsewhere/x.py"))


@pytest.mark.parametrize(
    "name",
    [
        "mfm_simulator",
        "mfm_sim_extra.world",
        "mfm_engines",
        "engine",
        "engine.runtime",
        "scenarios",
    ],
)
def test_only_the_package_itself_counts_not_a_name_that_starts_alike(name: str) -> None:
    frame = _frame_of(name)
    assert package_of(frame) == name.partition(".")[0]
    assert not is_harness_frame(frame)
    assert not is_engine_frame(frame)


@pytest.mark.parametrize("globals_", [{}, {"__name__": None}, {"__name__": 7}])
def test_a_frame_without_a_module_name_belongs_to_no_package(globals_: dict[str, Any]) -> None:
    frame = _compiled(globals_)()
    assert package_of(frame) == ""
    assert not is_harness_frame(frame)
    assert not is_engine_frame(frame)
