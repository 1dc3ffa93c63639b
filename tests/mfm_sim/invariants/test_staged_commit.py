"""staged_commit: a completed snapshot is the base with the attempt's writes and deletes."""

from __future__ import annotations

import attrs

from mfm_sim import get_scenario, simulate
from tests.mfm_sim.invariants.promise_plans import caught, clean, deleting
from tests.mfm_sim.invariants.support import fired

NAME = "staged_commit"


def test_correct_runs_pass() -> None:
    obs = simulate(get_scenario("random_dag"), 3, keep_observation=True).observation
    assert fired(obs, NAME) == []
    clean(deleting())


def test_a_write_missing_from_the_snapshot_fires() -> None:
    obs = simulate(get_scenario("linear"), 1, keep_observation=True).observation
    entry = next(e for e in obs.handler_journal if e.ended == "ok")
    bad = attrs.evolve(entry, ops=(*entry.ops, ("write", "never_stored", 1)))
    journal = tuple(bad if e is entry else e for e in obs.handler_journal)
    found = fired(attrs.evolve(obs, handler_journal=journal), NAME)
    assert len(found) == 1 and "writes missing: ['never_stored']" in found[0].message


def test_a_dropped_delete_fires() -> None:
    found = caught(deleting(), "staged_delete_dropped", NAME)
    assert any("never written: ['a']" in v.message for v in found)


def test_strict_equal_compares_arrays_of_one_scalar_type_by_json_rules() -> None:
    # The C fast path for arrays whose items are all of one exact scalar type must agree with
    # the item-by-item walk: lists and tuples are both arrays, bool is not a number, and a
    # float array (NaN is not equal to itself) takes the walk.
    from mfm_sim.invariants.attempt_spans import strict_equal

    assert strict_equal(["a", "b"], ["a", "b"])
    assert strict_equal(["a", "b"], ("a", "b"))
    assert not strict_equal(["a", "b"], ["a", "c"])
    assert not strict_equal([1, 2], [True, 2])
    assert not strict_equal([True], [1])
    assert not strict_equal([1], [1.0])
    assert strict_equal([], ())
    nan = float("nan")
    assert not strict_equal([nan], [nan])
    assert strict_equal({"p": ["x", "y"], "n": 1}, {"n": 1, "p": ("x", "y")})
    # Past 16 items an array of one exact scalar type is compared in C: the same rules.
    long = [f"s{i}" for i in range(20)]
    assert strict_equal(long, tuple(long))
    assert not strict_equal(long, [*long[:-1], "other"])
    assert not strict_equal([1] * 20, [*([1] * 19), True])
    assert not strict_equal([1] * 20, [*([1] * 19), 1.0])
    assert not strict_equal([nan] * 20, [nan] * 20)
    assert strict_equal([[1, "a"]] * 20, [(1, "a")] * 20)
