"""Values at the edges of canonical JSON: big, shared, self-containing, bare, or no JSON at all.

Each piece drives a path of ENGINE.md's "Canonical JSON" and "Later checks" that no other
workload reaches, because the values there are small objects of distinct members:

- **A shared member past the careful threshold.** The first state writes a list of 100,001
  references to one empty list (in a quarter of the seeds; three in the others). The engine
  scans a value that big again with cycle tracking, and a member met again after it was left
  is shared, not a cycle: the snapshot must be stored (JSON has no references; the bytes
  repeat the member). The second state deletes it, so later snapshots stay small.
- **A bare integer fact payload.** The run resumes a recorded log (`SeededHistory`) that
  bound the first state's keyed call to a bare integer of two or more digits, or a negative
  one. The call is answered from its record: the stored bytes decoded whole.
- **The operator's values the engine must refuse** (invariant 13,
  `mfm_sim.invariants.operator_calls`), each on a fresh engine beside the main run:
  - a start whose initial context contains itself: no canonical form, so a `RunError`
    CONTEXT before anything is written ("One attempt", 6; `mfm_scenarios.context_mistake`);
  - the resume of a recorded run whose initial snapshot bytes are no JSON, or JSON with
    bytes after it: "Later checks", `artifact_json_decode_failed` (a `StorageError`
    CORRUPTION) when the first attempt loads its base, after its `StateEntered`; bytes
    that decode but are not canonical (trailing whitespace) are `artifact_not_canonical`;
  - the resume of a recorded log with an invalid id in a record: "Ids are validated when
    decoded", `invalid_artifact_id` / `invalid_state_id` (a `RunError` INVALID_PLAN) before
    anything is written, whatever store holds the log.

The reference interpreter (`mfm_scenarios.interpreter`) predicts the main run; every value
the workload writes is built when its handler runs (`Shared`, `CyclicContext`), so the plan
holds none of them.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_engine.events import DomainEvent, StateCompleted, StateEntered
from mfm_scenarios.interpreter import interpret
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.operator import with_mistakes
from mfm_scenarios.program import (
    BIG_MEMBERS,
    CALL,
    DELETE,
    READ,
    WRITE,
    Op,
    Program,
    ProgramState,
    Shared,
)
from mfm_scenarios.snapshot_mistake import recorded_resume

from mfm_sim.invariants.spec.canonical import canonical_bytes
from mfm_sim.run.observation import Reference
from mfm_sim.run.operator import OperatorCall
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.run.seeded_history import SeededHistory
from mfm_sim.testing.services import make_services
from mfm_sim.world.rng import Rng

__all__ = [
    "BIG_ODDS",
    "CONTAINS_ITSELF",
    "INVALID_ID",
    "NOT_JSON",
    "CyclicContext",
    "build",
    "invalid_id_records",
]

CONTAINS_ITSELF = "context_contains_itself"
NOT_JSON = "recorded_snapshot_not_json"
INVALID_ID = "recorded_invalid_id"
_NOT_JSON_RUN = uuid.UUID("00000000-0000-4000-8000-0000000ed9e1")
_INVALID_ID_RUN = uuid.UUID("00000000-0000-4000-8000-0000000ed9e2")
_ID = "d" * 64  # a well-formed artifact id
BIG_ODDS = 0.25
# Initial snapshot bytes and the code "Later checks" refuses them with.
NOT_JSON_BYTES: tuple[tuple[bytes, str], ...] = (
    (b"not json", "artifact_json_decode_failed"),
    (b'{"a":1} x', "artifact_json_decode_failed"),
    (b"{}{}", "artifact_json_decode_failed"),
    (b"\xff{}", "artifact_json_decode_failed"),  # no UTF-8
    (b"{} ", "artifact_not_canonical"),  # decodes; trailing whitespace is not canonical
)
INVALID_ID_SHAPES = ("entered_base", "entered_state", "completed_snapshot", "domain_ref")


@attrs.frozen
class CyclicContext:
    """An initial context built when the start is made: an object that contains itself,
    through a list or directly."""

    through_list: bool

    def __call__(self) -> dict[str, Any]:
        value: dict[str, Any] = {"n": 1}
        if self.through_list:
            loop: list[Any] = []
            loop.append(loop)
            value["loop"] = loop
        else:
            value["self"] = value
        return value


def invalid_id_records(shape: str, state_id: str) -> tuple[tuple[object, ...], str]:
    """Records after a log's `RunStarted` with one invalid id, and the code that refuses it."""
    if shape == "entered_base":
        return (StateEntered(state_id, 0, "not-an-artifact-id"),), "invalid_artifact_id"
    if shape == "entered_state":
        return (StateEntered("Not A State", 0, _ID),), "invalid_state_id"
    if shape == "completed_snapshot":
        return (
            StateEntered(state_id, 0, _ID),
            StateCompleted(state_id, _ID.upper()),  # hex, but not lowercase
        ), "invalid_artifact_id"
    return (DomainEvent("note", {}, payload_ref="g" * 64),), "invalid_artifact_id"


def _mistakes(
    rng: Rng, run: ScenarioRun
) -> tuple[tuple[OperatorCall, ...], dict[str, tuple[str, str | None]], dict[str, Any]]:
    data, code = rng.choice(NOT_JSON_BYTES)
    not_json, entered = recorded_resume(NOT_JSON, run.plan, data, _NOT_JSON_RUN)
    records, id_code = invalid_id_records(
        rng.choice(INVALID_ID_SHAPES), run.plan.graph.states[0].id
    )
    invalid = OperatorCall(
        INVALID_ID,
        "resume",
        run_id=_INVALID_ID_RUN,
        recorded_manifest=canonical_bytes(run.manifest().to_json()),
        recorded_events=records,
    )
    cyclic = OperatorCall(
        CONTAINS_ITSELF,
        "start",
        context=rng.choice(("value", "json_context")),
        context_value=CyclicContext(rng.chance(0.5)),
    )
    expected = {
        CONTAINS_ITSELF: ("context", None),
        NOT_JSON: ("storage", code),
        INVALID_ID: ("invalid_plan", id_code),
    }
    return (cyclic, not_json, invalid), expected, {NOT_JSON: (entered,)}


def build(rng: Rng) -> ScenarioRun:
    count = rng.between(10, 10**9) if rng.chance(0.5) else -rng.between(1, 10**9)
    request = {"op": "get", "key": "count"}
    # The big value costs a few tenths of a second a schedule (scans, bytes, the oracle's
    # own checks): a quarter of the seeds write it, the others a small shared list.
    members = BIG_MEMBERS if rng.chance(BIG_ODDS) else 3
    big = Program(
        (
            Op(CALL, "count", name="kv", value=request, fact_key="count"),
            Op(WRITE, "big", value=Shared(members)),
        )
    )
    drop = Program((Op(DELETE, "big"), Op(READ, "copy", src="count")))
    states = [StateNode("edge.big.write", ProgramState(big))]
    states.append(StateNode("edge.big.drop", ProgramState(drop)))
    plan = ExecutionPlan(
        "edge", StateGraph(states, [DependencyEdge("edge.big.write", "edge.big.drop")])
    )
    cfg = draw_run_config(rng)
    history = SeededHistory(facts=(("count", count),))
    result = interpret(plan, cfg, {}, {}, history)
    run = ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context={},
        input_params={"count": count},
        transports=make_services(("kv",), trace=False),
        model=Reference(result.phase, None, result.prediction),
        history=history,
    )
    return with_mistakes(run, *_mistakes(rng.fork("operator"), run))


SCENARIO = register(
    Scenario(
        "edge_values",
        "a context value past the careful scan whose members are one shared list, a bare "
        "integer fact payload from a recorded log, and the operator's self-containing context, "
        "no-JSON snapshot bytes and invalid ids",
        build,
        in_default=False,
    )
)
