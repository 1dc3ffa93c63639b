"""Systematic crash-point enumeration (single and nested crashes)."""

from __future__ import annotations

from unittest import mock

import attrs
import mfm_engine.runtime.engine as engine_mod
import pytest

from mfm_sim import Fault, FaultKind, get_scenario, simulate
from mfm_sim.explore.crash_points import crash_faults, crash_points
from mfm_sim.faults.kinds import ENUMERATED_KINDS, FAULTS, SITES
from mfm_sim.selfcheck.variants import VARIANTS, Variant

K = FaultKind


def _orphan_ignored() -> mock._patch:
    original = engine_mod.read_run_history

    def patched(run_id, stream):  # type: ignore[no-untyped-def]
        return attrs.evolve(original(run_id, stream), orphan_attempt=None)

    return mock.patch.object(engine_mod, "read_run_history", patched)


def test_linear_single_and_double_crash_points_pass_on_the_correct_engine() -> None:
    sc = get_scenario("linear")
    res = crash_points(sc, 3)
    assert res.failures == [], [v.describe() for r in res.failures for v in r.violations]
    assert res.ok
    base = simulate(sc, 3, schedule=[], interleave=False, record_sites=True, keep_observation=True)
    assert base.sites is not None and base.observation is not None
    assert res.steps == len(base.sites)
    # Every store call that can crash was crashed before (and, where it has one, after) its
    # effect, every handler before and after it ran, every append torn at every prefix; the
    # harness's idempotence probe (faults paused) excepted.
    run = base.observation.incarnations[0]
    sizes: dict[int, int] = {}
    for _, step in base.observation.seq_step.values():
        sizes[step] = sizes.get(step, 0) + 1
    expected_single = sum(
        len(crash_faults(i, s, append_size=sizes.get(i, 1)))
        for i, s in enumerate(base.sites, 1)
        if i <= run.last_step
    )
    assert res.single == expected_single
    assert res.double > res.single  # nested crashes: several per single crash
    assert res.points == res.single + res.double == sum(res.by_kind.values())
    assert set(res.by_kind) <= {
        k.value
        for k in (
            K.CRASH_BEFORE_EFFECT,
            K.CRASH_AFTER_EFFECT,
            K.CRASH_MID_APPEND,
            K.CRASH_IN_HANDLER,
        )
    }
    assert not res.capped
    assert "no violations" in res.describe()


def test_single_points_are_deterministic_and_cover_every_crashable_step() -> None:
    sc = get_scenario("diamond_io")
    a = crash_points(sc, 3, double=False)
    b = crash_points(sc, 3, double=False)
    assert (a.points, a.by_kind) == (b.points, b.by_kind)
    assert a.double == 0 and a.points == a.single > 0
    assert a.ok
    assert a.by_kind.get("crash_after_effect", 0) > 0  # including after service calls


def test_double_points_are_capped() -> None:
    res = crash_points(get_scenario("linear"), 3, max_double=10)
    assert res.capped
    assert res.double == 10


def test_crash_points_find_a_broken_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        VARIANTS, "test_explore_orphan", Variant("test_explore_orphan", "", _orphan_ignored)
    )
    res = crash_points(get_scenario("linear"), 3, double=False, variant="test_explore_orphan")
    assert res.failures
    assert "attempt_envelopes" in res.violations_by_invariant()
    # Every failing schedule holds exactly one crash, as enumerated.
    assert all(len(r.schedule.faults) == 1 for r in res.failures)


def test_crash_faults_per_site() -> None:
    assert [f.kind for f in crash_faults(4, "artifacts.get")] == [K.CRASH_BEFORE_EFFECT]
    assert [(f.kind, f.arg) for f in crash_faults(4, "handler")] == [
        (K.CRASH_IN_HANDLER, 0),
        (K.CRASH_IN_HANDLER, 1),
    ]
    assert [(f.kind, f.arg) for f in crash_faults(4, "events.append", append_size=3)] == [
        (K.CRASH_BEFORE_EFFECT, 0),
        (K.CRASH_AFTER_EFFECT, 0),
        (K.CRASH_MID_APPEND, 1),
        (K.CRASH_MID_APPEND, 2),
    ]
    assert [f.kind for f in crash_faults(4, "service")] == [K.CRASH_AFTER_EFFECT]


@pytest.mark.parametrize("site", SITES)
def test_crash_enumeration_follows_the_table(site: str) -> None:
    for size in (1, 2, 4):
        want = [
            Fault(3, kind, site, arg)
            for kind in ENUMERATED_KINDS
            if site in FAULTS[kind].sites
            for arg in FAULTS[kind].args.values(size)
        ]
        assert crash_faults(3, site, append_size=size) == want
        untorn = [f for f in want if not FAULTS[f.kind].args.sized]
        assert crash_faults(3, site, append_size=size, torn=False) == untorn


def test_crash_enumeration_uses_every_enumerated_kind_and_no_other() -> None:
    used = {f.kind for site in SITES for f in crash_faults(1, site, append_size=3)}
    assert used == set(ENUMERATED_KINDS) == {k for k in FaultKind if FAULTS[k].enumerated}
