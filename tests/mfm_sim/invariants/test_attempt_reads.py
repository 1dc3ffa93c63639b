"""attempt_reads: a handler reads its base snapshot under its own staged overlay."""

from __future__ import annotations

import attrs

from mfm_sim import get_scenario, simulate
from tests.mfm_sim.invariants.promise_plans import caught, clean, write_then_fail
from tests.mfm_sim.invariants.support import fired

NAME = "attempt_reads"


def test_correct_runs_pass() -> None:
    obs = simulate(get_scenario("linear"), 2, keep_observation=True).observation
    assert any(op[0] == "read" for e in obs.handler_journal for op in e.ops)
    assert fired(obs, NAME) == []
    clean(write_then_fail())


def test_a_read_the_base_does_not_hold_fires() -> None:
    obs = simulate(get_scenario("linear"), 1, keep_observation=True).observation
    entry = next(e for e in obs.handler_journal if any(op[0] == "read" for op in e.ops))
    i = next(i for i, op in enumerate(entry.ops) if op[0] == "read")
    op = entry.ops[i]
    bad = attrs.evolve(
        entry, ops=(*entry.ops[:i], (op[0], op[1], "leaked", op[3]), *entry.ops[i + 1 :])
    )
    journal = tuple(bad if e is entry else e for e in obs.handler_journal)
    found = fired(attrs.evolve(obs, handler_journal=journal), NAME)
    assert len(found) == 1 and "returned 'leaked'" in found[0].message


def test_failed_writes_leaking_into_the_retry_fire() -> None:
    found = caught(write_then_fail(), "failed_writes_leak", NAME)
    assert any("attempt 1: read('tmp') returned 1" in v.message for v in found)
