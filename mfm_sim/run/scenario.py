"""What a scenario is, and the registry scenarios add themselves to."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from mfm_engine.config import RunConfig, RunManifest
from mfm_engine.live_io import LiveIoTransportFactory
from mfm_engine.plan import ExecutionPlan, PlanResolver

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.run.observation import Reference
from mfm_sim.run.operator import OperatorCall
from mfm_sim.run.seeded_history import SeededHistory
from mfm_sim.world.rng import Rng

__all__ = [
    "Scenario",
    "ScenarioRun",
    "UnknownScenario",
    "all_scenarios",
    "default_mix",
    "get_scenario",
    "register",
    "resolve_names",
]


@attrs.frozen
class ScenarioRun:
    """One seed's instance of a scenario: the plan, its knobs and what to expect."""

    plan: ExecutionPlan
    run_config: RunConfig
    initial_context: Mapping[str, Any]
    resolver: PlanResolver | None = None  # op_id -> plan, for child runs; default: just `plan`
    input_params: Any = attrs.field(factory=dict)
    # Builds the inner live-IO transport factory from the world (its services); None: no IO.
    transports: Callable[[Any], LiveIoTransportFactory | None] | None = None
    child_runs: bool = False
    # The engine factory the child-run wrapper gets arms each child engine's failpoint
    # (`stop_after_handler_once`): a child engine stops after the first handler it runs.
    stopped_children: bool = False
    transparent: bool = True  # handlers are deterministic: crash transparency applies
    model: Reference | None = None  # the predicted outcome, when the scenario can predict it
    # Mistaken starts and resumes the operator makes beside the main run (`run/operator.py`).
    operator: tuple[OperatorCall, ...] = ()
    # A recorded log the operator brings: the runner writes it and resumes instead of starting.
    history: SeededHistory | None = None
    # The stores answer across a network, on a later turn of the loop (`run/net_stores.py`).
    net_stores: bool = False

    def manifest(self, op_version: str = "1") -> RunManifest:
        return RunManifest(self.plan.op_id, op_version, self.input_params, self.run_config)


@attrs.frozen
class Scenario:
    name: str
    description: str
    build: Callable[[Rng], ScenarioRun]
    faults: tuple[FaultKind, ...] = tuple(FaultKind)
    in_default: bool = True


_REGISTRY: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    _REGISTRY[scenario.name] = scenario
    return scenario


def _load_builtin() -> None:
    # Built-in scenarios live in the top-level `scenarios` package, which depends on us;
    # loading it by name keeps the import arrow pointing one way.
    if not _REGISTRY:
        importlib.import_module("mfm_scenarios")


def all_scenarios() -> list[Scenario]:
    _load_builtin()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def default_mix() -> list[Scenario]:
    return [s for s in all_scenarios() if s.in_default]


class UnknownScenario(ValueError):
    pass


def get_scenario(name: str) -> Scenario:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise UnknownScenario(f"unknown scenario {shown!r}; known: {known}, default, all") from None


def resolve_names(name: str) -> list[Scenario]:
    if name == "all":
        return all_scenarios()
    if name == "default":
        return default_mix()
    return [get_scenario(part.strip()) for part in name.split(",")]
