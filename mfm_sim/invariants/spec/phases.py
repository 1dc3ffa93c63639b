"""The phase a run's result reports for each terminal status (ENGINE.md, "Events": RunPhase is
RUNNING plus the three statuses)."""

from __future__ import annotations

from mfm_engine.events import RunPhase, RunStatus

__all__ = ["PHASE_OF", "TERMINAL"]

PHASE_OF: dict[RunStatus, RunPhase] = {
    RunStatus.COMPLETED: RunPhase.COMPLETED,
    RunStatus.FAILED: RunPhase.FAILED,
    RunStatus.CANCELLED: RunPhase.CANCELLED,
}
TERMINAL: frozenset[RunPhase] = frozenset(PHASE_OF.values())
