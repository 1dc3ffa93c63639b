"""`mfm-sim gate`, the CI gate, on tiny budgets (always `--skip-tests`: the gate's own pytest
step would run this suite again; the step is tested with a stand-in for pytest)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mfm_sim import Schedule, get_scenario, simulate
from mfm_sim.cli import gate as gate_mod
from mfm_sim.cli.gate import SeedRing, default_seed_start
from mfm_sim.cli.main import cli
from mfm_sim.selfcheck.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "ci" / "corpus"
VARIANT = "unfixed_orphan"
needs_variant = pytest.mark.skipif(VARIANT not in VARIANTS, reason="variant not registered")


def _gate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["gate", "--corpus", str(CORPUS), *args])


def _suites(junit: Path) -> dict[str | None, ET.Element]:
    return {s.get("name"): s for s in ET.parse(junit).getroot().iter("testsuite")}


def test_gate_passes_on_a_tiny_budget_and_writes_junit(tmp_path: Path) -> None:
    junit = tmp_path / "gate.xml"
    issue = tmp_path / "issue.md"
    args = "--skip-tests --seeds 4 --seed-start 0 --time-budget 30 --scenario linear,diamond_io"
    res = _gate(*args.split(), "--junit", str(junit), "--issue-body", str(issue))
    assert res.exit_code == 0, res.output
    assert "gate: ok" in res.stdout
    assert "seeds 0..3" in res.stdout
    assert not issue.exists()  # written only on failure
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    suites = _suites(junit)
    assert {"mfm-sim.corpus", "mfm-sim.sweep", "mfm-sim.coverage"} <= set(suites)
    assert "mfm-sim.tests" not in suites  # skipped
    corpus_cases = [c.get("name") for c in suites["mfm-sim.corpus"].iter("testcase")]
    for path in CORPUS.glob("*.json"):
        assert path.name in corpus_cases
    assert all(s.get("failures") == "0" for s in suites.values())


@needs_variant
def test_gate_fails_on_a_broken_engine_and_writes_an_issue(tmp_path: Path) -> None:
    junit = tmp_path / "gate.xml"
    issue = tmp_path / "issue.md"
    saved = tmp_path / "failures"
    res = CliRunner().invoke(
        cli,
        [
            "gate",
            "--skip-tests",
            "--seeds",
            "12",
            "--seed-start",
            "0",
            "--scenario",
            "linear",
            "--variant",  # the old name of --engine-variant still works
            VARIANT,
            "--junit",
            str(junit),
            "--issue-body",
            str(issue),
            "--save-failures",
            str(saved),
            "--corpus",
            str(tmp_path / "empty"),
        ],
    )
    assert res.exit_code == 1, res.output
    assert "gate: FAILED" in res.stdout
    body = issue.read_text()
    for needle in (
        "seed",
        "commit",
        "Python",
        "invariant",
        "mfm-sim replay",
        "```json",
        VARIANT,
    ):
        assert needle in body, needle
    shrunk = json.loads(body.split("```json\n", 1)[1].split("```", 1)[0])
    schedule = Schedule.from_json(shrunk)
    r = simulate(get_scenario("linear"), schedule.seed, schedule=schedule, variant=VARIANT)
    assert r.violations  # the shrunk schedule in the issue still reproduces
    files = sorted(saved.glob("*.json"))
    assert files and all(Schedule.load(f).scenario == "linear" for f in files)
    assert all(json.loads(f.read_text())["variant"] == VARIANT for f in files)
    failures = [
        c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None
    ]
    # One case per failure signature, named by it (no seed, no count: stable across sweeps).
    names = [c.get("name") or "" for c in failures]
    assert names and all(re.match(r"[a-z_]+: ", n) and not re.search(r"\d", n) for n in names)


def test_gate_bad_input_exits_2(tmp_path: Path) -> None:
    res = _gate("--skip-tests", "--seeds", "1", "--scenario", "nope")
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    bad = tmp_path / "corpus"
    bad.mkdir()
    (bad / "broken.json").write_text("{not json")
    res = CliRunner().invoke(cli, ["gate", "--skip-tests", "--seeds", "1", "--corpus", str(bad)])
    assert res.exit_code == 2
    assert "broken.json" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    (bad / "broken.json").unlink()
    alien = json.loads((CORPUS / "linear-orphan-not-closed-3.json").read_text())
    (bad / "alien.json").write_text(json.dumps({**alien, "scenario": "no_such_scenario"}))
    res = CliRunner().invoke(cli, ["gate", "--skip-tests", "--seeds", "1", "--corpus", str(bad)])
    assert res.exit_code == 2 and "no_such_scenario" in res.stderr, res.output
    for args in (
        ["--seeds", "-1"],
        ["--time-budget", "-1"],
        ["--jobs", "0"],
        ["--seed-start", str(2**64)],
        ["--seed-start", "soon"],
        ["--engine-variant", "nope"],
    ):
        res = _gate("--skip-tests", *args)
        assert res.exit_code == 2, args
        assert len(res.stderr.strip().splitlines()) == 1, (args, res.stderr)


def test_corpus_schedules_pass_and_still_catch_their_variant() -> None:
    files = sorted(CORPUS.glob("*.json"))
    assert files, "ci/corpus must hold at least one schedule"
    for path in files:
        raw = json.loads(path.read_text())
        schedule = Schedule.load(path)
        sc = get_scenario(schedule.scenario)
        good = simulate(sc, schedule.seed, schedule=schedule, keep_trace=False)
        assert good.ok, (path.name, [v.describe() for v in good.violations])
        assert schedule.faults
        variant = raw.get("variant")
        if variant in VARIANTS:
            bad = simulate(sc, schedule.seed, schedule=schedule, variant=variant, keep_trace=False)
            assert any(v.invariant == raw["invariant"] for v in bad.violations), path.name


def test_seed_start_is_derived_from_the_commit_not_the_clock() -> None:
    assert default_seed_start(None) == 0
    commit = "3e6492679aace08cf8146aee926ded321c364384"
    assert default_seed_start(commit) == int(commit[:16], 16)
    assert default_seed_start(commit) == default_seed_start(commit)
    assert 0 <= default_seed_start("not-hex") < 2**64


# ------------------------------------------------------------------------------ new


def test_seeds_wrap_at_2_64_and_a_zero_budget_runs_none() -> None:
    ring = SeedRing(2**64 - 2, 4)
    assert list(ring) == [2**64 - 2, 2**64 - 1, 0, 1]
    assert ring[1:3] == [2**64 - 1, 0] and ring[-1] == 1 and len(ring) == 4
    with pytest.raises(IndexError):
        ring[4]
    res = _gate(
        "--skip-tests", "--seeds", "3", "--seed-start", str(2**64 - 2), "--scenario", "linear"
    )
    assert res.exit_code == 0, res.output
    assert f"seeds {2**64 - 2}..0 (3 seeds" in res.stdout
    res = _gate("--skip-tests", "--seeds", "0", "--seed-start", "5", "--scenario", "linear")
    assert res.exit_code == 0, res.output
    assert "seeds 5..5 (0 seeds" in res.stdout


def test_the_test_step_runs_pytest_and_fails_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = subprocess.run
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if "pytest" not in cmd:
            return real_run(cmd, **kwargs)  # git rev-parse
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "F.\n1 failed, 1 passed in 0.1s\n", "")

    monkeypatch.setattr(gate_mod.subprocess, "run", fake_run)
    junit = tmp_path / "gate.xml"
    res = _gate("--test-jobs", "3", "--seeds", "1", "--scenario", "linear", "--junit", str(junit))
    assert res.exit_code == 1, res.output
    assert seen and seen[0][1:5] == ["-m", "pytest", "-n", "3"]
    assert "tests: FAILED  1 failed, 1 passed in 0.1s" in res.stdout
    failure = _suites(junit)["mfm-sim.tests"].find("testcase/failure")
    assert failure is not None and failure.get("message") == "test suite failed (exit 1)"


def _replay(cmd: str, cwd: Path | None = None) -> tuple[int, str | None, str]:
    """Run a printed `mfm-sim replay ...` or `python -c ...` command; (exit, digest, output)."""
    argv = shlex.split(cmd)
    if argv[0] == "mfm-sim":
        argv = [sys.executable, "-c", "from mfm_sim.cli.main import main; main()", *argv[1:]]
    else:
        assert argv[0] == "python"
        argv[0] = sys.executable
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    digest = re.search(r"\b([0-9a-f]{64})\b", out)
    return proc.returncode, digest.group(1) if digest else None, out


@needs_variant
def test_replay_commands_of_a_variant_failure_reproduce(tmp_path: Path) -> None:
    """Every replay command the gate prints, and puts in the JUnit and the issue body, re-runs
    the failure under the same engine variant: same digest, same violation."""
    junit = tmp_path / "gate.xml"
    issue = tmp_path / "issue.md"
    args = f"--skip-tests --seeds 3 --seed-start 0 --scenario linear --engine-variant {VARIANT}"
    res = _gate(*args.split(), "--junit", str(junit), "--issue-body", str(issue))
    assert res.exit_code == 1, res.output
    seed = 2  # the one seed of 0..2 the variant breaks in linear (0.3.0's streams)
    expected = simulate(get_scenario("linear"), seed, variant=VARIANT, keep_trace=False)
    assert expected.violations
    invariant = expected.violations[0].invariant

    printed = re.findall(r"^  replay: (.+)$", res.stdout, re.M)
    assert printed == [f"mfm-sim replay {seed} --scenario linear --engine-variant {VARIANT}"]
    assert f"digest {expected.digest}" in res.stdout
    failure = _suites(junit)["mfm-sim.sweep"].find("testcase/failure")
    assert failure is not None
    in_junit = re.findall(r"replay: (.+)$", failure.text or "", re.M)
    body = issue.read_text()
    sh_block = body.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert expected.digest in body
    for cmd in [*printed, *in_junit, sh_block[0], sh_block[2]]:
        assert VARIANT in cmd, cmd
        code, digest, out = _replay(cmd)
        assert digest == expected.digest, (cmd, out)
        assert invariant in out, (cmd, out)
        if cmd.startswith("mfm-sim"):
            assert code == 1 and "FAIL" in out, (cmd, out)

    # The shrunk schedule, saved as the body says, replays with the printed command.
    shrunk = body.split("```json\n", 1)[1].split("```", 1)[0]
    (tmp_path / "shrunk.json").write_text(shrunk)
    assert "--schedule shrunk.json" in sh_block[1] and "--timeline" in sh_block[1]
    code, digest, out = _replay(sh_block[1], cwd=tmp_path)
    assert code == 1 and invariant in out, out
    again = simulate(
        get_scenario("linear"),
        seed,
        schedule=Schedule.from_json(json.loads(shrunk)),
        variant=VARIANT,
    )
    assert digest == again.digest


def test_ci_wrapper_is_the_command() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "ci" / "gate.py"), "--skip-tests", "--scenario", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("mfm-sim: error: --scenario:") and "Traceback" not in proc.stderr
