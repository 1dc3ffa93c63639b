"""The initial context built through JsonContext's API: the same object as the mapping, in
about half the schedules, and an engine whose JsonContext loses a write is caught."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mfm_engine.context import JsonContext

from mfm_sim import get_scenario, simulate
from mfm_sim.run.user_context import initial_context
from mfm_sim.selfcheck.patch import Edit, FunctionPatch, patched
from mfm_sim.world.rng import Streams

INITIAL = {"seeded": 3, "base": {"n": 1, "w": "alpha"}, "list": [1, 2]}


def test_either_form_is_the_same_object() -> None:
    forms = [initial_context(Streams(seed), INITIAL) for seed in range(40)]
    built = [f for f in forms if isinstance(f, JsonContext)]
    plain = [f for f in forms if not isinstance(f, JsonContext)]
    assert 8 <= len(built) <= 32 and plain  # about half each
    assert all(f.dump() == INITIAL for f in built)
    assert all(f == INITIAL for f in plain)


@pytest.fixture
def write_loses_value() -> Iterator[None]:
    bug = FunctionPatch(
        "mfm_engine.context",
        "JsonContext.write",
        (Edit("self._data[key] = value", "self._data[key] = None"),),
    )
    with patched("json_context_write_loses_value", (bug,)):
        yield


def test_a_json_context_that_loses_writes_is_caught(write_loses_value: None) -> None:
    scenario = get_scenario("generated")
    found = []
    for seed in range(40):  # seed 24 first since the inspect_kinds and storage_retry draws
        found += [v.invariant for v in simulate(scenario, seed, keep_trace=False).violations]
        if found:
            break
    assert found, "no seed of 40 caught a JsonContext that loses its writes"
