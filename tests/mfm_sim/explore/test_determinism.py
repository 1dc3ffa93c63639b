"""The determinism self-check: across processes and hash seeds, and across simulations."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from mfm_scenarios import linear

from mfm_sim import Scenario, get_scenario
from mfm_sim.explore.determinism import check_determinism, first_difference, leak_check
from mfm_sim.run.scenario import ScenarioRun
from mfm_sim.world.rng import Rng

# ---- throwaway scenarios (module level, so a worker process can import their build functions)

_WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")


def build_set_order(rng: Rng) -> ScenarioRun:
    """Puts a set's iteration order into the initial context: it depends on PYTHONHASHSEED."""
    inst = linear.build(rng)
    return attrs.evolve(inst, initial_context={"order": list(set(_WORDS))}, model=None)


def build_wall_clock(rng: Rng) -> ScenarioRun:
    """Reads the wall clock into the initial context: different in every run."""
    inst = linear.build(rng)
    return attrs.evolve(inst, initial_context={"t": time.time_ns()}, model=None)


_COUNTER = itertools.count()


def build_leaky(rng: Rng) -> ScenarioRun:
    """A module-level counter survives from one simulation to the next."""
    inst = linear.build(rng)
    return attrs.evolve(inst, initial_context={"n": next(_COUNTER)}, model=None)


SET_ORDER = Scenario("test_set_order", "set iteration order in the context", build_set_order)
WALL_CLOCK = Scenario("test_wall_clock", "wall clock in the context", build_wall_clock)
LEAKY = Scenario("test_leaky", "module-level counter in the context", build_leaky)


# ---- tests


def test_builtin_scenarios_are_deterministic_across_processes() -> None:
    report = check_determinism([get_scenario("linear"), "diamond_io"], range(10), processes=2)
    assert report.ok, report.describe()
    assert report.checked == 20
    assert report.divergence is None
    assert "agree across 2 processes" in report.describe()


def test_hash_seed_dependence_is_reported_with_the_first_differing_entry(tmp_path: Path) -> None:
    report = check_determinism([SET_ORDER], range(3), processes=2, out_dir=tmp_path)
    assert not report.ok
    assert report.mismatches == 3
    div = report.divergence
    assert div is not None
    assert div.hash_seeds == ("0", "12345")
    assert div.index is not None and div.vt_ns is not None
    a, b = div.entries
    assert a is not None and b is not None and a != b
    assert a[0] == div.vt_ns  # the virtual time of the first differing entry
    assert div.trace_files is not None
    for name in div.trace_files:
        assert Path(name).parent == tmp_path and Path(name).exists()
    text = report.describe()
    assert "first difference at trace entry" in text and "virtual time" in text
    assert str(tmp_path) in text


def test_wall_clock_is_reported_as_divergent(tmp_path: Path) -> None:
    report = check_determinism([WALL_CLOCK], [1], processes=2, out_dir=tmp_path)
    assert not report.ok
    assert report.divergence is not None and report.divergence.index is not None


def test_leak_check_passes_normally_and_catches_leaking_state() -> None:
    ok = leak_check("linear", 1, 2)
    assert ok.ok, ok.describe()
    assert ok.digests[0] == ok.digests[1]
    assert leak_check(get_scenario("diamond_io"), 4, 5).ok
    bad = leak_check(LEAKY, 1, 2)
    assert not bad.ok
    assert bad.index is not None
    assert "leaks between simulations" in bad.describe()


def test_first_difference() -> None:
    a = [(0, 0, "x", "1"), (5, 0, "y", "2")]
    assert first_difference(a, list(a)) is None
    assert first_difference(a, [a[0], (5, 0, "y", "3")]) == (1, 5, (a[1], (5, 0, "y", "3")))
    assert first_difference(a, a[:1]) == (1, 5, (a[1], None))


def test_seeds_go_out_in_batches_and_are_never_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from mfm_sim.explore import determinism

    batches: list[int] = []
    real = determinism._run_many

    def counting(job: dict[str, Any], hash_seeds: Sequence[str]) -> list[dict[str, Any]]:
        batches.append(len(job["pairs"]))
        return real(job, hash_seeds)

    monkeypatch.setattr(determinism, "BATCH_PAIRS", 2)
    monkeypatch.setattr(determinism, "_run_many", counting)
    report = check_determinism([get_scenario("linear")], iter(range(5)))
    assert report.ok and report.checked == 5 and batches == [2, 2, 1]

    # An endless seed stream: the first batch diverges, and only that batch was drawn.
    batches.clear()
    endless = itertools.count()
    report = check_determinism([WALL_CLOCK], endless)
    assert not report.ok and report.checked == 2 and next(endless) == 2
    assert batches[0] == 2
