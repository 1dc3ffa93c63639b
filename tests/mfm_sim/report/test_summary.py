"""Reports: the failure database, JSON, JUnit XML, the timeline and emitted regression tests."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from mfm_sim import Schedule, SimResult, get_scenario, simulate
from mfm_sim.explore import faildb as faildb_mod
from mfm_sim.explore.faildb import FailureDB
from mfm_sim.explore.sweep import sweep
from mfm_sim.report.junit import junit_xml
from mfm_sim.report.regression import regression_test
from mfm_sim.report.summary import (
    Failure,
    ReplayOptions,
    RunReport,
    failure_lines,
    human_ns,
    replay_key,
    summary_table,
    to_json,
)
from mfm_sim.report.timeline import render, rows
from mfm_sim.report.timeline_html import render_html
from mfm_sim.selfcheck.variants import VARIANTS, variant_context

VARIANT = "unfixed_orphan"
SEED = 18  # a linear seed the variant fails with attempt_envelopes (re-chosen for 0.3.0)
needs_variant = pytest.mark.skipif(VARIANT not in VARIANTS, reason="variant not registered")


@pytest.fixture(scope="module")
def failing() -> SimResult:
    if VARIANT not in VARIANTS:
        pytest.skip("variant not registered")
    return simulate(get_scenario("linear"), SEED, variant=VARIANT)


# ------------------------------------------------------------------------------ faildb


@needs_variant
def test_faildb_round_trip(tmp_path: Path, failing: SimResult) -> None:
    db = FailureDB(tmp_path / "db")
    assert db.load_all() == [] and db.errors == []
    path = db.save(failing, variant=VARIANT)
    assert path.name == f"linear-{SEED}.json"
    other = simulate(get_scenario("linear"), 8, variant=VARIANT)
    db.save(other)
    (tmp_path / "db" / "broken-1.json").write_text("{not json")
    (tmp_path / "db" / "alien-2.json").write_text(json.dumps({"format": "nope"}))

    schedules = db.load_all()
    # (a schedule file keeps what replay needs: step, kind, site, arg of each fault)
    assert [x.to_json() for x in schedules] == [
        failing.schedule.to_json(),
        other.schedule.to_json(),
    ]
    assert sorted(p.name for p, _ in db.errors) == ["alien-2.json", "broken-1.json"]
    entries = {e.path.name: e for e in db.entries()}
    assert entries[f"linear-{SEED}.json"].variant == VARIANT
    assert entries[f"linear-{SEED}.json"].digest == failing.digest
    assert entries["linear-8.json"].variant is None
    assert entries["broken-1.json"].schedule is None and entries["broken-1.json"].error

    # The saved file is a plain schedule: it replays bit for bit.
    again = simulate(get_scenario("linear"), SEED, schedule=Schedule.load(path), variant=VARIANT)
    assert again.digest == failing.digest

    assert db.remove([entries["linear-8.json"]]) == 1
    assert [s.seed for s in faildb_mod.load_all(tmp_path / "db")] == [SEED]


def test_faildb_missing_directory_is_empty(tmp_path: Path) -> None:
    assert FailureDB(tmp_path / "nothing").load_all() == []


# ------------------------------------------------------------------------------ reports


def _report(variant: str | None, tmp: Path) -> RunReport:
    scs = [get_scenario("linear"), get_scenario("retry_heavy")]
    res = sweep(scs, range(8), variant=variant)
    opts = ReplayOptions(variant)
    fails = tuple(Failure("sweep", r, opts.command(r.scenario, r.seed), None) for r in res.failures)
    return RunReport(res, opts, fails, "0..7")


@needs_variant
def test_junit_and_json_describe_the_failures(tmp_path: Path) -> None:
    report = _report(VARIANT, tmp_path)
    assert report.failing > 0
    root = ET.fromstring(junit_xml(report))
    assert root.tag == "testsuites"
    cases = root.findall(".//testcase")
    names = [c.get("name") for c in cases]
    assert names[:2] == list(report.sweep.per_scenario)  # one per scenario: the passing part
    failing = [c for c in cases if c.find("failure") is not None]
    assert failing and all(c.get("name") not in report.sweep.per_scenario for c in failing)
    failures = root.findall(".//failure")
    assert failures and "mfm-sim replay" in (failures[0].text or "")
    assert "mfm-sim replay" in failures[0].get("message", "")  # the replay command, and count
    assert int(root.get("failures", "0")) == len(failures)

    data = to_json(report)
    json.dumps(data)  # serialisable
    assert data["failing"] == report.failing
    first = data["failures"][0]
    assert {"seed", "scenario", "invariant", "seqs", "digest", "replay"} <= set(first)
    assert first["replay"].startswith("mfm-sim replay ")
    assert "--engine-variant " + VARIANT in first["replay"]


def test_clean_report(tmp_path: Path) -> None:
    report = _report(None, tmp_path)
    assert report.ok
    root = ET.fromstring(junit_xml(report))
    assert root.findall(".//failure") == []
    buf = io.StringIO()
    Console(file=buf, width=120).print(summary_table(report))
    text = buf.getvalue()
    assert "schedules" in text and "violations" in text and "none" in text


def test_replay_options_build_copy_pasteable_commands() -> None:
    from mfm_sim.faults.kinds import FaultKind

    assert ReplayOptions().command("linear", 7) == "mfm-sim replay 7 --scenario linear"
    cmd = ReplayOptions(
        "v", (FaultKind.LATENCY, FaultKind.CRASH_BEFORE_EFFECT), False, False
    ).command("linear", 7)
    assert cmd == (
        "mfm-sim replay 7 --scenario linear --faults latency,crash_before_effect --no-swarm "
        "--unrestricted --engine-variant v"
    )
    assert (
        ReplayOptions()
        .command("linear", 7, "dir with space/x.json")
        .endswith("--schedule 'dir with space/x.json'")
    )


def test_human_ns_and_replay_key() -> None:
    assert human_ns(0) == "0.000s"
    assert human_ns(61_500_000_000) == "1m 1.500s"
    assert human_ns(90_061_000_000_000) == "1d 1h 1m 1.000s"
    key = replay_key(5)
    assert key.startswith("seed=5 mfm-sim=") and "python=" in key


@needs_variant
def test_failure_lines_name_invariant_events_and_command(failing: SimResult) -> None:
    f = Failure("sweep", failing, f"mfm-sim replay {SEED} --scenario linear", None)
    lines = failure_lines(f)
    assert lines[0].startswith(f"FAIL linear seed {SEED}")
    assert f"replay key: seed={SEED}" in lines[0]
    assert any("invariant attempt_envelopes" in ln and "seq" in ln for ln in lines)
    assert lines[-1] == f"  replay: mfm-sim replay {SEED} --scenario linear"


# ------------------------------------------------------------------------------ timeline


@needs_variant
def test_timeline_shows_incarnations_faults_and_cited_events(failing: SimResult) -> None:
    items = rows(failing)
    assert items and items[0].kind == "start" and items[0].first_of_incarnation
    cats = {r.category for r in items}
    assert {"start", "attempt", "store", "done"} <= cats
    assert any(r.marks for r in items)  # the events the violation cites
    buf = io.StringIO()
    Console(file=buf, width=160).print(render(failing))
    text = buf.getvalue()
    assert "StateEntered" in text and "attempt_envelopes" in text
    page = render_html(failing)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page == render_html(failing)
    assert 'class="mark"' in page
    assert page.count("<tr class=") == len(items)


def test_timeline_of_a_result_without_trace() -> None:
    res = simulate(get_scenario("linear"), 1, keep_trace=False)
    assert rows(res) == []
    buf = io.StringIO()
    Console(file=buf, width=120).print(render(res))
    assert "no trace kept" in buf.getvalue()


# ------------------------------------------------------------------------------ emit


@needs_variant
def test_emitted_test_fails_under_the_bug_and_passes_without(failing: SimResult) -> None:
    schedule = failing.schedule
    source = regression_test(schedule, failing, version="0.1.0", variant=VARIANT)
    assert "fails while the bug is" in source and "passes once the engine is fixed" in source
    namespace: dict[str, object] = {}
    exec(compile(source, "test_emitted.py", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    assert len(tests) == 1
    assert namespace["RECORDED_DIGEST"] == failing.digest
    tests[0]()  # the real engine: no violations
    with variant_context(VARIANT), pytest.raises(AssertionError, match="attempt_envelopes"):
        tests[0]()


def test_a_replay_repeats_the_store_unless_a_schedule_file_carries_it() -> None:
    from mfm_sim.report.summary import ReplayOptions

    opts = ReplayOptions(store="jsonl")
    assert opts.args() == ["--store", "jsonl"]
    assert opts.command("linear", 3) == "mfm-sim replay 3 --scenario linear --store jsonl"
    assert "--store" not in opts.command("linear", 3, "s.json")
    assert 'simulate(get_scenario("linear"), 3, store="jsonl")' in opts.python_command("linear", 3)
    assert ReplayOptions().args() == []
