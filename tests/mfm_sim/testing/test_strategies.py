"""Hypothesis strategies: plans, run configs, seeds, and fault schedules that shrink."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from mfm_engine import RetryPolicy, RunConfig, RunManifest, StateMeta
from mfm_engine.hashing import artifact_id_for_json
from mfm_engine.ids import STATE_ID_RE
from mfm_engine.plan import topological_order

from mfm_sim import simulate
from mfm_sim.examples.payments import ORDER, buggy_plan, fixed_plan
from mfm_sim.faults.kinds import ALL_KINDS, FAULTS, SITE_KINDS, FaultKind
from mfm_sim.testing.strategies import (
    DRAWN_CALL_SIZE,
    fault_lists,
    fault_schedules,
    plans,
    run_configs,
    seeds,
    site_map,
)
from mfm_sim.testing.userplan import user_scenario
from mfm_sim.world.rng import MASK64

FAST = settings(
    database=None, derandomize=True, max_examples=40, suppress_health_check=list(HealthCheck)
)
CONFIG = RunConfig(retry_policy=RetryPolicy(3))
BUGGY = user_scenario(
    "strategies_buggy", buggy_plan, run_config=CONFIG, initial_context={"order": ORDER}
)
FIXED = user_scenario(
    "strategies_fixed", fixed_plan, run_config=CONFIG, initial_context={"order": ORDER}
)


class Add:
    def __init__(self, n: int = 1) -> None:
        self.n = n

    def meta(self) -> StateMeta:
        return StateMeta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("sum", ctx.read("sum", 0) + self.n)


async def double(ctx: Any, io: Any, events: Any) -> None:
    ctx.write("sum", ctx.read("sum", 0) * 2)


@FAST
@given(plans(handlers=[Add, double, lambda: Add(5)], max_states=5))
def test_plans_are_valid_dags_of_fresh_handlers(plan: Any) -> None:
    order = topological_order(plan)
    assert len(order) == len(plan.graph.states) <= 5
    assert all(STATE_ID_RE.match(n.id) for n in plan.graph.states)
    objects = [n.state for n in plan.graph.states]
    assert len({id(o) for o in objects}) == len(objects)
    index = {n.id: i for i, n in enumerate(plan.graph.states)}
    assert all(index[e.from_] < index[e.to] for e in plan.graph.edges)


@settings(FAST, max_examples=10)
@given(plans(handlers={"add": Add, "double": double}, max_states=4), seeds(max_value=1000))
def test_drawn_plans_run_under_faults(plan: Any, seed: int) -> None:
    scenario = user_scenario("strategies_plan", plan, services=())
    assert simulate(scenario, seed).ok


@FAST
@given(run_configs(skip_tags=("slow",)))
def test_run_configs_are_canonical(cfg: RunConfig) -> None:
    assert 1 <= cfg.retry_policy.max_attempts <= 5
    assert set(cfg.skip_tags) <= {"slow"}
    artifact_id_for_json(RunManifest("op", "1", {}, cfg).to_json())  # no floats, hashable


@FAST
@given(seeds())
def test_seeds_are_64_bit(seed: int) -> None:
    assert 0 <= seed <= MASK64


@FAST
@given(fault_schedules(BUGGY, seed=st.integers(0, 50)))
def test_drawn_schedules_sit_on_real_fault_points(schedule: Any) -> None:
    sites = site_map(BUGGY, schedule.seed)
    steps = [f.step for f in schedule.faults]
    assert steps == sorted(set(steps))
    for f in schedule.faults:
        assert f.kind in SITE_KINDS[f.site]
        if f.step <= len(sites):
            assert sites[f.step - 1] == f.site
    # A drawn schedule replays bit for bit.
    a = simulate(BUGGY, schedule.seed, schedule=schedule)
    b = simulate(BUGGY, schedule.seed, schedule=schedule)
    assert a.digest == b.digest and a.schedule == b.schedule


def test_a_given_test_shrinks_a_double_charge_to_one_fault() -> None:
    seen: list[Any] = []

    @settings(FAST, max_examples=300)
    @given(fault_schedules(BUGGY, seed=0, max_faults=6))
    def charges_once(schedule: Any) -> None:
        seen.append(schedule)
        assert simulate(BUGGY, schedule.seed, schedule=schedule).ok

    with pytest.raises(AssertionError):
        charges_once()
    minimal = seen[-1]  # Hypothesis replays the shrunk falsifying example last
    assert len(minimal.faults) == 1
    replay = simulate(BUGGY, minimal.seed, schedule=minimal)
    assert {v.invariant for v in replay.violations} >= {"effects_at_most_once"}
    assert [f.step for f in replay.schedule.faults] == [minimal.faults[0].step]


def test_find_gives_the_minimal_schedule_and_the_fixed_plan_survives_it() -> None:
    minimal = find(
        fault_schedules(BUGGY, seed=0),
        lambda s: not simulate(BUGGY, s.seed, schedule=s, keep_trace=False).ok,
        settings=settings(FAST, max_examples=300),
    )
    assert len(minimal.faults) == 1
    fault = minimal.faults[0]
    # The smallest double charge: the process dies right after the ledger applied the charge.
    assert (fault.site, fault.kind.value) == ("service", "crash_after_effect")
    same = type(minimal)(0, FIXED.name, minimal.faults)
    assert simulate(FIXED, 0, schedule=same).ok


ALL_SITES = tuple(SITE_KINDS)


@given(st.data())
def test_drawn_faults_take_the_tables_sites_and_arguments(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(ALL_KINDS))
    for fault in data.draw(fault_lists(ALL_SITES, kinds=[kind], margin=0)):
        assert fault.kind is kind and fault.site in FAULTS[kind].sites
        assert fault.arg in FAULTS[kind].args.values(DRAWN_CALL_SIZE)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
def test_drawn_arguments_reach_both_ends_of_the_tables_range(kind: FaultKind) -> None:
    values = FAULTS[kind].args.values(DRAWN_CALL_SIZE)
    one = fault_lists(ALL_SITES, kinds=[kind], max_faults=1, margin=0)
    for end in (values[0], values[-1]):
        found = find(one, lambda faults, end=end: bool(faults) and faults[0].arg == end)
        assert found[0].arg == end
