"""Deliberately broken engine variants: each is caught, and each leaves the engine as it was."""

from __future__ import annotations

from typing import Any

import pytest
from mfm_engine.live_io import LiveIo
from mfm_engine.runtime import attempt as attempt_mod
from mfm_engine.runtime import child_runs as child_mod
from mfm_engine.runtime import engine as engine_mod
from mfm_engine.runtime.engine import DefaultExecutionEngine
from mfm_engine.runtime.writer import EventWriter

from mfm_sim import get_scenario, simulate
from mfm_sim.run.scenario import default_mix
from mfm_sim.selfcheck.variants import (
    VARIANTS,
    UnknownVariant,
    _Bugs,
    _patch_engine,
    variant_context,
)

REQUIRED = {
    "unfixed_orphan",
    "attempt_off_by_one",
    "retry_non_retryable",
    "backoff_ignored",
    "manifest_hash_unchecked",
    "rerun_completed",
    "fact_reexecuted",
    "run_completed_twice",
    "wrong_base_snapshot",
    "writer_ignores_expected_seq",
    "dropped_state_failed",
    "child_started_twice",
    "snapshot_unverified",
}

# The first seed of each variant's scenario that catches it (found by the bounded sweep below),
# and the invariant that names it there.
EXPECTED_CATCH: dict[str, tuple[str, int]] = {
    "unfixed_orphan": ("crash_loop", 0),
    "orphan_retry_unbounded": ("crash_loop", 3),
    "attempt_off_by_one": ("retry_heavy", 2),
    "retry_non_retryable": ("retry_heavy", 1),
    "backoff_ignored": ("crash_loop", 0),
    "manifest_hash_unchecked": ("child_runs", 178),
    "rerun_completed": ("crash_loop", 0),
    "fact_reexecuted": ("diamond_io", 3),
    "run_completed_twice": ("child_runs", 0),
    "wrong_base_snapshot": ("crash_loop", 0),
    "writer_ignores_expected_seq": ("retry_heavy", 18),
    "dropped_state_failed": ("retry_heavy", 0),
    "child_started_twice": ("child_runs", 1),
    "snapshot_unverified": ("random_dag", 10),
    "skip_tags_ignored": ("skip_tags", 0),
}
CAUGHT_BY: dict[str, str] = {
    "unfixed_orphan": "attempt_envelopes",
    "orphan_retry_unbounded": "monotone_attempts",
    "attempt_off_by_one": "monotone_attempts",
    "retry_non_retryable": "monotone_attempts",
    "backoff_ignored": "retry_timing",
    "manifest_hash_unchecked": "detected_not_silent",
    "rerun_completed": "monotone_attempts",
    "fact_reexecuted": "effects_at_most_once",
    "run_completed_twice": "exactly_once",
    "wrong_base_snapshot": "hash_integrity",
    "writer_ignores_expected_seq": "attempt_envelopes",
    "dropped_state_failed": "attempt_envelopes",
    "child_started_twice": "log_well_formed",
    "snapshot_unverified": "detected_not_silent",
    "skip_tags_ignored": "model_agreement",
}
# The scenario mix each variant's bounded sweep walks (seed by seed, every scenario of the mix).
SWEEP_MIX: dict[str, tuple[str, ...]] = {
    "manifest_hash_unchecked": ("child_runs",),  # only a child's manifest can be corrupted
}
SWEEP_BOUND = 2000

# Everything a variant may patch, read the way the engine reads it.
PATCHED: tuple[tuple[Any, str], ...] = (
    (DefaultExecutionEngine, "_resume"),
    (DefaultExecutionEngine, "_run_states"),
    (attempt_mod, "_execute"),
    (attempt_mod, "read_snapshot"),
    (child_mod, "read_snapshot"),
    (child_mod._ChildRunTransport, "_await"),
    (engine_mod, "read_manifest"),
    (engine_mod, "compute_backoff"),
    (EventWriter, "append"),
    (LiveIo, "call"),
)


def engine_attributes() -> list[Any]:
    return [vars(owner)[name] for owner, name in PATCHED]


def test_catalogue() -> None:
    assert set(VARIANTS) >= REQUIRED
    assert len(VARIANTS) >= 12
    assert set(EXPECTED_CATCH) == set(VARIANTS) == set(CAUGHT_BY)
    for name, variant in VARIANTS.items():
        assert variant.name == name and variant.description


def test_unknown_variant() -> None:
    with pytest.raises(UnknownVariant, match="unknown engine variant"), variant_context("nope"):
        pass


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_patches_and_restores(name: str) -> None:
    before = engine_attributes()
    with variant_context(name):
        during = engine_attributes()
    assert during != before, f"{name} patched nothing this test knows of"
    assert engine_attributes() == before


def test_variant_restores_after_an_exception() -> None:
    before = engine_attributes()
    with pytest.raises(RuntimeError), variant_context("unfixed_orphan"):
        raise RuntimeError("boom")
    assert engine_attributes() == before


@pytest.mark.parametrize("name", sorted(EXPECTED_CATCH))
def test_variant_is_caught(name: str) -> None:
    scenario_name, seed = EXPECTED_CATCH[name]
    scenario = get_scenario(scenario_name)
    broken = simulate(scenario, seed, variant=name)
    assert broken.violations, f"{name} not caught by {scenario_name} seed {seed}"
    assert CAUGHT_BY[name] in {v.invariant for v in broken.violations}
    # The same seed on the restored engine is clean: the variant left nothing behind.
    correct = simulate(scenario, seed)
    assert not correct.violations, [v.describe() for v in correct.violations]
    assert correct.digest != broken.digest or correct.violations != broken.violations


def _first_catch(name: str) -> tuple[str, int] | None:
    mix = [get_scenario(s) for s in SWEEP_MIX.get(name, ())] or default_mix()
    for seed in range(SWEEP_BOUND):
        for scenario in mix:
            if simulate(scenario, seed, variant=name).violations:
                return scenario.name, seed
    return None


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_bounded_sweep_catches_variant(name: str) -> None:
    found = _first_catch(name)
    assert found is not None, f"{name}: no violation in {SWEEP_BOUND} seeds of its mix"


@pytest.mark.parametrize("scenario_name", ["linear", "retry_heavy", "child_runs", "skip_tags"])
def test_bug_free_copies_match_the_engine(scenario_name: str) -> None:
    """The variants patch in copies of engine functions; with no bug switched on the copies must
    run exactly like the engine (same trace digest), or the engine has drifted from them."""
    scenario = get_scenario(scenario_name)
    for seed in range(15):
        want = simulate(scenario, seed).digest
        with _patch_engine(_Bugs(), resume=True, run_states=True, execute=True):
            got = simulate(scenario, seed).digest
        assert got == want, f"{scenario_name} seed {seed}: the variants' copies drifted"
