"""Mistaken starts with an unhashable manifest: drawn, refused as predicted, judged."""

from __future__ import annotations

import pytest
from mfm_engine.config import RunManifest
from mfm_scenarios.manifest_mistakes import (
    FOREIGN_RUN,
    LOG_MANIFESTS,
    MANIFEST_MISTAKES,
    NOT_A_MANIFEST,
    draw_log_manifest_mistake,
    draw_manifest_mistake,
)

from mfm_sim import get_scenario, simulate
from mfm_sim.selfcheck.patch import Edit, FunctionPatch, patched
from mfm_sim.world.rng import Rng
from tests.mfm_sim.logs import config

GENERATED = get_scenario("generated")
MANIFEST = RunManifest("gen", "1", {"n": 1}, config())


def _seed_with(name: str) -> int:
    """The first generated seed whose operator makes mistake `name`."""
    for seed in range(200):
        result = simulate(GENERATED, seed, keep_observation=True)
        assert result.observation is not None
        if any(c.name == name for c in result.observation.operator_calls):
            return seed
    raise AssertionError(f"no generated seed below 200 makes {name}")


def test_a_draw_is_a_start_that_stores_nothing() -> None:
    drawn = [draw_manifest_mistake(Rng(seed, "t"), MANIFEST) for seed in range(40)]
    made = [d for d in drawn if d is not None]
    assert 0 < len(made) < len(drawn)  # swarm-style: on for some seeds, off for others
    assert {call.name for call, _ in made} == set(MANIFEST_MISTAKES)
    for call, (kind, code) in made:
        assert call.call == "start" and not call.store_manifest
        assert call.manifest is not None
        assert call.manifest.input_params == MANIFEST_MISTAKES[call.name][0]
        assert (kind, code) == ("invalid_plan", MANIFEST_MISTAKES[call.name][1])


@pytest.mark.parametrize("name", sorted(MANIFEST_MISTAKES))
def test_the_engine_refuses_as_predicted(name: str) -> None:
    result = simulate(GENERATED, _seed_with(name), keep_observation=True)
    assert not result.violations
    assert result.observation is not None
    (call,) = [c for c in result.observation.operator_calls if c.name == name]
    assert (call.error_kind, call.error_code) == ("invalid_plan", MANIFEST_MISTAKES[name][1])
    assert not call.wrote


# A start that hashes a manifest with a float as if it were a mismatched id.
FLOAT_AS_MISMATCH = FunctionPatch(
    "mfm_engine.runtime.engine",
    "validate_start_run_contract",
    (
        Edit(
            """
            raise invalid_plan(
                "manifest_not_canonical",
                "run manifest is not canonical-json-hashable (floats are forbidden)",
            ) from None
            """,
            'raise invalid_plan("manifest_id_mismatch", "a float") from None  # the bug',
        ),
    ),
)


def test_a_wrong_refusal_code_is_caught_by_model_agreement() -> None:
    seed = _seed_with("manifest_float")
    with patched("float_as_mismatch", (FLOAT_AS_MISMATCH,)):
        broken = simulate(GENERATED, seed)
    messages = [v.message for v in broken.violations if v.invariant == "model_agreement"]
    assert messages == [
        "operator start 'manifest_float': expected invalid_plan manifest_not_canonical, "
        "got invalid_plan manifest_id_mismatch"
    ]


def test_a_log_manifest_draw_is_a_resume_of_the_planted_run() -> None:
    drawn = [draw_log_manifest_mistake(Rng(seed, "t")) for seed in range(40)]
    made = [d for d in drawn if d is not None]
    assert 0 < len(made) < len(drawn)
    assert {call.log_manifest for call, _ in made if isinstance(call.log_manifest, str)} <= {
        v for v in LOG_MANIFESTS if isinstance(v, str)
    }
    for call, refusal in made:
        assert (call.name, call.call, call.run_id) == (NOT_A_MANIFEST, "resume", FOREIGN_RUN)
        assert call.log_manifest in LOG_MANIFESTS
        assert refusal == ("context", "manifest_deserialize_failed")


def test_the_planted_run_is_refused_and_taken_away() -> None:
    seed = _seed_with(NOT_A_MANIFEST)
    result = simulate(GENERATED, seed, keep_observation=True)
    assert not result.violations
    obs = result.observation
    assert obs is not None
    (call,) = [c for c in obs.operator_calls if c.name == NOT_A_MANIFEST]
    assert (call.error_kind, call.error_code) == ("context", "manifest_deserialize_failed")
    assert not call.wrote
    assert FOREIGN_RUN not in obs.runs  # the planted log is gone again


# A resume that reports a manifest that is no manifest as corrupt bytes.
NOT_A_MANIFEST_AS_CORRUPT = FunctionPatch(
    "mfm_engine.runtime.engine",
    "read_manifest",
    (
        Edit(
            """
            raise context(
                ContextErrorKind.SERIALIZATION,
                "manifest_deserialize_failed",
                "failed to deserialize manifest",
            ) from None
            """,
            'raise corruption(MANIFEST_CORRUPT, "not a manifest") from None  # the bug',
        ),
    ),
)


def test_a_wrong_refusal_of_a_planted_log_is_caught_by_model_agreement() -> None:
    seed = _seed_with(NOT_A_MANIFEST)
    with patched("not_a_manifest_as_corrupt", (NOT_A_MANIFEST_AS_CORRUPT,)):
        broken = simulate(GENERATED, seed)
    messages = [v.message for v in broken.violations if v.invariant == "model_agreement"]
    assert (
        f"operator resume '{NOT_A_MANIFEST}': expected context manifest_deserialize_failed, "
        "got storage manifest_corrupt" in messages
    )
