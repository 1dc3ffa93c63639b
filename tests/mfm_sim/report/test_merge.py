"""Merging disjoint sweep reports: seeds, disjointness, and each refusal."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from click.testing import CliRunner

from mfm_sim.cli.main import cli
from mfm_sim.explore.sweep import MAX_FAILURES
from mfm_sim.report import merge
from mfm_sim.report.merge import MergeError, Shard, merge_reports, seeds_of, shared_seed


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The two shards of a small real sweep, as `mfm-sim run --json` wrote them."""
    root = tmp_path_factory.mktemp("shards")
    out = []
    for i in (1, 2):
        path = root / f"s{i}.json"
        args = ["run", "--scenario", "linear,diamond_io", "--seeds", "6", "--shard", f"{i}/2"]
        args += ["--json", str(path), "--failures-dir", str(root / f"db{i}")]
        res = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        out.append(json.loads(path.read_text()))
    return out


def _merge(*reports: dict[str, Any]) -> dict[str, Any]:
    return merge_reports([Shard(f"r{i}.json", r) for i, r in enumerate(reports)])


def _failure(
    scenario: str, seed: int, *messages: tuple[str, str], source: str = "sweep", **more: Any
) -> dict[str, Any]:
    """A failure as a report keeps it, breaking the (invariant, message) pairs `messages`."""
    violations = [{"invariant": i, "run_id": None, "seqs": [], "message": m} for i, m in messages]
    return {
        "source": source,
        "scenario": scenario,
        "seed": seed,
        "invariant": messages[0][0] if messages else None,
        "message": messages[0][1] if messages else None,
        "violations": violations,
        "digest": f"d-{scenario}-{seed}",
        "virtual_ns": 1000 + seed,
        "store_calls": 10,
        "replay": f"mfm-sim replay {seed} --scenario {scenario}",
        "schedule_file": None,
    } | more


def _failing(report: dict[str, Any], failures: list[dict[str, Any]]) -> None:
    """`report` with these sweep failures (all of them kept and listed)."""
    report["failures"] = failures
    report["sweep_failing"] = report["failing"] = len(failures)
    report["ok"] = not failures
    seeds: dict[str, list[int]] = {}
    for f in failures:
        seeds.setdefault(f["scenario"], []).append(f["seed"])
    report["failing_seeds"] = seeds


def test_seed_specs_name_their_seeds() -> None:
    assert list(seeds_of("3..7")) == [3, 4, 5, 6, 7]
    assert list(seeds_of("shard 2/3 of 0..9")) == [1, 4, 7]
    for bad in ("0..x", "shard 4/3 of 0..9", "seeds 0..9"):
        with pytest.raises(ValueError):
            seeds_of(bad)


def test_shared_seed_agrees_with_sets() -> None:
    ranges = [range(a, b, s) for a in range(0, 7) for b in (a, a + 5, 40) for s in (1, 2, 3, 6)]
    for a in ranges:
        for b in ranges:
            both = sorted(set(a) & set(b))
            assert shared_seed(a, b) == (both[0] if both else None), (a, b)


def test_two_shards_merge_into_the_whole(shards: list[dict[str, Any]]) -> None:
    merged = _merge(*shards)
    assert merged["seeds"]["spec"] == "0..5"
    assert (merged["seeds"]["first"], merged["seeds"]["last"]) == (0, 5)
    assert merged["seeds"]["planned"] == merged["seeds"]["run"] == 6
    assert merged["schedules"] == 12 == sum(s["schedules"] for s in shards)
    assert merged["per_scenario"]["linear"]["schedules"] == 6
    assert merged["ok"] and merged["failures"] == []
    # Order does not matter.
    assert _merge(*reversed(shards)) | {"timing": None} == merged | {"timing": None}


def test_a_missing_shard_leaves_a_gap_in_the_spec(shards: list[dict[str, Any]]) -> None:
    assert _merge(shards[0])["seeds"]["spec"] == "shard 1/2 of 0..5"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("version", "0.0.1", "mfm-sim version"),
        ("python", "2.7.18", "Python version"),
        ("options", {"engine_variant": "x"}, "options"),
        ("scenarios", ["linear"], "scenarios"),
        ("format", "other/1", "not an mfm-sim run report"),
        ("new_field", 1, "field 'new_field' differs"),
    ],
)
def test_reports_that_do_not_fit_are_refused(
    shards: list[dict[str, Any]], field: str, value: Any, says: str
) -> None:
    other = copy.deepcopy(shards[1])
    other[field] = value
    with pytest.raises(MergeError, match=says) as err:
        _merge(shards[0], other)
    assert "\n" not in str(err.value) and str(err.value).startswith("r1.json: ")


def test_overlapping_reports_are_refused(shards: list[dict[str, Any]]) -> None:
    with pytest.raises(MergeError, match=r"seeds overlap r0.json's \(both ran seed 0\)"):
        _merge(shards[0], shards[0])


def test_a_broken_report_is_refused_not_a_crash(shards: list[dict[str, Any]]) -> None:
    other = copy.deepcopy(shards[1])
    del other["crashes"]
    with pytest.raises(MergeError, match="lacks a field"):
        _merge(shards[0], other)
    other = copy.deepcopy(shards[1])
    other["seeds"]["spec"] = "somewhere"
    with pytest.raises(MergeError, match="unreadable seeds"):
        _merge(shards[0], other)


def test_the_failure_database_s_replays_count_once(shards: list[dict[str, Any]]) -> None:
    a, b = copy.deepcopy(shards)
    replay = {"file": "db/linear-9.json", "fixed": False, "digest": "d"}
    failure = _failure(
        "linear", 9, ("x", "m"), source="failure-db", schedule_file="db/linear-9.json", digest="d"
    )
    for r in (a, b):
        r["failure_db"]["replayed"] = [replay]
        r["failures"] = [failure]
        r["failure_db_failing"] = r["failing"] = 1
    merged = _merge(a, b)
    assert merged["failure_db_failing"] == merged["failing"] == 1
    assert merged["failures"] == [failure] and not merged["ok"]
    assert [(g["count"], g["seeds"]) for g in merged["groups"]] == [(1, [["linear", 9]])]
    assert merged["failing_seeds"] == {} and merged["failing_seeds_omitted"] == 0


def test_failures_beyond_the_cap_keep_the_first_by_scenario_then_seed(
    shards: list[dict[str, Any]],
) -> None:
    a, b = copy.deepcopy(shards)
    for r, seeds in ((a, range(0, 6, 2)), (b, range(1, 6, 2))):
        # Each shard kept all of its failures (fewer than the cap); together they exceed it.
        r["failures"] = [
            _failure(sc, seed, ("x", "m"), n=n)
            for sc in ("diamond_io", "linear")
            for seed in seeds
            for n in range(20)
        ]
        r["sweep_failing"] = r["failing"] = len(r["failures"])
    merged = _merge(b, a)
    kept = merged["failures"]
    assert len(kept) == MAX_FAILURES and merged["failing"] == 240
    assert merged["failures_omitted"] == 140
    # The report's scenario order (linear before diamond_io), then the seed.
    assert [(f["scenario"], f["seed"]) for f in kept[::20]] == [
        ("linear", 0),
        ("linear", 1),
        ("linear", 2),
        ("linear", 3),
        ("linear", 4),
    ]


def test_failing_seeds_merge_per_scenario_in_seed_order_up_to_the_cap(
    shards: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = copy.deepcopy(shards)
    _failing(a, [_failure(sc, s, ("x", "m")) for sc in ("linear", "diamond_io") for s in (0, 4)])
    _failing(b, [_failure(sc, s, ("x", "m")) for sc in ("diamond_io",) for s in (1, 3, 5)])
    merged = _merge(b, a)
    assert merged["failing_seeds"] == {"linear": [0, 4], "diamond_io": [0, 1, 3, 4, 5]}
    assert list(merged["failing_seeds"]) == ["linear", "diamond_io"]  # the report's order
    assert merged["failing_seeds_omitted"] == 0
    # A sweep lists its first MAX_LISTED_SEEDS by (scenario, seed); a shard did the same, so
    # the first ones of the union are among those the shards listed.
    monkeypatch.setattr(merge, "MAX_LISTED_SEEDS", 4)
    merged = _merge(a, b)
    assert merged["failing_seeds"] == {"linear": [0, 4], "diamond_io": [0, 1]}
    assert merged["failing_seeds_omitted"] == 3


def test_groups_are_recomputed_from_the_merged_failures(shards: list[dict[str, Any]]) -> None:
    a, b = copy.deepcopy(shards)
    # Alone, shard a's one failure groups under its smaller signature (x); merged, all three
    # share y (the numbers normalised away), which then covers them all: one group, ordered
    # by virtual time, then store calls, then seed, across the shards.
    _failing(a, [_failure("linear", 2, ("x", "attempt 1 open"), ("y", "seq 4 lost"))])
    _failing(
        b,
        [
            _failure("linear", 1, ("y", "seq 7 lost"), virtual_ns=5000),
            _failure("diamond_io", 3, ("y", "seq 9 lost"), virtual_ns=10),
        ],
    )
    assert [g["invariant"] for g in _merge(a)["groups"]] == ["x"]
    merged = _merge(b, a)
    assert merged["groups"] == [
        {
            "invariant": "y",
            "message": "seq N lost",
            "count": 3,
            "replay": "mfm-sim replay 3 --scenario diamond_io",
            "digest": "d-diamond_io-3",
            "seeds": [["diamond_io", 3], ["linear", 2], ["linear", 1]],
        }
    ]


def test_a_partial_shard_makes_the_merge_partial(shards: list[dict[str, Any]]) -> None:
    a, b = copy.deepcopy(shards)
    assert not _merge(a, b)["partial"] and _merge(a, b)["partial_reason"] is None
    b["partial"], b["partial_reason"] = True, "interrupted by SIGINT"
    b["seeds"] |= {"interrupted_by": "SIGINT", "worker_deaths": 1}
    b["seeds"]["not_run"] = [{"seeds": [5], "reason": "interrupted by SIGINT"}]
    merged = _merge(a, b)
    assert merged["partial"] and merged["partial_reason"] == "interrupted by SIGINT"
    assert merged["seeds"]["interrupted_by"] == "SIGINT"
    assert merged["seeds"]["not_run"] == b["seeds"]["not_run"]
    assert merged["seeds"]["worker_deaths"] == 1
    a["partial"], a["partial_reason"] = True, "1 seeds not run: their worker process kept dying"
    a["seeds"]["not_run"] = [{"seeds": [2], "reason": "its worker died 3 times"}]
    a["seeds"]["worker_deaths"] = 3
    merged = _merge(b, a)
    assert merged["partial_reason"] == (
        "interrupted by SIGINT; 1 seeds not run: their worker process kept dying"
    )
    assert [u["seeds"] for u in merged["seeds"]["not_run"]] == [[2], [5]]  # seed order
    assert merged["seeds"]["worker_deaths"] == 4


def test_an_unknown_seeds_field_that_differs_is_refused(shards: list[dict[str, Any]]) -> None:
    other = copy.deepcopy(shards[1])
    other["seeds"]["new_field"] = 1
    with pytest.raises(MergeError, match=r"^r1.json: field 'seeds.new_field' differs"):
        _merge(shards[0], other)


def test_shards_of_the_whole_u64_range_merge(shards: list[dict[str, Any]]) -> None:
    a, b = copy.deepcopy(shards)
    for i, r in enumerate((a, b), 1):
        r["seeds"] |= {"spec": f"shard {i}/2 of 0..18446744073709551615", "planned": 2**63}
    merged = _merge(b, a)
    assert merged["seeds"]["spec"] == "0..18446744073709551615"
    assert merged["seeds"]["planned"] == 2**64
    b["seeds"]["spec"] = "18446744073709551614..18446744073709551615"
    with pytest.raises(MergeError, match=r"both ran seed 18446744073709551614"):
        _merge(a, b)
