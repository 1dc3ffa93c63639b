"""The CI gate, run as CI runs it (`python ci/gate.py ...`), on tiny budgets."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from mfm_sim import Schedule, get_scenario, simulate
from mfm_sim.selfcheck.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "ci" / "gate.py"
CORPUS = ROOT / "ci" / "corpus"


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GATE), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mfm_sim_ci_gate", GATE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_gate_passes_on_a_tiny_budget_and_writes_junit(tmp_path: Path) -> None:
    junit = tmp_path / "gate.xml"
    issue = tmp_path / "issue.md"
    proc = _gate(
        "--skip-tests",
        "--seeds",
        "4",
        "--seed-start",
        "0",
        "--time-budget",
        "30",
        "--scenario",
        "linear,diamond_io",
        "--junit",
        str(junit),
        "--issue-body",
        str(issue),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate: ok" in proc.stdout
    assert "seeds 0..3" in proc.stdout
    assert not issue.exists()  # written only on failure
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert {"corpus", "sweep", "coverage"} <= set(suites)
    corpus_cases = [c.get("name") for c in suites["corpus"].iter("testcase")]
    for path in CORPUS.glob("*.json"):
        assert path.name in corpus_cases
    assert all(s.get("failures") == "0" for s in suites.values())


def test_gate_fails_on_a_broken_engine_and_writes_an_issue(tmp_path: Path) -> None:
    if "unfixed_orphan" not in VARIANTS:
        pytest.skip("variant unfixed_orphan is not registered")
    junit = tmp_path / "gate.xml"
    issue = tmp_path / "issue.md"
    saved = tmp_path / "failures"
    proc = _gate(
        "--skip-tests",
        "--seeds",
        "12",
        "--seed-start",
        "0",
        "--scenario",
        "linear",
        "--variant",
        "unfixed_orphan",
        "--junit",
        str(junit),
        "--issue-body",
        str(issue),
        "--save-failures",
        str(saved),
        "--corpus",
        str(tmp_path / "empty"),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gate: FAILED" in proc.stdout
    body = issue.read_text()
    for needle in (
        "seed",
        "commit",
        "Python",
        "invariant",
        "mfm-sim replay",
        "```json",
        "unfixed_orphan",
    ):
        assert needle in body, needle
    shrunk = json.loads(body.split("```json\n", 1)[1].split("```", 1)[0])
    schedule = Schedule.from_json(shrunk)
    r = simulate(get_scenario("linear"), schedule.seed, schedule=schedule, variant="unfixed_orphan")
    assert r.violations  # the shrunk schedule in the issue still reproduces
    files = sorted(saved.glob("*.json"))
    assert files and all(Schedule.load(f).scenario == "linear" for f in files)
    failures = [
        c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None
    ]
    assert failures and all(c.get("name", "").startswith("seed-") for c in failures)


def test_gate_bad_input_exits_2(tmp_path: Path) -> None:
    assert _gate("--skip-tests", "--seeds", "1", "--scenario", "nope").returncode == 2
    bad = tmp_path / "corpus"
    bad.mkdir()
    (bad / "broken.json").write_text("{not json")
    proc = _gate("--skip-tests", "--seeds", "1", "--corpus", str(bad))
    assert proc.returncode == 2
    assert "broken.json" in proc.stderr


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
    gate = _module()
    assert gate.default_seed_start(None) == 0
    commit = "3e6492679aace08cf8146aee926ded321c364384"
    assert gate.default_seed_start(commit) == int(commit[:16], 16)
    assert gate.default_seed_start(commit) == gate.default_seed_start(commit)
    assert 0 <= gate.default_seed_start("not-hex") < 2**64


def test_junit_writer(tmp_path: Path) -> None:
    gate = _module()
    g = gate.Gate()
    g.add(gate.Case("corpus", "a.json", 0.5))
    g.add(gate.Case("sweep.linear", "seed-7", failure="liveness: stuck", detail="details"))
    g.add(gate.Case("corpus", "a.json[v]", skipped="variant v is not available"))
    assert g.failed
    out = tmp_path / "j.xml"
    gate.write_junit(g, out)
    root = ET.parse(out).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["sweep"].get("failures") == "1"
    assert suites["corpus"].get("skipped") == "1"
    case = next(c for c in root.iter("testcase") if c.get("name") == "seed-7")
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "liveness: stuck"
