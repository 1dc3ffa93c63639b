"""mfm-sim: deterministic simulation testing for the mfm engine."""

from mfm_sim.observation import Fault, FaultKind
from mfm_sim.runner import HarnessError, InvalidScenario, SimResult, Stats, simulate
from mfm_sim.scenario import Scenario, ScenarioRun, all_scenarios, get_scenario, register
from mfm_sim.schedule import Schedule, ScheduleError

__version__ = "0.2.0"

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
