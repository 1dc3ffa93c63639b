"""The seed sweep: same aggregate for any jobs count, bounded memory, shards, time budget."""

from __future__ import annotations

import attrs
import pytest

from mfm_sim import HarnessError, get_scenario
from mfm_sim.explore import sweep as sweep_mod
from mfm_sim.explore.sweep import SweepResult, parse_shard, shard, sweep
from mfm_sim.run.scenario import default_mix
from mfm_sim.selfcheck.variants import VARIANTS, UnknownVariant

VARIANT = "unfixed_orphan"


def _comparable(res: SweepResult) -> dict[str, object]:
    d = attrs.asdict(res, recurse=False)
    d.pop("wall_s")
    d["failures"] = [(r.scenario, r.seed, r.digest, r.violations, r.schedule) for r in res.failures]
    return d


def test_shard_splits_seeds_disjointly_and_completely() -> None:
    seeds = range(10, 31)
    parts = [shard(seeds, i, 4) for i in range(1, 5)]
    assert all(isinstance(p, range) for p in parts)
    flat = sorted(s for p in parts for s in p)
    assert flat == list(seeds)
    assert shard(seeds, 1, 1) == seeds
    with pytest.raises(ValueError):
        shard(seeds, 3, 2)
    with pytest.raises(ValueError):
        shard(seeds, 0, 2)


@pytest.mark.parametrize(
    ("text", "expected"), [("1/4", (1, 4)), ("4/4", (4, 4)), (" 2/3 ", (2, 3))]
)
def test_parse_shard_accepts_i_of_n(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["3/2", "0/2", "1/0", "x", "1-2", "a/b", "/2", "-1/2"])
def test_parse_shard_rejects_impossible_shards(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shard(text)


def test_jobs_do_not_change_the_result() -> None:
    mix = default_mix()
    one = sweep(mix, range(12), jobs=1)
    two = sweep(mix, range(12), jobs=2)
    assert one.schedules == 12 * len(mix) == one.seeds_run * len(mix)
    assert one.faults > 0 and one.crashes > 0 and one.resumes > 0 and one.virtual_ns > 0
    assert _comparable(one) == _comparable(two)
    assert one.ok and one.failures == []


@pytest.mark.skipif(VARIANT not in VARIANTS, reason="engine variant not registered")
def test_failures_are_kept_in_scenario_seed_order_and_bounded() -> None:
    scs = [get_scenario("linear"), get_scenario("retry_heavy")]
    full = sweep(scs, range(25), jobs=1, variant=VARIANT)
    assert full.failing > 3
    assert full.per_scenario["linear"].failing > 0
    assert sum(t.failing for t in full.per_scenario.values()) == full.failing
    keys = [(r.scenario, r.seed) for r in full.failures]
    assert keys == sorted(keys)
    assert all(r.violations and r.trace == () and r.observation is None for r in full.failures)
    assert set(full.violations_by_invariant) >= {"attempt_envelopes"}

    bounded = sweep(scs, range(25), jobs=2, variant=VARIANT, max_failures=3)
    assert bounded.failing == full.failing  # the counters see every failure ...
    assert [(r.scenario, r.seed, r.digest) for r in bounded.failures] == [
        (r.scenario, r.seed, r.digest) for r in full.failures[:3]
    ]  # ... but only the first ones are kept


def test_time_budget_stops_dispatching_seeds() -> None:
    res = sweep([get_scenario("linear")], range(10_000), jobs=1, time_budget=1e-9)
    assert res.budget_exhausted
    assert res.seeds_run < res.seeds_planned
    assert res.schedules == res.seeds_run


def test_progress_reports_monotone_counts() -> None:
    seen: list[tuple[int, int, int]] = []
    res = sweep([get_scenario("linear")], range(6), progress=lambda *a: seen.append(a))
    done = [d for d, _, _ in seen]
    assert done == sorted(done) and done[-1] == res.schedules == 6
    assert {t for _, t, _ in seen} == {6}


def test_coverage_counts_paths_when_available() -> None:
    pytest.importorskip("mfm_sim.explore.coverage")
    res = sweep([get_scenario("linear")], range(15))
    assert res.coverage is not None
    assert res.coverage and all(0 < n <= res.schedules for n in res.coverage.values())
    assert list(res.coverage) == sorted(res.coverage)
    off = sweep([get_scenario("linear")], range(3), coverage=False)
    assert off.coverage is None


def test_unexpected_exception_in_a_simulation_is_a_harness_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(sweep_mod, "simulate", boom)
    with pytest.raises(HarnessError, match="scenario linear seed 0"):
        sweep([get_scenario("linear")], range(3))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        sweep([get_scenario("linear")], range(3), jobs=0)
    with pytest.raises(ValueError):
        sweep([get_scenario("linear")], range(3), time_budget=0)
    with pytest.raises(UnknownVariant):
        sweep([get_scenario("linear")], range(3), variant="no_such_variant")


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_tune_collector_collects_freezes_and_raises_the_young_threshold() -> None:
    import gc
    import weakref

    garbage = _Cycle()
    dead = weakref.ref(garbage)
    del garbage  # cyclic garbage: only the collector frees it
    alive = _Cycle()
    threshold = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    try:
        sweep_mod.tune_collector()
        assert dead() is None  # collected first, so no garbage is frozen for good
        assert gc.get_freeze_count() > frozen_before
        assert alive.me is alive  # still alive after the collection: it is among the frozen
        assert gc.get_threshold() == (sweep_mod.YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()  # this is the test runner's heap, not a sweep worker's
        gc.set_threshold(*threshold)


def test_workers_tune_their_collector_and_results_do_not_move(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    calls: list[bool] = []
    monkeypatch.setattr(sweep_mod, "tune_collector", lambda: calls.append(True))
    monkeypatch.setattr(sweep_mod, "_OPTIONS", None)
    options = object()
    sweep_mod._init_worker(options)  # type: ignore[arg-type]
    assert calls == [True] and sweep_mod._OPTIONS is options
    # When the collector runs changes no schedule: never, or at every allocation.
    scenario = get_scenario("crash_loop")
    threshold = gc.get_threshold()
    digests = []
    for mode in ("off", "eager"):
        if mode == "off":
            gc.disable()
        else:
            gc.set_threshold(1, 1, 1)
        try:
            digests.append(
                [sweep_mod.simulate(scenario, s, keep_trace=False).digest for s in range(3)]
            )
        finally:
            gc.enable()
            gc.set_threshold(*threshold)
    assert digests[0] == digests[1]


def test_max_failing_stops_dispatching_after_n_failures() -> None:
    if VARIANT not in VARIANTS:
        pytest.skip("variant not registered")
    linear = [get_scenario("linear")]
    full = sweep(linear, range(60), variant=VARIANT)
    cut = sweep(linear, range(60), variant=VARIANT, max_failing=2)
    assert full.failing > 2 and not full.stopped_on_failures
    assert cut.failing == 2 and cut.stopped_on_failures and cut.seeds_run < 60
    assert [r.seed for r in cut.failures] == [r.seed for r in full.failures[:2]]
    with pytest.raises(ValueError, match="max failing"):
        sweep(linear, range(3), max_failing=0)
