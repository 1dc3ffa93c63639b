"""The failure database around a sweep: its schedules replayed first, the sweep's failures
saved after, so that the next run replays them first."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import attrs

from mfm_sim.explore.faildb import Entry, FailureDB
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import get_scenario
from mfm_sim.run.simulate import simulate

__all__ = ["DbRerun", "SavedFailures", "rerun_entries", "save_failures"]


@attrs.frozen
class DbRerun:
    """The database's schedules replayed before a sweep."""

    replayed: tuple[tuple[Entry, SimResult], ...]
    skipped: tuple[Entry, ...]  # recorded under another engine variant or scenario

    @property
    def failing(self) -> list[tuple[Entry, SimResult]]:
        return [(e, r) for e, r in self.replayed if r.violations]

    @property
    def fixed(self) -> list[Entry]:
        return [e for e, r in self.replayed if not r.violations]

    def already_failed(self, result: SimResult) -> bool:
        """Whether `result` is the very schedule of a replayed failure (same scenario, seed and
        digest): a seed that failed before fails again in the sweep, and is listed once."""
        key = (result.scenario, result.seed, result.digest)
        return any((r.scenario, r.seed, r.digest) == key for _, r in self.failing)


def rerun_entries(
    entries: Sequence[Entry], scenarios: Collection[str], variant: str | None
) -> DbRerun:
    """Replay the readable entries recorded for these scenarios under this engine variant."""
    replayed: list[tuple[Entry, SimResult]] = []
    skipped: list[Entry] = []
    for entry in entries:
        sched = entry.schedule
        if sched is None:
            continue
        if sched.scenario not in scenarios or entry.variant != variant:
            skipped.append(entry)
            continue
        result = simulate(
            get_scenario(sched.scenario),
            sched.seed,
            schedule=sched,
            variant=variant,
            keep_trace=False,
        )
        replayed.append((entry, result))
    return DbRerun(tuple(replayed), tuple(skipped))


@attrs.frozen
class SavedFailures:
    """Where each failure was saved (None once saving failed), and why saving stopped."""

    paths: tuple[str | None, ...]
    error: OSError | None = None


def save_failures(
    db: FailureDB, results: Sequence[SimResult], variant: str | None
) -> SavedFailures:
    """Save each failing result; after the first error the rest are not tried."""
    paths: list[str | None] = []
    error: OSError | None = None
    for r in results:
        saved: str | None = None
        if error is None:
            try:
                saved = str(db.save(r, variant=variant))
            except OSError as exc:
                error = exc
        paths.append(saved)
    return SavedFailures(tuple(paths), error)
