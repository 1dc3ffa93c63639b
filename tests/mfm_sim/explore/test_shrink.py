"""Shrinking a failing schedule: ddmin over faults, cheaper kinds, earlier steps."""

from __future__ import annotations

from unittest import mock

import attrs
import mfm_engine.runtime.engine as engine_mod
import pytest

from mfm_sim import Fault, FaultKind, Schedule, get_scenario, simulate
from mfm_sim.explore.shrink import MAX_RUNS, cheaper, shrink
from mfm_sim.faults.kinds import ALL_KINDS, FAULTS, SITE_KINDS
from mfm_sim.selfcheck.variants import VARIANTS, Variant

K = FaultKind
BROKEN = "test_shrink_orphan_ignored"


def _orphan_ignored() -> mock._patch:
    """Resume forgets the orphan attempt: it is never closed (attempt_envelopes breaks)."""
    original = engine_mod.read_run_history

    def patched(run_id, stream):  # type: ignore[no-untyped-def]
        return attrs.evolve(original(run_id, stream), orphan_attempt=None)

    return mock.patch.object(engine_mod, "read_run_history", patched)


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(VARIANTS, BROKEN, Variant(BROKEN, "orphan ignored", _orphan_ignored))
    return BROKEN


def _key(s: Schedule) -> list[tuple[int, str, str, int]]:
    return [(f.step, f.kind.value, f.site, f.arg) for f in s.faults]


def test_synthetic_schedule_drops_irrelevant_faults_and_simplifies(broken: str) -> None:
    sc = get_scenario("linear")
    seed = 3
    base = simulate(sc, seed, schedule=[], interleave=False, record_sites=True)
    sites = base.sites
    assert sites is not None
    handlers = [i for i, s in enumerate(sites, 1) if s == "handler"]
    assert len(handlers) >= 2
    crash_at = handlers[1]
    # The one fault that matters (a crash after the second handler ran), buried in latency.
    latency = [
        Fault(i, K.LATENCY, s, 5)
        for i, s in enumerate(sites, 1)
        if s in ("artifacts.get", "events.head_seq", "artifacts.exists") and i < crash_at
    ]
    faults = sorted(
        [*latency, Fault(crash_at, K.CRASH_IN_HANDLER, "handler", 1)], key=lambda f: f.step
    )
    schedule = Schedule(seed, sc.name, tuple(faults), recoverable=True, interleave=False)
    first = simulate(sc, seed, schedule=schedule, variant=broken)
    assert any(v.invariant == "attempt_envelopes" for v in first.violations)
    assert len(first.schedule.faults) == len(faults) >= 4  # all of them fired

    res = shrink(sc, schedule, "attempt_envelopes", variant=broken)
    assert res.reproduced
    assert res.original_faults == len(faults)
    assert len(res.schedule.faults) == 1
    only = res.schedule.faults[0]
    # The crash survived; after the handler became before it (cheaper); and it moved to the
    # earliest handler step, where the same bug shows.
    assert (only.kind, only.site, only.arg) == (K.CRASH_IN_HANDLER, "handler", 0)
    assert only.step == handlers[0]
    assert res.runs <= MAX_RUNS + 2
    assert res.violation is not None and res.violation.invariant == "attempt_envelopes"
    assert "shrunk" in res.describe()
    # The result replays from its JSON form and still fails; the correct engine passes it.
    again = Schedule.from_json(res.schedule.to_json())
    assert any(
        v.invariant == "attempt_envelopes"
        for v in simulate(sc, seed, schedule=again, variant=broken).violations
    )
    assert simulate(sc, seed, schedule=again).ok
    # Deterministic.
    assert _key(shrink(sc, schedule, "attempt_envelopes", variant=broken).schedule) == _key(
        res.schedule
    )


def test_shrink_a_registered_variant_failure() -> None:
    name = next((n for n in ("unfixed_orphan", "fact_reexecuted") if n in VARIANTS), None)
    if name is None:
        pytest.skip("no registered variant to shrink")
    sc = get_scenario("linear" if name == "unfixed_orphan" else "diamond_io")
    for seed in range(300):
        r = simulate(sc, seed, variant=name)
        if r.violations and len(r.schedule.faults) >= 3:
            break
    else:
        pytest.skip(f"no multi-fault failure of {name} in 300 seeds")
    inv = r.violations[0].invariant
    res = shrink(sc, r.schedule, inv, variant=name, max_runs=200)
    if not res.reproduced:
        pytest.skip("the random schedule does not replay as a scripted one (runner liveness)")
    assert len(res.schedule.faults) < len(r.schedule.faults)
    assert any(v.invariant == inv for v in res.result.violations)
    assert res.runs <= 202


def test_non_reproducing_schedule_is_reported_not_shrunk() -> None:
    sc = get_scenario("linear")
    schedule = Schedule(3, sc.name, (Fault(7, K.CRASH_IN_HANDLER, "handler", 0),), True, False)
    res = shrink(sc, schedule, "attempt_envelopes")
    assert not res.reproduced
    assert res.runs == 1
    assert "does not violate" in res.describe()


def test_run_budget_is_respected(broken: str) -> None:
    sc = get_scenario("linear")
    base = simulate(sc, 3, schedule=[], interleave=False, record_sites=True)
    assert base.sites is not None
    latency = [
        Fault(i, K.LATENCY, s, 3)
        for i, s in enumerate(base.sites, 1)
        if s == "artifacts.get" and i < 17
    ]
    faults = (*latency, Fault(17, K.CRASH_IN_HANDLER, "handler", 1))
    schedule = Schedule(3, sc.name, tuple(sorted(faults, key=lambda f: f.step)), True, False)
    res = shrink(sc, schedule, "attempt_envelopes", variant=broken, max_runs=4)
    assert res.runs <= 4 + 2
    assert res.exhausted
    assert any(v.invariant == "attempt_envelopes" for v in res.result.violations)


def test_cheaper_kinds() -> None:
    assert [f.kind for f in cheaper(Fault(5, K.CRASH_AFTER_EFFECT, "events.append"))] == [
        K.CRASH_BEFORE_EFFECT
    ]
    assert [(f.kind, f.arg) for f in cheaper(Fault(5, K.CRASH_MID_APPEND, "events.append", 2))] == [
        (K.CRASH_BEFORE_EFFECT, 0),
        (K.CRASH_MID_APPEND, 1),
    ]
    assert [(f.kind, f.arg) for f in cheaper(Fault(5, K.CRASH_IN_HANDLER, "handler", 1))] == [
        (K.CRASH_IN_HANDLER, 0)
    ]
    assert [f.kind for f in cheaper(Fault(5, K.AMBIGUOUS_ERROR, "artifacts.put"))] == [
        K.TRANSIENT_ERROR
    ]
    # The service site has no crash-before-effect: nothing cheaper than its crash.
    assert cheaper(Fault(5, K.CRASH_AFTER_EFFECT, "service")) == []
    assert cheaper(Fault(5, K.CRASH_BEFORE_EFFECT, "artifacts.get")) == []


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
def test_cheaper_follows_the_table(kind: FaultKind) -> None:
    spec = FAULTS[kind]
    for site in spec.sites:
        for arg in spec.args.values(size=4):
            got = cheaper(Fault(7, kind, site, arg))
            assert all(f.step == 7 and f.site == site for f in got)
            # The table's simplifications, simplest first: those the site can suffer, and of
            # the same kind only a smaller argument.
            assert [(f.kind, f.arg) for f in got] == [
                (k, a)
                for k, a in spec.simpler
                if k in SITE_KINDS[site] and (k is not kind or a < arg)
            ]
