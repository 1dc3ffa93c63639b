"""The failure database around a sweep: replayed first, failures saved after."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfm_sim import get_scenario, simulate
from mfm_sim.explore.faildb import FailureDB
from mfm_sim.explore.rerun import rerun_entries, save_failures
from mfm_sim.run.result import SimResult
from mfm_sim.selfcheck.variants import VARIANTS

VARIANT = "unfixed_orphan"
needs_variant = pytest.mark.skipif(VARIANT not in VARIANTS, reason="variant not registered")


def _failing(seeds: range) -> list[SimResult]:
    results = [simulate(get_scenario("linear"), s, variant=VARIANT) for s in seeds]
    return [r for r in results if r.violations]


@needs_variant
def test_saved_failures_replay_and_the_fixed_ones_are_told(tmp_path: Path) -> None:
    failing = _failing(range(15))
    assert failing
    db = FailureDB(tmp_path / "db")
    saved = save_failures(db, failing, VARIANT)
    assert saved.error is None and all(saved.paths)
    (tmp_path / "db" / "junk-1.json").write_text("{")

    still = rerun_entries(db.entries(), ["linear"], VARIANT)
    assert len(still.replayed) == len(failing) and not still.fixed and not still.skipped
    assert all(still.already_failed(r) for r in failing)

    fixed = rerun_entries(db.entries(), ["linear"], None)  # recorded under the variant
    assert not fixed.replayed and len(fixed.skipped) == len(failing)
    other = rerun_entries(db.entries(), ["retry_heavy"], VARIANT)
    assert not other.replayed and len(other.skipped) == len(failing)


def test_a_passing_replay_is_fixed_and_not_a_known_failure(tmp_path: Path) -> None:
    result = simulate(get_scenario("linear"), 3)
    db = FailureDB(tmp_path / "db")
    save_failures(db, [result], None)
    rerun = rerun_entries(db.entries(), ["linear"], None)
    assert [e.path.name for e in rerun.fixed] == ["linear-3.json"]
    assert not rerun.failing and not rerun.already_failed(result)


def test_saving_stops_at_the_first_error(tmp_path: Path) -> None:
    results = [simulate(get_scenario("linear"), s) for s in (1, 2)]
    blocked = tmp_path / "file"
    blocked.write_text("")
    saved = save_failures(FailureDB(blocked / "db"), results, None)
    assert saved.paths == (None, None)
    assert isinstance(saved.error, OSError)
