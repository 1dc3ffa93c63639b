"""Backoff, run configuration and the manifest: behaviour and stable JSON forms."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.config import (
    BuildProvenance,
    EventProfile,
    ExecutionMode,
    Exponential,
    FanOutJoin,
    Fixed,
    IoMode,
    RetryPolicy,
    RunConfig,
    RunManifest,
    backoff_from_json,
    compute_backoff,
)
from mfm_engine.hashing import artifact_id_for_json, canonical_json_bytes

ms = timedelta(milliseconds=1)

# ---------------------------------------------------------------------------- backoff


@pytest.mark.parametrize("attempt", [0, 1, 2, 10, 31, 32, 1000])
def test_fixed_backoff_is_constant(attempt: int) -> None:
    assert compute_backoff(Fixed(), attempt) == timedelta(0)
    assert compute_backoff(Fixed(250 * ms), attempt) == 250 * ms


@pytest.mark.parametrize(
    ("attempt", "expected_ms"),
    [(0, 100), (1, 200), (2, 400), (3, 800), (6, 6400), (7, 10_000), (31, 10_000), (500, 10_000)],
)
def test_exponential_backoff_vectors(attempt: int, expected_ms: int) -> None:
    policy = Exponential(100 * ms, 10_000 * ms)
    assert compute_backoff(policy, attempt) == expected_ms * ms


def test_exponential_shift_is_capped_at_31() -> None:
    policy = Exponential(1 * ms, timedelta(days=365 * 100))
    assert compute_backoff(policy, 31) == (1 << 31) * ms
    assert compute_backoff(policy, 32) == (1 << 31) * ms
    assert compute_backoff(policy, 10**6) == (1 << 31) * ms


def test_exponential_base_above_max_gives_max() -> None:
    assert compute_backoff(Exponential(5 * ms, 3 * ms), 0) == 3 * ms
    assert compute_backoff(Exponential(timedelta(0), 3 * ms), 9) == timedelta(0)


def test_exponential_saturates_instead_of_overflowing() -> None:
    policy = Exponential(timedelta(days=1), timedelta(days=2))
    assert compute_backoff(policy, 40) == timedelta(days=2)


_delays = st.integers(min_value=0, max_value=10**9).map(lambda n: n * ms)
_big_delays = st.integers(min_value=0, max_value=10**6).map(lambda n: timedelta(seconds=n))


@settings(max_examples=200, deadline=None)
@given(_delays | _big_delays, _delays | _big_delays, st.integers(min_value=0, max_value=200))
def test_exponential_never_exceeds_max_and_is_monotone(
    base: timedelta, cap: timedelta, attempt: int
) -> None:
    policy = Exponential(base, cap)
    now = compute_backoff(policy, attempt)
    after = compute_backoff(policy, attempt + 1)
    assert timedelta(0) <= now <= cap
    assert now <= after
    if base <= cap:
        assert now >= min(base, cap)


# ----------------------------------------------------------------------- JSON forms

_backoffs = st.builds(Fixed, _delays) | st.builds(Exponential, _delays, _delays)
_tags = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), max_size=4)
_configs = st.builds(
    RunConfig,
    io_mode=st.sampled_from(IoMode),
    retry_policy=st.builds(RetryPolicy, st.integers(min_value=1, max_value=20), _backoffs),
    event_profile=st.sampled_from(EventProfile),
    execution_mode=st.sampled_from([ExecutionMode.SEQUENTIAL])
    | st.builds(FanOutJoin, st.integers(min_value=1, max_value=64)),
    skip_tags=_tags,
    replay_missing_fact_retryable=st.booleans(),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="abcxyz 01é", max_size=6),
    lambda c: (
        st.lists(c, max_size=3) | st.dictionaries(st.text("abxyz", max_size=4), c, max_size=3)
    ),
    max_leaves=10,
)
_opt_text = st.none() | st.text(alphabet="0123456789abcdef", min_size=1, max_size=12)
_builds = st.builds(BuildProvenance, _opt_text, _opt_text, _opt_text, _opt_text, _opt_text, _tags)
_manifests = st.builds(
    RunManifest,
    op_id=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    op_version=st.text(alphabet="0123456789.", min_size=1, max_size=8),
    input_params=_json,
    run_config=_configs,
    build=_builds,
)


@settings(max_examples=100, deadline=None)
@given(_configs)
def test_run_config_json_round_trip(config: RunConfig) -> None:
    assert RunConfig.from_json(config.to_json()) == config
    through_text = json.loads(json.dumps(config.to_json()))
    assert RunConfig.from_json(through_text) == config


@settings(max_examples=100, deadline=None)
@given(_manifests)
def test_run_manifest_json_round_trip_and_stable_id(manifest: RunManifest) -> None:
    value = manifest.to_json()
    again = RunManifest.from_json(json.loads(canonical_json_bytes(value)))
    assert again == manifest
    assert artifact_id_for_json(again.to_json()) == artifact_id_for_json(value)


@settings(max_examples=50, deadline=None)
@given(_backoffs)
def test_backoff_json_round_trip(backoff: Fixed | Exponential) -> None:
    assert backoff_from_json(backoff.to_json()) == backoff


def test_backoff_json_form() -> None:
    assert Fixed(250 * ms).to_json() == {"kind": "fixed", "delay_ms": 250}
    assert Exponential(ms, 2 * ms).to_json() == {
        "kind": "exponential",
        "base_delay_ms": 1,
        "max_delay_ms": 2,
    }
    with pytest.raises(ValueError):
        backoff_from_json({"kind": "linear"})


def test_defaults() -> None:
    config = RunConfig()
    assert config.io_mode is IoMode.LIVE
    assert config.retry_policy == RetryPolicy(3, Fixed(timedelta(0)))
    assert config.execution_mode is ExecutionMode.SEQUENTIAL
    assert config.skip_tags == ()
    assert RunConfig(skip_tags=["a", "b"]).skip_tags == ("a", "b")
    assert RunConfig.from_json({**config.to_json(), "skip_tags": ["x"]}).skip_tags == ("x",)


MANIFEST_JSON = (
    '{"build":{"cargo_lock_hash":null,"env_allowlist":[],"flake_lock_hash":null,'
    '"git_commit":null,"rustc_version":null,"target_triple":null},'
    '"input_params":{"amount":5,"to":"x"},"op_id":"swap","op_version":"1.0.0",'
    '"run_config":{"event_profile":"normal","execution_mode":{"kind":"sequential"},'
    '"io_mode":"live","replay_missing_fact_retryable":false,'
    '"retry_policy":{"backoff":{"delay_ms":0,"kind":"fixed"},"max_attempts":3},"skip_tags":[]}}'
)
MANIFEST_ID = "5f4263b2881c178d1a3b9d286e60142b24ad620cbb7f7e160a35f9c69d560779"


def test_manifest_canonical_form_and_id_are_pinned() -> None:
    manifest = RunManifest("swap", "1.0.0", {"to": "x", "amount": 5}, RunConfig())
    assert canonical_json_bytes(manifest.to_json()).decode() == MANIFEST_JSON
    assert artifact_id_for_json(manifest.to_json()) == MANIFEST_ID
    # Independent of how input params were built.
    other = RunManifest("swap", "1.0.0", {"amount": 5, "to": "x"}, RunConfig())
    assert artifact_id_for_json(other.to_json()) == MANIFEST_ID
    changed = RunManifest("swap", "1.0.0", {"amount": 6, "to": "x"}, RunConfig())
    assert artifact_id_for_json(changed.to_json()) != MANIFEST_ID
    minimal = RunManifest(
        "swap", "1.0.0", {"amount": 5, "to": "x"}, RunConfig(event_profile=EventProfile.MINIMAL)
    )
    assert artifact_id_for_json(minimal.to_json()) != MANIFEST_ID


@pytest.mark.parametrize(
    ("field", "bad"),
    [("io_mode", "sometimes"), ("event_profile", ["verbose"]), ("io_mode", None)],
)
def test_an_unknown_enum_value_gets_the_enums_own_error(field: str, bad: object) -> None:
    value = RunConfig().to_json()
    value[field] = bad
    enum_type = IoMode if field == "io_mode" else EventProfile
    with pytest.raises(ValueError) as got:
        RunConfig.from_json(value)
    with pytest.raises(ValueError) as want:
        enum_type(bad)
    assert str(got.value) == str(want.value)


def test_unknown_execution_mode_kind_is_refused() -> None:
    value = RunConfig().to_json()
    value["execution_mode"] = {"kind": "parallel"}
    with pytest.raises(ValueError, match="is not a valid ExecutionMode"):
        RunConfig.from_json(value)
