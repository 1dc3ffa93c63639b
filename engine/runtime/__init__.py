"""The runtime: engine, attempts, the sequence-numbering writer, history and child runs."""

from engine.runtime.attempt import EngineFailpoints
from engine.runtime.child_runs import ChildRunLiveIoTransportFactory
from engine.runtime.engine import (
    ORPHAN_ATTEMPT_RECOVERED,
    DefaultExecutionEngine,
    RunResult,
    StartRun,
    validate_execution_mode,
)

__all__ = [
    "ORPHAN_ATTEMPT_RECOVERED",
    "ChildRunLiveIoTransportFactory",
    "DefaultExecutionEngine",
    "EngineFailpoints",
    "RunResult",
    "StartRun",
    "validate_execution_mode",
]
