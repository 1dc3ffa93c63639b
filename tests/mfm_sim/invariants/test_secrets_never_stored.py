"""secrets_never_stored: nothing stored holds a secret; secret events and facts are refused."""

from __future__ import annotations

import json

import attrs

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.secret_words import string_is_secret, value_has_secret
from tests.mfm_sim.invariants.promise_plans import (
    caught,
    clean,
    detailed_error,
    secret_event,
)
from tests.mfm_sim.invariants.support import fired

NAME = "secrets_never_stored"


def test_detector_follows_engine_md() -> None:
    assert string_is_secret("my PASSWORD")
    assert string_is_secret("Bearer abc")
    assert not string_is_secret("bearer")  # the marker has its space
    assert string_is_secret(" ".join(["abandon"] * 12))
    assert not string_is_secret(" ".join(["abandon"] * 11))
    assert not string_is_secret(" ".join(["Abandon"] * 12))
    assert value_has_secret({"nested": [{"api_key": 1}]})
    assert not value_has_secret({"n": 12, "b": True})


def test_correct_runs_pass() -> None:
    obs = simulate(get_scenario("linear"), 1, keep_observation=True).observation
    assert fired(obs, NAME) == []
    clean(secret_event())
    clean(detailed_error())


def test_a_stored_secret_fires() -> None:
    obs = simulate(get_scenario("linear"), 1, keep_observation=True).observation
    data = json.dumps({"password": "x"}).encode()
    broken = attrs.evolve(obs, pristine={**obs.pristine, "ab" * 32: data})
    found = fired(broken, NAME)
    assert [v.message for v in found] == [f"artifact {'ab' * 6} holds a secret"]


def test_an_accepted_secret_event_fires() -> None:
    found = caught(secret_event(), "secret_event_accepted", NAME)
    messages = " | ".join(v.message for v in found)
    assert "domain event 'audit' holds a secret" in messages
    assert "holding a secret was accepted" in messages


def test_unredacted_error_fires() -> None:
    found = caught(detailed_error(), "error_details_kept", NAME)
    messages = {v.message for v in found if v.invariant == NAME}
    assert "StateFailed kept the error's details" in messages
    assert "StateFailed's message holds a secret" in messages


def test_verdicts_of_big_blobs_and_texts_are_judged_not_kept() -> None:
    """The verdict caches hold their keys whole, so only small ones are kept: a sweep of big
    snapshots (`edge_values`) must not grow memory with them, and each is still judged."""
    from mfm_sim.invariants import secret_words
    from mfm_sim.invariants.content_cache import KEPT_SIZE
    from mfm_sim.invariants.spec import secrets

    filler = "x" * KEPT_SIZE
    for secret in (False, True):
        blob = json.dumps({"k": filler, "v": "api_key" if secret else "plain"}).encode()
        assert secret_words.json_has_secret(blob) is secret
        assert blob not in secret_words._blobs
    small = json.dumps({"v": "plain"}).encode()
    assert secret_words.json_has_secret(small) is False and small in secret_words._blobs
    text = "y" * (KEPT_SIZE + 1) + " password"
    assert secrets.text_has_secret(text) is True and text not in secrets.VERDICTS
