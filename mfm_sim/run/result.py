"""What one schedule returns: its violations, its schedule as data, counters and the trace."""

from __future__ import annotations

import attrs
from mfm_engine.events import RunPhase

from mfm_sim.invariants import Violation
from mfm_sim.run.observation import (
    Observation,
)
from mfm_sim.run.schedule import Schedule
from mfm_sim.run.trace import Trace

__all__ = ["SimResult", "Stats"]


@attrs.frozen
class Stats:
    faults_by_kind: tuple[tuple[str, int], ...]
    crashes: int
    resumes: int
    store_calls: int
    virtual_ns: int
    incarnations: int
    trace_entries: int


def _same_digest(a: Trace, b: Trace) -> bool:
    return a.digest == b.digest


@attrs.frozen
class SimResult:
    seed: int
    scenario: str
    violations: tuple[Violation, ...]
    # The trace's digest is computed when first read: a sweep never reads a passing one's.
    log: Trace = attrs.field(eq=attrs.cmp_using(eq=_same_digest), repr=False)
    trace: tuple[tuple[int, int, str, str], ...]
    schedule: Schedule
    stats: Stats
    final_phase: RunPhase | None
    final_snapshot_id: str | None
    observation: Observation | None = attrs.field(default=None, eq=False, repr=False)
    sites: tuple[str, ...] | None = attrs.field(
        default=None, eq=False, repr=False
    )  # site of each step

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def digest(self) -> str:
        return self.log.digest
