"""An operator mistake of the generated workload: the resume of a run another tool recorded,
whose kernel records break an attempt envelope.

ENGINE.md, "Attempt envelopes": walking a run's stream, `StateEntered` while an attempt is
open, a terminal event with no open attempt or for another state, and `RunStarted` or
`RunCompleted` inside an open attempt are errors; "Later checks": resume refuses such a
history before it rebuilds anything (`invalid_attempt_envelopes`, RunError INVALID_PLAN). The
tool's log is well numbered (seq 1, 2, ...), so the seq rules are the lying log's
(`mfm_sim.faults.log_lies`); these are the rules a lie of the store never breaks with a
`RunCompleted`, since a lie is told only of an unfinished run's stream. The refusal is judged
with every operator mistake by `mfm_sim.invariants.operator_calls`, its reason (the break, at
its seq) by `mfm_sim.invariants.spec.refusal_causes`.
"""

from __future__ import annotations

import uuid

from mfm_engine.config import RunManifest
from mfm_engine.errors import ErrorCategory, ErrorInfo
from mfm_engine.events import (
    DomainEvent,
    RunCompleted,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from mfm_engine.plan import ExecutionPlan

from mfm_sim.invariants.spec.canonical import canonical_bytes
from mfm_sim.run.operator import OperatorCall
from mfm_sim.world.rng import Rng

__all__ = ["BROKEN_ENVELOPES", "BROKEN_ODDS", "SHAPES", "draw_broken_envelopes", "shaped"]

BROKEN_ENVELOPES = "recorded_envelopes_broken"
BROKEN_ODDS = 0.3  # a seed's chance of the mistake
# The run that tool recorded: an id no run of the engine's id streams has.
BROKEN_RUN = uuid.UUID("00000000-0000-4000-8000-00000000e4e1")
_ID = "e" * 64  # a well-formed artifact id
_OTHER_STATE = "sim.recorded.other"  # a well-formed state id no generated plan has
_FAILED = ErrorInfo("recorded_failure", ErrorCategory.UNKNOWN, True, "recorded", None)
# The rule each shape breaks, as ENGINE.md lists them.
SHAPES = (
    "entered_while_open",
    "terminal_without_entered",
    "terminal_state_mismatch",
    "run_started_inside",
    "run_completed_inside",
)


def shaped(shape: str, state_id: str, op_id: str) -> tuple[object, ...]:
    """The kernel records after the log's `RunStarted` that break `shape`'s rule at the last."""
    entered = StateEntered(state_id, 0, _ID)
    if shape == "entered_while_open":
        return (entered, StateEntered(state_id, 1, _ID))
    if shape == "terminal_without_entered":
        return (StateCompleted(state_id, _ID),)
    if shape == "terminal_state_mismatch":
        return (entered, StateFailed(_OTHER_STATE, _FAILED))
    if shape == "run_started_inside":
        return (entered, RunStarted(op_id, _ID, _ID))
    return (entered, RunCompleted(RunStatus.COMPLETED, _ID))


def draw_broken_envelopes(
    rng: Rng, manifest: RunManifest, plan: ExecutionPlan
) -> tuple[tuple[OperatorCall, ...], dict[str, tuple[str, str | None]]]:
    """With `BROKEN_ODDS`, the resume of a log whose `RunStarted` names `manifest` (stored
    canonically), then up to two domain events (ignored by the walk: they move the break's
    seq), then a shape's records; and its refusal."""
    if not rng.chance(BROKEN_ODDS):
        return (), {}
    shape = rng.choice(SHAPES)
    noise = tuple(DomainEvent("op_boundary", {}) for _ in range(rng.below(3)))
    call = OperatorCall(
        BROKEN_ENVELOPES,
        "resume",
        run_id=BROKEN_RUN,
        recorded_manifest=canonical_bytes(manifest.to_json()),
        recorded_events=(*noise, *shaped(shape, plan.graph.states[0].id, manifest.op_id)),
    )
    return (call,), {BROKEN_ENVELOPES: ("invalid_plan", "invalid_attempt_envelopes")}
