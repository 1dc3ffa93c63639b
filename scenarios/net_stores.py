"""A generated-workload feature: the stores answer across a network, for seeds whose
programs spawn a child twice at once (`twin_spawn`, `mfm_scenarios.twins`).

On the memory stores nothing yields between the first spawn's fact lookup and its binding,
so the second spawn always finds the fact bound and never reaches the child-run wrapper. Across
a network (`mfm_sim.run.net_stores`) each store call answers on a later turn of the loop, so
both spawns find the key unbound and both ask the wrapper: one child id, and the supervisor
keeps one task for it ("a supervisor keeps at most one task per child id"), so the second
spawn joins the first's task and answers the same response. ENGINE.md's facts rule then
predicts what the twin calls of `kv.net` get: the second binds nothing and records the same
fact again, both answer the payload; the reference interpreter predicts it as it predicts
any twin call, and invariant `child_runs_once` wants one child run, started once.
"""

from __future__ import annotations

import attrs

from mfm_sim.run.scenario import ScenarioRun
from mfm_sim.world.rng import Rng

__all__ = ["NET_STORE_ODDS", "with_net_stores"]

NET_STORE_ODDS = 0.5  # of the seeds with spawns made twice at once


def with_net_stores(run: ScenarioRun, twin_spawn: bool, rng: Rng) -> ScenarioRun:
    """`run` over stores across a network, with `NET_STORE_ODDS` when it spawns twins."""
    if not twin_spawn or not rng.chance(NET_STORE_ODDS):
        return run
    return attrs.evolve(run, net_stores=True)
