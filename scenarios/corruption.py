"""A chain with ledger facts under the faults where the store lies, plus crashes and latency."""

from __future__ import annotations

import itertools

from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_engine.events import RunPhase
from mfm_scenarios.diamond_io import Charge
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import ScriptedStep

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.testing.services import ledger_factory
from mfm_sim.world.rng import Rng

K = FaultKind
FAULTS = (
    K.CORRUPTED_ARTIFACT,
    K.DROPPED_WRITE,
    K.CRASH_BEFORE_EFFECT,
    K.CRASH_AFTER_EFFECT,
    K.LATENCY,
)


def build(rng: Rng) -> ScenarioRun:
    n = rng.between(4, 10)
    accounts = ("carol", "dave", "erin")[: rng.between(1, 3)]
    kinds = ["step"] * n + ["charge"] * len(accounts)
    rng.shuffle(kinds)
    states, expected_path, values, charges = [], [], [], []
    charge_no = 0
    for i, kind in enumerate(kinds):
        if kind == "step":
            sid = f"store.s{i}.run"
            value = rng.between(1, 1000)
            states.append(StateNode(sid, ScriptedStep(sid, value)))
            expected_path.append(sid)
            values.append(value)
        else:
            account = accounts[charge_no]
            charge_no += 1
            amount = rng.between(1, 500)
            states.append(StateNode(f"store.charge.{account}", Charge(account, amount)))
            charges.append({"account": account, "amount": amount, "balance": amount})
    edges = [DependencyEdge(a.id, b.id) for a, b in itertools.pairwise(states)]
    plan = ExecutionPlan("store", StateGraph(states, edges))
    cfg = draw_run_config(rng, min_attempts=2)
    final = {"sum": sum(values), "path": expected_path, "charges": charges}
    return ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context={"charges": [], "sum": 0, "path": []},
        input_params={
            "states": [s.id for s in states],
            "values": values,
            "charges": charges,
        },
        transports=ledger_factory,
        model=Reference(RunPhase.COMPLETED, final),
    )


SCENARIO = register(
    Scenario(
        "corruption",
        "a chain with ledger facts; the store lies (corrupt, dropped artifacts), crashes, is slow",
        build,
        faults=FAULTS,
        in_default=False,
    )
)
