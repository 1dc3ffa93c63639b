"""mfm-sim: deterministic simulation testing for the mfm engine."""

from mfm_sim.errors import HarnessError, InvalidScenario
from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.run.result import SimResult, Stats
from mfm_sim.run.scenario import Scenario, ScenarioRun, all_scenarios, get_scenario, register
from mfm_sim.run.schedule import Schedule, ScheduleError
from mfm_sim.run.simulate import simulate

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
