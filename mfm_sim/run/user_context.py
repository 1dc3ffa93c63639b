"""The initial context a start is handed: the scenario's mapping as is, or, in half the
schedules (from a stream of its own, so no other draw moves), a `JsonContext` built key by key
through its public API, as a user's code builds one: a default read for a key not yet set, a
read of one that is, a scratch key written and deleted (ENGINE.md is silent on deleting a key
never set, so that is not done). Either way
the engine must snapshot the same object, which the model predicts from the mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mfm_engine.context import JsonContext
from mfm_engine.runtime import StartRun

from mfm_sim.world.rng import Streams

__all__ = ["STREAM", "initial_context", "start_with_context"]

STREAM = "user_context"
_SCRATCH = "\x00scratch"  # a key no scenario uses: written, then deleted


def initial_context(streams: Streams, initial: Mapping[str, Any]) -> Any:
    """What `StartRun.initial_context` gets for the scenario's `initial`."""
    if not streams.stream(STREAM).chance(0.5):
        return dict(initial)
    ctx = JsonContext()
    ctx.write(_SCRATCH, len(initial))
    for key, value in initial.items():
        ctx.write(key, ctx.read(key, value))  # not set yet: the default
        ctx.write(key, ctx.read(key))  # set: itself
    ctx.delete(_SCRATCH)
    return ctx


async def start_with_context(
    engine: Any, stores: Any, parts: tuple[Any, ...], streams: Streams, initial: Mapping[str, Any]
) -> Any:
    """`engine.start(stores, StartRun(*parts, initial context))`, the context built inside the
    coroutine: an error JsonContext's API raises surfaces where the engine's errors do, and is
    judged by its frames (the engine's, not the harness's)."""
    return await engine.start(stores, StartRun(*parts, initial_context(streams, initial)))
