"""`mfm-sim merge`: shards of a sweep merge into the report of the whole sweep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.mfm_sim.cli.support import VARIANT, invoke, needs_variant

RUN = ["run", "--scenario", "linear,child_runs,retry_heavy", "--seeds", "15"]


def _report(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    data.pop("timing")
    return data


def _run_in(here: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Path:
    # Each run in a directory of its own with the same relative failure database: what the
    # machines of a CI matrix, each with its checkout, write.
    here.mkdir()
    monkeypatch.chdir(here)
    out = here / "r.json"
    res = invoke([*RUN, *args, "--engine-variant", VARIANT, "--json", str(out)])
    assert res.exit_code == 1, res.output
    return out


@needs_variant
def test_three_shards_merge_into_the_single_machine_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _run_in(tmp_path / "whole", monkeypatch)
    parts = [_run_in(tmp_path / f"s{i}", monkeypatch, "--shard", f"{i}/3") for i in (3, 1, 2)]
    merged = tmp_path / "merged.json"
    res = invoke(["merge", *map(str, parts), "--json", str(merged)])
    assert res.exit_code == 1, res.output  # the merged sweep failed, as the whole one did
    expected = _report(whole)
    # A failing sweep: the failures, their groups and the failing seeds are all exercised.
    assert expected["failing"] and expected["groups"] and not expected["partial"]
    listed = sum(len(seeds) for seeds in expected["failing_seeds"].values())
    assert listed == expected["sweep_failing"] and len(expected["failing_seeds"]) == 3
    assert _report(merged) == expected  # every field but timing
    assert "merged 3 reports: seeds 0..14 (15 of 15 run)" in res.output


@needs_variant
def test_overlapping_or_mismatched_reports_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _run_in(tmp_path / "a", monkeypatch, "--shard", "1/2")
    res = invoke(["merge", str(a), str(a)])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "seeds overlap" in res.output
    other = json.loads(a.read_text()) | {"version": "0.0.1"}
    b = tmp_path / "b.json"
    b.write_text(json.dumps(other))
    res = invoke(["merge", str(a), str(b)])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "mfm-sim version '0.0.1' differ" in res.output


def test_a_partial_shard_makes_the_merge_partial(tmp_path: Path) -> None:
    parts = []
    for i in (1, 2):
        path = tmp_path / f"s{i}.json"
        args = ["run", "--scenario", "linear", "--seeds", "4", "--shard", f"{i}/2"]
        res = invoke([*args, "--json", str(path), "--failures-dir", str(tmp_path / "db")])
        assert res.exit_code == 0, res.output
        parts.append(path)
    res = invoke(["merge", *map(str, parts)])
    assert res.exit_code == 0 and "ok: 4 schedules" in res.output, res.output
    data = json.loads(parts[1].read_text())
    data |= {"partial": True, "partial_reason": "interrupted by SIGTERM"}
    data["seeds"]["interrupted_by"] = "SIGTERM"
    parts[1].write_text(json.dumps(data))
    merged = tmp_path / "merged.json"
    res = invoke(["merge", *map(str, parts), "--json", str(merged)])
    # Nothing failed, but a shard did not run all its seeds: no verdict, as `run`'s.
    assert res.exit_code == 3, res.output
    assert "PARTIAL: interrupted by SIGTERM" in res.output and "ok:" not in res.output
    report = json.loads(merged.read_text())
    assert report["partial"] and report["seeds"]["interrupted_by"] == "SIGTERM"


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "cannot read"), ("{not json", "is not JSON"), ("[1, 2]", "not an mfm-sim run report")],
)
def test_unreadable_reports_are_one_line(tmp_path: Path, content: str | None, says: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    res = invoke(["merge", str(path)])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert says in res.output and "Traceback" not in res.output


def test_merge_needs_a_report() -> None:
    res = invoke(["merge"])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
