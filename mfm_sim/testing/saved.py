"""What a failing check leaves on disk, under `.mfm-sim/`, and what the next run replays first.

Like Hypothesis's example database: a failing seed's schedule goes to the package's failure
database (`mfm_sim.explore.faildb`, `.mfm-sim/failures/<check>-<seed>.json`); the next run
of the same check tries those seeds before its own, and forgets one that passes. Next to it,
in `.mfm-sim/reports/`, the failure's text report and its HTML timeline
(`mfm_sim.report.timeline_html.render_html`), so a CI job can keep them as artifacts.

Entries are named after the check (the test's node id), never after the process-unique
scenario name, so they survive from one session to the next.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from mfm_sim.explore.faildb import FailureDB, entry_name
from mfm_sim.run.result import SimResult

__all__ = ["SavedFailures"]


class SavedFailures:
    """`.mfm-sim/` of one project: failing schedules to replay, reports and timelines."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.db = FailureDB(self.root / "failures")
        self.reports = self.root / "reports"

    def seeds(self, check: str) -> tuple[int, ...]:
        """The seeds of this check's saved failing schedules, in file-name order."""
        return tuple(
            e.schedule.seed
            for e in self.db.entries()
            if e.schedule is not None and e.path.name == entry_name(check, e.schedule.seed)
        )

    def forget(self, check: str, seed: int) -> None:
        """A saved seed that passes now: the bug is fixed, stop replaying it first."""
        self.db.path_for(check, seed).unlink(missing_ok=True)

    def save(self, check: str, result: SimResult, report: str) -> Path:
        """Save the failing schedule, the report and the HTML timeline; the timeline's path."""
        # `report` is a layer above `testing`: only a failing check reaches for it.
        from mfm_sim.report.timeline_html import render_html

        named = attrs.evolve(
            result, scenario=check, schedule=attrs.evolve(result.schedule, scenario=check)
        )
        self.db.save(named)
        self.reports.mkdir(parents=True, exist_ok=True)
        stem = entry_name(check, result.seed).removesuffix(".json")
        (self.reports / f"{stem}.txt").write_text(report + "\n")
        timeline = self.reports / f"{stem}.html"
        timeline.write_text(render_html(named, title=f"mfm-sim: {check} seed {result.seed}"))
        return timeline
