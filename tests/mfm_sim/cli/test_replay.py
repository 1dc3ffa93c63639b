"""`mfm-sim replay`: by seed or schedule file, timeline, HTML, shrink, regression test."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from mfm_sim.cli.main import cli
from tests.mfm_sim.cli.support import VARIANT, invoke, needs_variant


@pytest.mark.parametrize(
    "content",
    [None, "{not json", json.dumps({"format": "something else"}), json.dumps(
        {"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear",
         "faults": [{"step": 1, "kind": "meteor", "site": "x"}]}
    ), json.dumps({"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "no_such",
                   "faults": []})],
    ids=["missing", "not-json", "not-a-schedule", "bad-fault", "unknown-scenario"],
)  # fmt: skip
def test_bad_schedule_file_is_one_line_and_exit_2(content: str | None, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    res = CliRunner().invoke(cli, ["replay", "--schedule", str(path)], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert len(res.stderr.splitlines()) == 1 and res.stderr.startswith("mfm-sim: error: ")


def test_schedule_file_contradicting_seed_or_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps({"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear", "faults": []})
    )
    for extra in (["2"], ["--scenario", "retry_heavy"]):
        res = invoke(["replay", "--schedule", str(path), *extra])
        assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1


@needs_variant
def test_replay_timeline_html_and_emit_test(tmp_path: Path) -> None:
    html = tmp_path / "t.html"
    test_file = tmp_path / "test_regression.py"
    res = invoke(
        ["replay", "3", "--scenario", "linear", "--engine-variant", VARIANT, "--timeline",
         "--html", str(html), "--emit-test", str(test_file)]
    )  # fmt: skip
    assert res.exit_code == 1
    assert "FAIL" in res.stdout and "digest: " in res.stdout
    assert "timeline of linear seed 3" in res.stdout and "StateEntered" in res.stdout
    assert html.read_text().startswith("<!DOCTYPE html>")
    source = test_file.read_text()
    compile(source, str(test_file), "exec")
    assert "assert not result.violations" in source

    passing = invoke(["replay", "3", "--scenario", "linear"])
    assert passing.exit_code == 0 and "PASS" in passing.stdout


@needs_variant
def test_replay_shrink_writes_the_minimal_schedule(tmp_path: Path) -> None:
    pytest.importorskip("mfm_sim.explore.shrink")
    test_file = tmp_path / "test_min.py"
    res = invoke(
        ["replay", "3", "--scenario", "linear", "--engine-variant", VARIANT, "--shrink",
         "--out-dir", str(tmp_path), "--emit-test", str(test_file)]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    path = tmp_path / "linear-3.min.json"
    assert path.exists() and str(path) in res.stdout
    cmd = re.search(r"replay it with: (.*)$", res.stdout, flags=re.M)
    assert cmd is not None
    again = invoke(shlex.split(cmd.group(1))[1:])
    assert again.exit_code == 1
    assert "from the shrunk schedule" in test_file.read_text()


# ------------------------------------------------------------------------------ other commands
