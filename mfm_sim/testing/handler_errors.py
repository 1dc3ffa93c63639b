"""A handler's own mistakes, caught where they happen, so a report can point at the user's line.

The engine turns whatever a handler raises into a `StateFailed` event with a one-line message,
and a float written to the context only fails later, when the snapshot is encoded. That is
enough for the engine and too little for the user who has to fix the handler. `userplan`'s
state wrapper records here, into a sink the scenario owns:

- an exception the handler raised (a `StateError` is the handler failing on purpose; anything
  else, the engine's `ContextError` from `ctx.require` included, is a bug in the handler),
  with the traceback frames that belong to the user's code;
- a `handle` that is not `async def` (the engine would only see "can't be awaited");
- a context write whose value is not canonical JSON (a float, a set, an object), with the
  line that wrote it.

Recording changes nothing the engine sees: exceptions are re-raised, writes go through.
"""

from __future__ import annotations

import inspect
import sys
import traceback
from collections.abc import MutableSequence
from pathlib import Path
from typing import Any

import attrs
import mfm_engine
from mfm_engine.errors import StateError
from mfm_engine.hashing import CanonicalJsonError, canonical_json_bytes

import mfm_sim

__all__ = [
    "HandlerError",
    "RecordingContext",
    "location_of",
    "not_async",
    "raised",
    "user_frames",
]

# Frames from these directories are the engine's and the harness's, never the user's.
_OURS = (str(Path(mfm_engine.__file__).parent), str(Path(mfm_sim.__file__).parent))
_ASYNCIO = str(Path(inspect.getfile(inspect)).parent)


@attrs.frozen
class HandlerError:
    """One mistake of one handler: what (`kind`), the message, and where in the user's code."""

    state_id: str
    kind: str  # "exception" (a bug), "state_error" (failed on purpose), "not_async", "not_json"
    message: str
    frames: tuple[str, ...] = ()  # "file:line in function: source", innermost last

    @property
    def location(self) -> str | None:
        return self.frames[-1] if self.frames else None


def _is_users(filename: str) -> bool:
    return not filename.startswith(_OURS) and not filename.startswith(_ASYNCIO)


def _frame_text(filename: str, lineno: int | None, name: str, line: str | None) -> str:
    source = f": {line.strip()}" if line else ""
    return f"{filename}:{lineno} in {name}{source}"


def user_frames(exc: BaseException) -> tuple[str, ...]:
    """The frames of `exc`'s traceback that are the user's code, outermost first."""
    return tuple(
        _frame_text(f.filename, f.lineno, f.name, f.line)
        for f in traceback.extract_tb(exc.__traceback__)
        if _is_users(f.filename)
    )


def location_of(fn: Any) -> str | None:
    """`file:line in name` of a function's definition, or None for builtins."""
    try:
        target = inspect.unwrap(fn)
        filename = inspect.getsourcefile(target) or inspect.getfile(target)
        _, lineno = inspect.getsourcelines(target)
    except (TypeError, OSError):
        return None
    return _frame_text(filename, lineno, getattr(target, "__qualname__", repr(target)), None)


def raised(state_id: str, exc: BaseException) -> HandlerError:
    if isinstance(exc, StateError):
        return HandlerError(state_id, "state_error", str(exc), user_frames(exc))
    text = f"{type(exc).__name__}: {exc}"
    return HandlerError(state_id, "exception", text, user_frames(exc))


def not_async(state_id: str, state: Any) -> HandlerError:
    where = location_of(type(state).handle) if hasattr(type(state), "handle") else None
    return HandlerError(
        state_id,
        "not_async",
        f"{type(state).__name__}.handle is a plain function; the engine awaits it, so it must "
        f"be `async def handle(self, ctx, io, events)`",
        (where,) if where else (),
    )


def _caller_outside_us() -> str | None:
    frame = sys._getframe(1)
    while frame is not None and not _is_users(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return None
    info = inspect.getframeinfo(frame, context=1)
    line = info.code_context[0] if info.code_context else None
    return _frame_text(info.filename, info.lineno, info.function, line)


class RecordingContext:
    """The handler's context, unchanged, except that a write of a value that is not canonical
    JSON is recorded with the line that made it (the engine only fails at the snapshot)."""

    __slots__ = ("_inner", "_sink", "_state_id")

    def __init__(self, inner: Any, state_id: str, sink: MutableSequence[HandlerError]) -> None:
        self._inner = inner
        self._state_id = state_id
        self._sink = sink

    def write(self, key: str, value: Any) -> None:
        try:
            canonical_json_bytes({"v": value})
        except CanonicalJsonError as exc:
            where = _caller_outside_us()
            self._sink.append(
                HandlerError(
                    self._state_id,
                    "not_json",
                    f"context key {key!r} was written {value!r}: {exc}",
                    (where,) if where else (),
                )
            )
        self._inner.write(key, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
