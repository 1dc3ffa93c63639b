"""mfm_sim/invariants/content_cache.py: small keys kept, big keys never, a full cache emptied."""

from __future__ import annotations

from mfm_sim.invariants.content_cache import KEPT_SIZE, remember


def test_a_small_key_is_kept_and_a_big_one_is_not() -> None:
    cache: dict[bytes | str, int] = {}
    small, big = b"x" * KEPT_SIZE, "y" * (KEPT_SIZE + 1)
    remember(cache, small, 1, 10)
    remember(cache, big, 2, 10)
    assert cache == {small: 1}


def test_a_full_cache_is_emptied_before_the_next_key() -> None:
    cache: dict[bytes | str, int] = {}
    for i in range(3):
        remember(cache, str(i), i, 3)
    assert cache == {"0": 0, "1": 1, "2": 2}
    remember(cache, "3", 3, 3)
    assert cache == {"3": 3}


def test_a_big_key_leaves_a_full_cache_as_it_is() -> None:
    cache = {"a": 1, "b": 2}
    remember(cache, "z" * (KEPT_SIZE + 1), 3, 2)
    assert cache == {"a": 1, "b": 2}


def test_decoded_values_of_big_artifacts_are_decoded_not_kept() -> None:
    """The decoded-JSON cache keeps by the policy: a big artifact is decoded every time."""
    import json
    from types import SimpleNamespace

    from mfm_sim.invariants import attempt_spans

    big = json.dumps({"k": "x" * KEPT_SIZE}).encode()
    small = json.dumps({"k": "small"}).encode()
    obs = SimpleNamespace(pristine={"big": big, "small": small})
    assert attempt_spans.decoded(obs, "big") == {"k": "x" * KEPT_SIZE}  # type: ignore[arg-type]
    assert attempt_spans.decoded(obs, "small") == {"k": "small"}  # type: ignore[arg-type]
    assert big not in attempt_spans._values and small in attempt_spans._values
