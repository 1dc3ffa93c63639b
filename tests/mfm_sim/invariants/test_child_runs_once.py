"""child_runs_once: one child per (parent, spawn key); no attempt's handler runs twice."""

from __future__ import annotations

import attrs

from mfm_sim import get_scenario, simulate
from tests.mfm_sim.invariants.support import fired

NAME = "child_runs_once"


def _obs(seed: int):
    return simulate(get_scenario("child_runs"), seed, keep_observation=True).observation


def test_correct_runs_pass() -> None:
    with_children = 0
    for seed in range(12):
        obs = _obs(seed)
        with_children += any(v.is_child for v in obs.runs.values())
        assert fired(obs, NAME) == []
    assert with_children >= 6  # most schedules spawn (a crash before the spawn may not)


def test_a_handler_run_twice_fires() -> None:
    obs = _obs(0)
    entry = next(e for e in obs.handler_journal if e.run_id is not None)
    found = fired(attrs.evolve(obs, handler_journal=(*obs.handler_journal, entry)), NAME)
    assert [v.message for v in found] == [
        f"{entry.state_id} attempt {entry.attempt}: its handler ran 2 times"
    ]


def test_a_child_from_no_spawn_key_fires() -> None:
    obs = _obs(0)
    spawns = tuple(
        attrs.evolve(e, ops=tuple(op for op in e.ops if op[0] != "calling"))
        for e in obs.handler_journal
    )
    # Without the journal's spawns and the recorded facts, no child is accounted for.
    runs = {
        k: attrs.evolve(v, stream=tuple(env for env in v.stream if "key" not in str(env.event)))
        for k, v in obs.runs.items()
    }
    found = fired(attrs.evolve(obs, handler_journal=spawns, runs=runs), NAME)
    assert found and all("not uuid5(parent, spawn key)" in v.message for v in found)


def test_a_child_id_that_is_not_the_spawn_keys_fires() -> None:
    broken = simulate(get_scenario("child_runs"), 0, variant="child_id_per_attempt")
    found = [v for v in broken.violations if v.invariant == NAME]
    assert found and "not uuid5(parent, key)" in found[0].message


def test_a_child_a_recorded_log_brought_is_accounted_for_and_only_it() -> None:
    """A recorded log may hold a child its process started before it died: that child has
    no spawn of this run's handlers, and is judged the operator's, not the engine's."""
    scenario = get_scenario("generated")
    for seed in range(300):
        obs = simulate(scenario, seed, faults=(), keep_observation=True).observation
        brought = [v for v in obs.runs.values() if v.is_child and (v.run_id, 1) in obs.seeded]
        if not brought:
            continue
        assert fired(obs, NAME) == []
        # Not brought by the operator, a child no handler spawned comes from nowhere.
        found = fired(attrs.evolve(obs, seeded=frozenset()), NAME)
        if found:
            assert all("not uuid5(parent, spawn key)" in v.message for v in found)
            return
    raise AssertionError("no recorded log held a child no handler spawned in 300 seeds")


def test_a_spawn_response_without_its_parent_fires() -> None:
    """ENGINE.md, "Later checks": the spawn's response names `parent_run_id`."""
    broken = simulate(
        get_scenario("child_runs"),
        0,
        variant="spawn_response_without_parent",
        keep_observation=True,
    )
    found = [v for v in broken.violations if v.invariant == NAME]
    assert found and all(v.message.endswith("recorded no parent_run_id") for v in found)
    # The same facts in a log the operator brought are not the engine's: not judged.
    obs = broken.observation
    seeded = frozenset((rid, env.seq) for rid, v in obs.runs.items() for env in v.stream)
    assert fired(attrs.evolve(obs, seeded=seeded), NAME) == []
