"""derived_fact_keys: per-attempt derived keys, each draw answered by its recorded fact."""

from __future__ import annotations

import uuid

import attrs
from mfm_engine.events import DomainEvent

from mfm_sim import get_scenario, simulate
from tests.mfm_sim.invariants.support import fired

NAME = "derived_fact_keys"


def _obs(seed: int):
    return simulate(get_scenario("facts_time_random"), seed, keep_observation=True).observation


def test_correct_runs_pass() -> None:
    for seed in range(8):
        obs = _obs(seed)
        assert any(op[0] == "now" for e in obs.handler_journal for op in e.ops)
        assert fired(obs, NAME) == []


def _completed_with_a_time_draw() -> tuple[object, object]:
    # The first seed whose schedule has a completed attempt that drew the time.
    for seed in range(50):
        obs = _obs(seed)
        for e in obs.handler_journal:
            if e.ended == "ok" and any(op[0] == "now" for op in e.ops):
                return obs, e
    raise AssertionError("no completed attempt drew the time in 50 seeds")


def test_a_draw_that_is_not_its_recorded_value_fires() -> None:
    obs, entry = _completed_with_a_time_draw()
    i = next(i for i, op in enumerate(entry.ops) if op[0] == "now")
    bad = attrs.evolve(entry, ops=(*entry.ops[:i], ("now", -5, None), *entry.ops[i + 1 :]))
    journal = tuple(bad if e is entry else e for e in obs.handler_journal)
    found = fired(attrs.evolve(obs, handler_journal=journal), NAME)
    assert len(found) == 1 and "now_millis returned -5" in found[0].message


def test_keys_without_the_attempt_fire() -> None:
    broken = simulate(get_scenario("facts_time_random"), 1, variant="derived_key_ignores_attempt")
    found = [v for v in broken.violations if v.invariant == NAME]
    assert found and "attempt 1: now_millis draw 0 has no fact" in found[0].message


# ------------------------------------------------------- a recorded log the operator brought


def _brought_derived_fact() -> tuple[object, object, object]:
    """A fault-free generated run resumed from a recorded log that binds a derived fact."""
    scenario = get_scenario("generated")
    for seed in range(300):
        obs = simulate(scenario, seed, faults=(), keep_observation=True).observation
        for run_id, view in obs.runs.items():
            for env in view.stream:
                key = getattr(env.event, "payload", {}).get("key", "")
                if (run_id, env.seq) in obs.seeded and key.startswith("mfm:"):
                    return obs, run_id, env
    raise AssertionError("no recorded log with a derived fact in 300 seeds")


def test_a_derived_fact_of_a_recorded_log_is_judged_by_what_handlers_got() -> None:
    obs, _run_id, env = _brought_derived_fact()
    assert fired(obs, NAME) == []
    # Had an engine recorded it outside any attempt, the same record would be wrong.
    found = fired(attrs.evolve(obs, seeded=frozenset()), NAME)
    assert any(
        v.seqs == (env.seq,) and "recorded while attempt None is open" in v.message for v in found
    )


def test_a_recorded_logs_derived_fact_naming_another_run_fires() -> None:
    obs, run_id, env = _brought_derived_fact()
    other = uuid.UUID(int=7)
    payload = dict(env.event.payload)
    payload["key"] = payload["key"].replace(str(run_id), str(other))
    forged = attrs.evolve(env, event=DomainEvent(env.event.name, payload))
    view = obs.runs[run_id]
    stream = tuple(forged if e is env else e for e in view.stream)
    runs = {**obs.runs, run_id: attrs.evolve(view, stream=stream)}
    found = fired(attrs.evolve(obs, runs=runs), NAME)
    assert any("names another run" in v.message for v in found)
