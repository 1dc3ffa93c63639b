"""mfm_sim.run.knobs: run-config knobs drawn from the seed (FoundationDB-style)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mfm_engine.config import EventProfile, Exponential, Fixed, IoMode, RunConfig

from mfm_sim.run.knobs import PROFILES, draw_run_config
from mfm_sim.world.rng import Rng

SEEDS = range(300)


def test_same_rng_same_config() -> None:
    for seed in range(20):
        assert draw_run_config(Rng(seed)) == draw_run_config(Rng(seed))


def test_attempts_within_bounds_and_all_reached() -> None:
    seen = {draw_run_config(Rng(s)).retry_policy.max_attempts for s in SEEDS}
    assert seen == {1, 2, 3, 4, 5}
    seen = {
        draw_run_config(Rng(s), min_attempts=2, max_attempts=3).retry_policy.max_attempts
        for s in SEEDS
    }
    assert seen == {2, 3}


def test_backoff_kinds_and_delays() -> None:
    fixed, exponential = set(), set()
    for s in SEEDS:
        backoff = draw_run_config(Rng(s)).retry_policy.backoff
        if isinstance(backoff, Fixed):
            fixed.add(backoff.delay)
        else:
            assert isinstance(backoff, Exponential)
            assert backoff.base_delay <= backoff.max_delay
            assert backoff.max_delay // backoff.base_delay in (1, 4, 64)
            exponential.add(backoff.base_delay)
    assert fixed == {timedelta(milliseconds=m) for m in (0, 10, 250, 2000)}
    assert exponential == {timedelta(milliseconds=m) for m in (1, 10, 100, 1000)}


def test_event_profiles_all_drawn() -> None:
    assert set(PROFILES) == {EventProfile.MINIMAL, EventProfile.NORMAL, EventProfile.VERBOSE}
    assert {draw_run_config(Rng(s)).event_profile for s in SEEDS} == set(PROFILES)


def test_io_mode_and_skip_tags_pass_through() -> None:
    cfg = draw_run_config(Rng(3), io_mode=IoMode.REPLAY, skip_tags=["slow", "net"])
    assert isinstance(cfg, RunConfig)
    assert cfg.io_mode is IoMode.REPLAY
    assert cfg.skip_tags == ("slow", "net")
    # The passthrough arguments draw nothing: the knobs are those of the same seed.
    plain = draw_run_config(Rng(3))
    assert cfg.retry_policy == plain.retry_policy
    assert cfg.event_profile is plain.event_profile


def test_configs_are_canonical_manifest_material() -> None:
    from mfm_engine.hashing import artifact_id_for_json

    for s in range(50):
        artifact_id_for_json(draw_run_config(Rng(s)).to_json())  # no floats, no secrets


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        draw_run_config(Rng(0), min_attempts=4, max_attempts=2)
