"""Generated seeds whose twin spawns run over an artifact store across a network."""

from __future__ import annotations

import attrs
from mfm_scenarios.generated import SCENARIO
from mfm_scenarios.net_stores import with_net_stores

from mfm_sim.run.simulate import simulate
from mfm_sim.world.rng import Streams


def test_only_seeds_with_twin_spawns_get_the_network() -> None:
    run = SCENARIO.build(Streams(0).stream("scenario"))
    plain = attrs.evolve(run, net_stores=False)
    drawn = [with_net_stores(plain, True, Streams(s).stream("t")).net_stores for s in range(40)]
    assert 0 < sum(drawn) < 40
    assert not any(
        with_net_stores(plain, False, Streams(s).stream("t")).net_stores for s in range(40)
    )


def test_a_seed_over_the_network_is_clean() -> None:
    for seed in range(200):
        if SCENARIO.build(Streams(seed).stream("scenario")).net_stores:
            result = simulate(SCENARIO, seed, keep_trace=False)
            assert not result.violations
            return
    raise AssertionError("no generated seed over the network in 200")
