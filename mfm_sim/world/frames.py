"""Whose code a frame runs: the harness's, the engine's, or someone else's.

Told by the module a frame's code belongs to (its globals' `__name__`), never by file path,
so any module can move, and an installed copy, an editable install and a zipped one agree.
"""

from __future__ import annotations

from types import FrameType, TracebackType

__all__ = [
    "ENGINE",
    "HARNESS",
    "is_engine_frame",
    "is_harness_frame",
    "package_of",
    "raised_by_harness",
]

HARNESS = "mfm_sim"
ENGINE = "mfm_engine"


def package_of(frame: FrameType) -> str:
    """The top-level package of the module the frame's code was defined in ('' if unknown)."""
    name = frame.f_globals.get("__name__")
    return name.partition(".")[0] if isinstance(name, str) else ""


def is_harness_frame(frame: FrameType) -> bool:
    return package_of(frame) == HARNESS


def is_engine_frame(frame: FrameType) -> bool:
    return package_of(frame) == ENGINE


def raised_by_harness(tb: TracebackType | None) -> bool:
    """True if, of the harness's and the engine's frames an error passed, the innermost is the
    harness's: the error is a bug in mfm-sim, never the engine's.

    Frames of the standard library or other packages in between are skipped: a harness
    function failing inside `dict.pop` or `sortedcontainers` is still a harness bug.
    """
    frames: list[FrameType] = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        package = package_of(frame)
        if package == HARNESS:
            return True
        if package == ENGINE:
            return False
    return False
