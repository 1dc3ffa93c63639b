"""An operator mistake of the generated workload: a resume of a run whose recorded initial
snapshot is canonical JSON but no object, and what ENGINE.md predicts of it.

The operator brings a run another tool recorded: one `RunStarted` naming a manifest of a
one-state op and, as its initial snapshot, a canonical JSON array, number, string or bool
(so every re-validation of "Later checks" passes: canonical, no float, decodes, no
secret). Resume finds no state done, so the first state's attempt 0 runs from that snapshot:
"One attempt", step 1 appends `StateEntered(state, 0, base)` on its own; step 3 loads the base
snapshot, "a JSON object", into a context, which this one is not; step 6: an error of the engine
itself propagates as a `RunError` and no terminal event is written. A value that is no object
refused on its way into a context is a context error, as a start's non-object initial context
is (`mfm_scenarios.operator`, `context_list`); ENGINE.md names no code for it. So the call must
fail with a `RunError` CONTEXT, having appended exactly that one `StateEntered` and nothing
else (invariant 13, `mfm_sim.invariants.operator_calls`).
"""

from __future__ import annotations

import uuid
from typing import Any

from mfm_engine import ExecutionPlan, StateGraph, StateNode
from mfm_engine.config import RunConfig, RunManifest
from mfm_engine.events import StateEntered

from mfm_sim.invariants.spec.canonical import artifact_id, json_artifact_id
from mfm_sim.run.operator import OperatorCall
from mfm_sim.world.rng import Rng

__all__ = [
    "NOT_OBJECT",
    "SNAPSHOT_ODDS",
    "SNAPSHOT_RUN",
    "draw_snapshot_mistake",
    "recorded_resume",
]

NOT_OBJECT = "recorded_snapshot_not_object"
SNAPSHOT_ODDS = 0.3  # a generated seed's chance of the mistake
SNAPSHOT_RUN = uuid.UUID("00000000-0000-4000-8000-00000005a900")
_OP = "gen_snapshot"
_STATE = "gen.snapshot.load"
# Canonical JSON values that are not objects, each re-validated clean (not null: an unset
# `log_snapshot` is None).
_VALUES: tuple[Any, ...] = ([1, 2], [], 7, "text", True)

Drawn = tuple[
    tuple[OperatorCall, ...],
    dict[str, tuple[str, str | None]],
    dict[str, tuple[Any, ...]],
]


def draw_snapshot_mistake(rng: Rng, plan: ExecutionPlan) -> Drawn:
    """With `SNAPSHOT_ODDS`: the call, its refusal (kind, no code) and the events it may
    append to the recorded run's log; else nothing. The state runs the plan's first handler
    (never reached by a correct engine); the run config is the default one, no skip tags."""
    if not rng.chance(SNAPSHOT_ODDS):
        return (), {}, {}
    value = rng.choice(_VALUES)
    call, entered = recorded_resume(NOT_OBJECT, plan, value, SNAPSHOT_RUN)
    return (call,), {NOT_OBJECT: ("context", None)}, {NOT_OBJECT: (entered,)}


def recorded_resume(
    name: str, plan: ExecutionPlan, snapshot: Any, run_id: uuid.UUID
) -> tuple[OperatorCall, StateEntered]:
    """The resume of a one-state run recorded under `run_id` whose initial snapshot is
    `snapshot` (a JSON value stored canonically, or bytes stored as they are), and the one
    `StateEntered` "One attempt", step 1 appends before the base snapshot is loaded. The state
    runs `plan`'s first handler; the run config is the default one, no skip tags."""
    manifest = RunManifest(op_id=_OP, op_version="1", input_params={}, run_config=RunConfig())
    one = ExecutionPlan(_OP, StateGraph([StateNode(_STATE, plan.graph.states[0].state)], []))
    call = OperatorCall(
        name, "resume", manifest=manifest, plan=one, run_id=run_id, log_snapshot=snapshot
    )
    base = artifact_id(snapshot) if isinstance(snapshot, bytes) else json_artifact_id(snapshot)
    return call, StateEntered(_STATE, 0, base)
