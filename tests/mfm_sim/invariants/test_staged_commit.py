"""staged_commit: a completed snapshot is the base with the attempt's writes and deletes."""

from __future__ import annotations

import attrs

from mfm_sim import get_scenario, simulate
from tests.mfm_sim.invariants.promise_plans import caught, clean, deleting
from tests.mfm_sim.invariants.support import fired

NAME = "staged_commit"


def test_correct_runs_pass() -> None:
    obs = simulate(get_scenario("random_dag"), 3, keep_observation=True).observation
    assert fired(obs, NAME) == []
    clean(deleting())


def test_a_write_missing_from_the_snapshot_fires() -> None:
    obs = simulate(get_scenario("linear"), 1, keep_observation=True).observation
    entry = next(e for e in obs.handler_journal if e.ended == "ok")
    bad = attrs.evolve(entry, ops=(*entry.ops, ("write", "never_stored", 1)))
    journal = tuple(bad if e is entry else e for e in obs.handler_journal)
    found = fired(attrs.evolve(obs, handler_journal=journal), NAME)
    assert len(found) == 1 and "writes missing: ['never_stored']" in found[0].message


def test_a_dropped_delete_fires() -> None:
    found = caught(deleting(), "staged_delete_dropped", NAME)
    assert any("never written: ['a']" in v.message for v in found)
