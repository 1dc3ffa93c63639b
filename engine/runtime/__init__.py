"""The runtime: engine, attempts, the sequence-numbering writer, history and child runs."""

from mfm_engine.runtime.attempt import EngineFailpoints
from mfm_engine.runtime.child_runs import ChildRunLiveIoTransportFactory
from mfm_engine.runtime.engine import (
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
