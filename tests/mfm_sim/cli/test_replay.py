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


# ---------------------------------------------------------- a schedule file's recorded options


def _saved_failure(tmp_path: Path) -> Path:
    """A failure-database file recorded under the variant (seed 3 of linear fails there)."""
    res = invoke(
        ["run", "--scenario", "linear", "--seed-range", "3..3", "--engine-variant", VARIANT,
         "--failures-dir", str(tmp_path / "db")]
    )  # fmt: skip
    assert res.exit_code == 1, res.output
    (path,) = (tmp_path / "db").glob("*.json")
    return path


@needs_variant
def test_schedule_file_replays_under_its_recorded_variant_and_digest(tmp_path: Path) -> None:
    path = _saved_failure(tmp_path)
    recorded = json.loads(path.read_text())
    assert recorded["variant"] == VARIANT
    res = invoke(["replay", "--schedule", str(path)])  # no --engine-variant: the file's
    assert res.exit_code == 1, res.output
    assert f"digest: {recorded['digest']}" in res.stdout
    assert "recorded digest: reproduced" in res.stdout
    # On the real engine, as asked: said in one line, and the digest is not compared.
    real = invoke(["replay", "--schedule", str(path), "--engine-variant", "real"])
    assert real.exit_code == 0, real.output
    assert "replaying on the real engine as --engine-variant asks" in real.stdout
    assert "DIGEST MISMATCH" not in real.stdout


@needs_variant
def test_a_digest_mismatch_is_one_line_and_a_failing_exit(tmp_path: Path) -> None:
    path = _saved_failure(tmp_path)
    data = json.loads(path.read_text())
    data["digest"] = "0" * 64
    path.write_text(json.dumps(data))
    res = invoke(["replay", "--schedule", str(path)])
    assert res.exit_code == 1
    lines = [line for line in res.stdout.splitlines() if "DIGEST MISMATCH" in line]
    assert len(lines) == 1 and "0" * 64 in lines[0]
    # Even when the replay itself passes, a mismatch fails the command.
    data["variant"] = None
    path.write_text(json.dumps(data))
    res = invoke(["replay", "--schedule", str(path)])
    assert "PASS" in res.stdout and "DIGEST MISMATCH" in res.stdout
    assert res.exit_code == 1


def test_a_file_naming_an_unknown_variant_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps({"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear",
                    "faults": [], "variant": "no_such_variant"})
    )  # fmt: skip
    res = invoke(["replay", "--schedule", str(path)])
    assert res.exit_code == 2 and "no_such_variant" in res.stderr
    assert len(res.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"format": "mfm-sim-schedule/1", "seed": 1.5, "scenario": "linear", "faults": []}',
         "seed must be an integer"),
        ('{"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear", "faults": [],'
         ' "recoverable": "no"}', "recoverable must be true or false"),
        ('{"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear", "faults": [{"step":'
         ' 3, "kind": "latency", "site": "events.append", "arg": 1' + "0" * 30 + "}]}",
         "not in 1..800"),
        ('{"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear", "faults": '
         + "[" * 50_000 + "]" * 50_000 + "}", "nests deeper"),
    ],
    ids=["float-seed", "string-bool", "huge-latency", "deep"],
)  # fmt: skip
def test_invalid_schedule_files_are_bad_input_not_violations(
    tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    res = invoke(["replay", "--schedule", str(path)])
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and len(res.stderr.splitlines()) == 1
    assert "harness bug" not in res.stderr and "invariant" not in res.stdout


def test_replay_of_dev_zero_is_refused_with_bounded_memory() -> None:
    res = invoke(["replay", "--schedule", "/dev/zero"])
    assert res.exit_code == 2 and "larger than" in res.stderr


def test_recoverable_file_with_thousands_of_crashes_is_bad_input(tmp_path: Path) -> None:
    faults = [{"step": i, "kind": "crash_before_effect", "site": "events.append"}
              for i in range(1, 5000)]  # fmt: skip
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "mfm-sim-schedule/1", "seed": 1, "scenario": "linear",
                                "faults": faults}))  # fmt: skip
    res = invoke(["replay", "--schedule", str(path)])
    assert res.exit_code == 2 and "4999 faults" in res.stderr
    assert "liveness" not in res.stdout
