"""An operator mistake of the generated workload: a start whose initial context is an object
that canonical JSON cannot hold, and what ENGINE.md predicts of it.

ENGINE.md, "Start and resume": start "writes the initial snapshot" before it appends
`RunStarted`; "Canonical JSON": integers only (a float, `1.0` included, is refused), and a
value is JSON only with string keys; "One attempt", 6: an error of the engine itself (a
snapshot with floats) propagates as a `RunError` and nothing terminal is written. So a start
whose initial context holds a float, bytes or a non-string key fails with a `RunError`
CONTEXT and appends nothing, whether the context comes as a plain dict or as a `JsonContext`
(invariant 13, `mfm_sim.invariants.operator_calls`); ENGINE.md names no code, so the error's
shape is what `error_shape` judges: a code, a kind of `ContextErrorKind`, a message.

The other start mistakes (`mfm_scenarios.operator`) bring contexts that are no object or that
hold a secret, never one that is an object of values JSON cannot encode.
"""

from __future__ import annotations

from typing import Any

from mfm_sim.run.operator import OperatorCall
from mfm_sim.world.rng import Rng

__all__ = ["CONTEXT_ODDS", "NOT_CANONICAL", "draw_context_mistake"]

NOT_CANONICAL = "context_not_canonical"
CONTEXT_ODDS = 0.3  # a generated seed's chance of the mistake


def _value(rng: Rng) -> dict[Any, Any]:
    """An object canonical JSON refuses, made afresh: a float (at the top or nested), bytes,
    or an integer key."""
    pick = rng.below(4)
    if pick == 0:
        return {"ratio": 1.5}
    if pick == 1:
        return {"n": [1, 2.0]}
    if pick == 2:
        return {"raw": b"\x00\x01"}
    return {1: "one"}


def draw_context_mistake(
    rng: Rng,
) -> tuple[tuple[OperatorCall, ...], dict[str, tuple[str, str | None]]]:
    """With `CONTEXT_ODDS`: the call and its refusal (kind, no code); else nothing."""
    if not rng.chance(CONTEXT_ODDS):
        return (), {}
    form = rng.choice(("value", "json_context"))
    call = OperatorCall(NOT_CANONICAL, "start", context=form, context_value=_value(rng))
    return (call,), {NOT_CANONICAL: ("context", None)}
