"""event_profile: each attempt keeps exactly the domain events its profile keeps."""

from __future__ import annotations

import attrs

from mfm_sim import get_scenario, simulate
from tests.mfm_sim.invariants.support import fired

NAME = "event_profile"


def test_correct_runs_pass() -> None:
    for seed in range(6):
        obs = simulate(get_scenario("linear"), seed, keep_observation=True).observation
        assert fired(obs, NAME) == []


def test_an_event_the_handler_never_emitted_fires() -> None:
    obs = simulate(get_scenario("linear"), 0, keep_observation=True).observation
    assert obs.runs[obs.main_run_id].run_config.event_profile.name != "MINIMAL"
    entry = next(e for e in obs.handler_journal if any(op[0] == "emit" for op in e.ops))
    bad = attrs.evolve(entry, ops=tuple(op for op in entry.ops if op[0] != "emit"))
    journal = tuple(bad if e is entry else e for e in obs.handler_journal)
    found = fired(attrs.evolve(obs, handler_journal=journal), NAME)
    assert found and "kept ['step_done'], the profile keeps []" in found[0].message


def test_minimal_keeping_everything_fires() -> None:
    broken = simulate(get_scenario("linear"), 1, variant="profile_ignored")
    found = [v for v in broken.violations if v.invariant == NAME]
    assert found and "under MINIMAL: kept ['step_done']" in found[0].message
