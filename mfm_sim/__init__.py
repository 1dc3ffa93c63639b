"""mfm-sim: deterministic simulation testing for the mfm engine.

The names below are imported on first use, not with the package: pytest imports
`mfm_sim.testing.pytest_plugin` (and so this package) in every session where mfm-sim is
installed, and that must not pull in the engine and the harness.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mfm_sim.errors import HarnessError, InvalidScenario
    from mfm_sim.faults.kinds import Fault, FaultKind
    from mfm_sim.run.result import SimResult, Stats
    from mfm_sim.run.scenario import (
        Scenario,
        ScenarioRun,
        all_scenarios,
        get_scenario,
        register,
    )
    from mfm_sim.run.schedule import Schedule, ScheduleError
    from mfm_sim.run.simulate import simulate

__version__ = "0.3.0"

# Each public name and the module that defines it.
_HOME = {
    "Fault": "mfm_sim.faults.kinds",
    "FaultKind": "mfm_sim.faults.kinds",
    "Scenario": "mfm_sim.run.scenario",
    "ScenarioRun": "mfm_sim.run.scenario",
    "all_scenarios": "mfm_sim.run.scenario",
    "get_scenario": "mfm_sim.run.scenario",
    "register": "mfm_sim.run.scenario",
    "Schedule": "mfm_sim.run.schedule",
    "ScheduleError": "mfm_sim.run.schedule",
    "HarnessError": "mfm_sim.errors",
    "InvalidScenario": "mfm_sim.errors",
    "SimResult": "mfm_sim.run.result",
    "Stats": "mfm_sim.run.result",
    "simulate": "mfm_sim.run.simulate",
}

__all__ = [
    "Fault",
    "FaultKind",
    "HarnessError",
    "InvalidScenario",
    "Scenario",
    "ScenarioRun",
    "Schedule",
    "ScheduleError",
    "SimResult",
    "Stats",
    "__version__",
    "all_scenarios",
    "get_scenario",
    "register",
    "simulate",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
