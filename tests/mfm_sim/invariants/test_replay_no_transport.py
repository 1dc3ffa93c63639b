"""replay_no_transport: replay mode never makes or calls a transport."""

from __future__ import annotations

import attrs

from mfm_sim import get_scenario, simulate
from mfm_sim.run.observation import TransportUse
from tests.mfm_sim.invariants.support import fired

NAME = "replay_no_transport"


def test_correct_runs_pass() -> None:
    for seed in range(6):
        obs = simulate(get_scenario("replay_mode"), seed, keep_observation=True).observation
        assert obs.handler_journal and all(e.replay for e in obs.handler_journal)
        assert obs.transport_uses == ()
        assert fired(obs, NAME) == []
    live = simulate(get_scenario("facts_time_random"), 0, keep_observation=True).observation
    assert live.transport_uses and fired(live, NAME) == []


def test_a_transport_in_replay_mode_fires() -> None:
    obs = simulate(get_scenario("replay_mode"), 0, keep_observation=True).observation
    use = TransportUse(0, obs.main_run_id, True, "prices")
    found = fired(attrs.evolve(obs, transport_uses=(use,)), NAME)
    assert [v.message for v in found] == ["incarnation 0 called 'prices' in replay mode"]


def test_live_io_in_replay_mode_fires() -> None:
    broken = simulate(get_scenario("replay_mode"), 0, variant="replay_uses_live_io")
    found = [v for v in broken.violations if v.invariant == NAME]
    assert found and "made a transport in replay mode" in found[0].message
