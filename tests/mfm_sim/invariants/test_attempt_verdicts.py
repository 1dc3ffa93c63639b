"""attempt_verdicts: one walk over the matched attempts gives each of its three checks its own
violations, once per observation."""

from __future__ import annotations

import attrs

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.attempt_verdicts import PROFILE, READS, STAGED, attempt_verdicts
from mfm_sim.invariants.registry import CHECKS
from mfm_sim.run.observation import Observation


def _observation() -> Observation:
    # Seed 5: a VERBOSE run, whose profile keeps every accepted emit.
    return simulate(get_scenario("linear"), 5, keep_observation=True).observation


def test_a_correct_run_gives_three_empty_lists_once() -> None:
    obs = _observation()
    first = attempt_verdicts(obs)
    assert first == ([], [], []) and attempt_verdicts(obs) is first  # walked once
    assert attempt_verdicts(attrs.evolve(obs, handler_journal=())) == ([], [], [])


def test_each_check_gets_only_its_own_violations() -> None:
    obs = _observation()
    entry = next(e for e in obs.handler_journal if e.ended == "ok")
    # A write the snapshot never got (staged_commit) and an emit the log never kept
    # (event_profile); the reads stay right (attempt_reads).
    bad = attrs.evolve(
        entry, ops=(*entry.ops, ("write", "never_stored", 1), ("emit", "ghost", {}, None, None))
    )
    broken = attrs.evolve(
        obs, handler_journal=tuple(bad if e is entry else e for e in obs.handler_journal)
    )
    reads, staged, profile = attempt_verdicts(broken)
    assert reads == [] and len(staged) == 1 and len(profile) == 1
    assert {v.invariant for v in staged} == {STAGED} and {v.invariant for v in profile} == {PROFILE}
    assert "never_stored" in staged[0].message and "ghost" in profile[0].message
    for name, found in ((READS, reads), (STAGED, staged), (PROFILE, profile)):
        assert CHECKS[name](broken) == found
