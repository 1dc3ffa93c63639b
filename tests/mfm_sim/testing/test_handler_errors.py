"""Recording a handler's own mistakes: user frames only, writes passed through, locations."""

from __future__ import annotations

from typing import Any

from mfm_engine.context import StagedContext
from mfm_engine.errors import ErrorCategory, StateError, info

from mfm_sim.testing.handler_errors import (
    HandlerError,
    RecordingContext,
    location_of,
    not_async,
    raised,
    user_frames,
)


def _boom() -> None:
    raise ValueError("boom")


def test_user_frames_keep_this_files_frames_and_drop_none_of_them() -> None:
    try:
        _boom()
    except ValueError as exc:
        frames = user_frames(exc)
    assert len(frames) == 2
    assert frames[-1].startswith(f"{__file__}:") and frames[-1].endswith('raise ValueError("boom")')


def test_raised_tells_a_bug_from_a_state_error() -> None:
    bug = raised("a.b.c", KeyError("k"))
    assert (bug.kind, bug.message) == ("exception", "KeyError: 'k'")
    on_purpose = raised("a.b.c", StateError(info("nope", ErrorCategory.UNKNOWN, "no")))
    assert on_purpose.kind == "state_error" and "nope" in on_purpose.message


def test_a_write_that_is_not_json_is_recorded_and_still_made() -> None:
    sink: list[HandlerError] = []
    base = StagedContext({})
    ctx = RecordingContext(base, "a.b.c", sink)
    ctx.write("ok", 3)
    ctx.write("bad", {"w": 0.5})
    assert base.read("bad") == {"w": 0.5} and base.read("ok") == 3
    assert ctx.read("ok") == 3  # everything else goes to the real context
    assert [e.kind for e in sink] == ["not_json"]
    assert sink[0].location is not None and 'ctx.write("bad", {"w": 0.5})' in sink[0].location


class _Sync:
    def handle(self, ctx: Any, io: Any, events: Any) -> None:
        pass


def test_not_async_points_at_the_definition() -> None:
    error = not_async("a.b.c", _Sync())
    assert error.kind == "not_async"
    assert error.location == location_of(_Sync.handle)
    assert error.location is not None and error.location.startswith(f"{__file__}:")
    assert location_of(len) is None
