"""Operator mistakes of the generated workload, and the refusal ENGINE.md predicts for each.

Swarm-style, from a fork of the seed's stream (so the workload a seed draws stays as it was):
a seed switches the feature on or off, then draws one or two mistaken starts and, half
the time, a mistaken resume. Each is a start or a
resume the engine must refuse before it writes anything ("Start and resume": start validates
the mode, the manifest hash, op ids and run config, the plan, that the manifest exists, and
writes the initial snapshot only if it is an object without secrets; resume refuses a run with
no history, a plan whose op id is not the manifest's, and a history naming a state the plan
lacks). The runner makes them (`mfm_sim.run.operator`); invariant 13 compares each outcome with
the refusal predicted here, and checks that nothing was written.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_engine.config import FanOutJoin, RunConfig, RunManifest
from mfm_scenarios.broken_envelopes import BROKEN_ENVELOPES
from mfm_scenarios.context_mistake import NOT_CANONICAL
from mfm_scenarios.malformed_facts import MALFORMED_FACT
from mfm_scenarios.manifest_mistakes import (
    MANIFEST_MISTAKES,
    NOT_A_MANIFEST,
    draw_log_manifest_mistake,
    draw_manifest_mistake,
)
from mfm_scenarios.snapshot_mistake import NOT_OBJECT

from mfm_sim.invariants.spec.canonical import canonical_bytes
from mfm_sim.run.operator import AFTER_CRASH, OperatorCall
from mfm_sim.run.scenario import ScenarioRun
from mfm_sim.world.rng import Rng

__all__ = [
    "MISTAKES",
    "RECORDED_ODDS",
    "Expected",
    "draw_mistakes",
    "draw_recorded",
    "with_mistakes",
]

# name -> (error kind, code or None where ENGINE.md names no code)
Expected = dict[str, tuple[str, str | None]]
INVALID_PLAN = "invalid_plan"
STARTS = (
    "fan_out",
    "manifest_id_mismatch",
    "op_id_mismatch",
    "run_config_mismatch",
    "manifest_missing",
    "empty_plan",
    "bad_op_id",
    "bad_state_id",
    "duplicate_state",
    "bad_edge",
    "cycle",
    "context_list",
    "context_json_list",
    "context_secret",
    "unknown_run",
)
RESUMES = ("wrong_op_plan", "stale_plan")  # a wrong build's plan, after a crash
RECORDED = "recorded_manifest_not_canonical"  # a resume of a run another tool recorded
# The last six from forks of their own (the snapshot's: `mfm_scenarios.snapshot_mistake`).
MISTAKES = (
    *STARTS,
    *RESUMES,
    *MANIFEST_MISTAKES,
    NOT_A_MANIFEST,
    RECORDED,
    NOT_OBJECT,
    MALFORMED_FACT,
    BROKEN_ENVELOPES,
    NOT_CANONICAL,
)
# A run id no run has: the engine draws its ids from the seed's streams.
NO_RUN = uuid.UUID("00000000-0000-4000-8000-00000000beef")
# The run an operator's own tool recorded (`draw_recorded`), and a seed's chance of its resume.
RECORDED_RUN = uuid.UUID("00000000-0000-4000-8000-0000000feed0")
RECORDED_ODDS = 0.3
_WRONG_ID = "0" * 64  # a well-formed artifact id that is no manifest's hash
_OTHER_OP = "gen_other"


def _plan(op_id: str, nodes: list[StateNode], edges: list[DependencyEdge]) -> ExecutionPlan:
    return ExecutionPlan(op_id, StateGraph(nodes, edges))


def _bad_plan(name: str, plan: ExecutionPlan) -> ExecutionPlan:
    """A plan the engine refuses (ENGINE.md: ids `^[a-z][a-z0-9_]{0,62}$`, a state id three
    such segments; every edge names plan states; no cycle)."""
    nodes = list(plan.graph.states)
    first = nodes[0]
    if name == "empty_plan":
        return _plan(plan.op_id, [], [])
    if name == "bad_op_id":
        return _plan("Gen-Bad", nodes, list(plan.graph.edges))
    if name == "bad_state_id":
        return _plan(plan.op_id, [*nodes, StateNode("gen.Bad-Id", first.state)], [])
    if name == "duplicate_state":
        return _plan(plan.op_id, [*nodes, StateNode(first.id, first.state)], [])
    if name == "bad_edge":
        return _plan(plan.op_id, nodes, [DependencyEdge(first.id, "gen.ghost.run")])
    # a cycle: the first state to the last and back (a lone state onto itself)
    last = nodes[-1]
    return _plan(
        plan.op_id, nodes, [DependencyEdge(first.id, last.id), DependencyEdge(last.id, first.id)]
    )


def _start(
    name: str, rng: Rng, plan: ExecutionPlan, cfg: RunConfig, manifest: RunManifest
) -> tuple[OperatorCall, tuple[str, str | None]]:
    # A start refused before its snapshot may leave the context out (StartRun's default).
    ctx = "omit" if rng.chance(0.5) else "main"
    call = OperatorCall(name, "start", context=ctx)
    if name == "fan_out":
        bent = attrs.evolve(cfg, execution_mode=FanOutJoin(rng.between(2, 4)))
        call = attrs.evolve(call, manifest=attrs.evolve(manifest, run_config=bent))
        return call, (INVALID_PLAN, "unsupported_execution_mode")
    if name == "manifest_id_mismatch":
        return attrs.evolve(call, manifest_id=_WRONG_ID), (INVALID_PLAN, name)
    if name == "op_id_mismatch":
        call = attrs.evolve(call, manifest=attrs.evolve(manifest, op_id=_OTHER_OP))
        return call, (INVALID_PLAN, "manifest_op_id_mismatch")
    if name == "run_config_mismatch":
        other = attrs.evolve(
            cfg, replay_missing_fact_retryable=not cfg.replay_missing_fact_retryable
        )
        return attrs.evolve(call, run_config=other), (INVALID_PLAN, name)
    if name == "manifest_missing":  # a manifest the operator never stored
        missing = attrs.evolve(manifest, op_version="2")
        call = attrs.evolve(call, manifest=missing, store_manifest=False)
        return call, ("storage", "manifest_not_found")
    if name in ("context_list", "context_json_list"):
        form = "value" if name == "context_list" else "json_context"
        return attrs.evolve(call, context=form, context_value=[1, 2]), ("context", None)
    if name == "context_secret":
        secret = {"note": "ok", "password": "hunter2"}
        call = attrs.evolve(
            call, context=rng.choice(("value", "json_context")), context_value=secret
        )
        return call, ("context", "secrets_detected")
    if name == "unknown_run":
        return OperatorCall(name, "resume", run_id=NO_RUN), ("storage", "run_not_found")
    bad = _bad_plan(name, plan)
    # The manifest names the plan's op, so only the plan itself is wrong.
    call = attrs.evolve(call, plan=bad, manifest=attrs.evolve(manifest, op_id=bad.op_id))
    # seed/runtime.rs (which ENGINE.md's start is): any failure to order the plan is
    # `invalid_plan("invalid_plan", ...)`.
    return call, (INVALID_PLAN, "invalid_plan")


def _resume(name: str, plan: ExecutionPlan) -> tuple[OperatorCall, tuple[str, str | None]]:
    nodes = list(plan.graph.states)
    if name == "wrong_op_plan":  # a build whose plan names another op
        wrong = _plan(_OTHER_OP, nodes, list(plan.graph.edges))
        return OperatorCall(name, "resume", AFTER_CRASH, plan=wrong), (
            INVALID_PLAN,
            "plan_op_id_mismatch",
        )
    # an older build: one state, under an id the history never names
    stale = _plan(plan.op_id, [StateNode("gen.stale.run", nodes[0].state)], [])
    return OperatorCall(name, "resume", AFTER_CRASH, plan=stale), (
        INVALID_PLAN,
        "recovery_state_not_in_plan",
    )


def draw_mistakes(
    rng: Rng, plan: ExecutionPlan, cfg: RunConfig, manifest: RunManifest
) -> tuple[tuple[OperatorCall, ...], Expected]:
    """The seed's operator mistakes (none when the feature is off) and their refusals."""
    if not rng.chance(0.5):
        return (), {}
    names = sorted({rng.choice(STARTS) for _ in range(rng.between(1, 2))})
    if rng.chance(0.5):  # made only in schedules with a crash: drawn more often
        names.append(rng.choice(RESUMES))
    calls: list[OperatorCall] = []
    expected: Expected = {}
    for name in names:
        call, refusal = (
            _resume(name, plan) if name in RESUMES else _start(name, rng, plan, cfg, manifest)
        )
        calls.append(call)
        expected[name] = refusal
    forked = rng.fork("manifest")
    for drawn in (draw_manifest_mistake(forked, manifest), draw_log_manifest_mistake(forked)):
        if drawn is not None:
            calls.append(drawn[0])
            expected[drawn[0].name] = drawn[1]
    return tuple(calls), expected


def draw_recorded(rng: Rng, manifest: RunManifest) -> tuple[tuple[OperatorCall, ...], Expected]:
    """With `RECORDED_ODDS`, a resume of a run another tool recorded: its `RunStarted` names
    the manifest stored as that tool wrote it, the canonical JSON and a newline. ENGINE.md,
    "Later checks": every JSON artifact read is re-validated, the manifest first; bytes that
    are not canonical are `artifact_not_canonical` (StorageError CORRUPTION), before resume
    writes anything."""
    if not rng.chance(RECORDED_ODDS):
        return (), {}
    data = canonical_bytes(manifest.to_json()) + b"\n"
    call = OperatorCall(RECORDED, "resume", run_id=RECORDED_RUN, recorded_manifest=data)
    return (call,), {RECORDED: ("storage", "artifact_not_canonical")}


def with_mistakes(
    run: ScenarioRun,
    calls: tuple[OperatorCall, ...],
    expected: Expected,
    writes: dict[str, tuple[Any, ...]] | None = None,
) -> ScenarioRun:
    """`run` with the operator's `calls`, its model predicting each one's refusal (`expected`)
    and the events a refusal may append first (`writes`); `run` as it is without calls or
    without a prediction to hold them."""
    if not calls or run.model is None or run.model.prediction is None:
        return run
    prediction = attrs.evolve(run.model.prediction, operator=expected, operator_writes=writes or {})
    return attrs.evolve(run, operator=calls, model=attrs.evolve(run.model, prediction=prediction))
