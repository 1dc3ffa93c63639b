"""Crash points on a disk store: every disk write and sync of the fault-free run is a crash
point, and the correct stores survive each; a flawed store does not.

Needs the simulated disk (`mfm_sim.world.disk`) and apsw; skipped where either is missing.
"""

from __future__ import annotations

import pytest

pytest.importorskip("apsw")
pytest.importorskip("mfm_sim.world.disk")

from mfm_sim.explore.crash_points import crash_points
from mfm_sim.run.scenario import get_scenario


@pytest.mark.parametrize("store", ["sqlite", "jsonl"])
def test_every_disk_write_and_sync_is_a_crash_point_and_none_fails(store: str) -> None:
    res = crash_points(get_scenario("linear"), 0, double=False, store=store)
    assert res.ok, res.describe()
    assert res.by_kind.get("disk_crash_unsynced", 0) > 0
    memory = crash_points(get_scenario("linear"), 0, double=False)
    assert "disk_crash_unsynced" not in memory.by_kind
    assert res.points > memory.points


def test_a_flawed_store_fails_at_a_crash_point() -> None:
    flaw = "jsonl:no_torn_tail_repair"
    res = crash_points(get_scenario("crash_loop"), 3, double=False, store=flaw)
    assert not res.ok
    assert any(v.invariant == "durability" for r in res.failures for v in r.violations)
    assert all(r.schedule.store == flaw for r in res.failures)
