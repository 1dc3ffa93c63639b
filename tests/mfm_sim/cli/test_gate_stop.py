"""`mfm-sim gate` stopped by its time budget or a signal: the budget means what it means in
`run` and the summary says it stopped the sweep; a signal ends it promptly, kills its workers
and leaves a JUnit marked partial."""

from __future__ import annotations

import re
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.mfm_sim.cli.support import VARIANT, invoke, needs_variant
from tests.mfm_sim.processes import alive, linux_only, start, wait_for_children


def test_the_budget_stops_the_gate_sweep_and_the_summary_says_so(tmp_path: Path) -> None:
    args = ["gate", "--skip-tests", "--corpus", str(tmp_path), "--seed-start", "0"]
    t0 = time.monotonic()
    res = invoke([*args, "--scenario", "linear", "--jobs", "2", "--time-budget", "1"])
    assert res.exit_code == 0, res.output
    assert time.monotonic() - t0 < 10
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("sweep:"))
    m = re.search(r"\((\d+) seeds x .*the time budget stopped it after (\d+) seeds$", line)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) > 0, line


@linux_only
@needs_variant
def test_sigterm_ends_the_gate_with_a_partial_junit_and_no_worker_left(tmp_path: Path) -> None:
    args = ["gate", "--skip-tests", "--corpus", str(tmp_path), "--no-shrink", "--jobs", "2"]
    args += ["--scenario", "linear", "--engine-variant", VARIANT, "--junit", "g.xml"]
    proc = start([*args, "--time-budget", "600"], tmp_path)
    try:
        kids = wait_for_children(proc.pid, 2)
        time.sleep(1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 3.0, f"{took:.1f}s from SIGTERM to exit"
    assert not [p for p in kids if alive(p)], "a worker outlived the gate"
    assert "PARTIAL: interrupted by SIGTERM" in out and "Traceback" not in err
    suites = ET.parse(tmp_path / "g.xml").getroot()
    sweep = next(s for s in suites if s.get("name") == "mfm-sim.sweep")
    props = {p.get("name"): p.get("value") for p in sweep.iter("property")}
    assert props["partial-reason"] == "interrupted by SIGTERM"
    failing = any(c.find("failure") is not None for c in sweep.iter("testcase"))
    assert proc.returncode == (1 if failing else 143), (proc.returncode, out)


def test_save_failures_under_a_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    args = ["gate", "--skip-tests", "--corpus", str(tmp_path), "--seeds", "1"]
    res = invoke([*args, "--save-failures", str(tmp_path / "afile" / "db")])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--save-failures" in lines[0] and "is a file" in lines[0]


@needs_variant
def test_an_issue_body_that_cannot_be_written_keeps_the_gate_verdict(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    args = ["gate", "--skip-tests", "--corpus", str(tmp_path), "--seeds", "20"]
    args += ["--scenario", "linear", "--engine-variant", VARIANT, "--no-shrink"]
    res = invoke([*args, "--seed-start", "0", "--issue-body", "/dev/full"])
    assert res.exit_code == 1 and "gate: FAILED" in res.stdout, res.output
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("mfm-sim: warning:")]
    assert len(warnings) == 1 and "--issue-body: cannot write /dev/full" in warnings[0]
    assert "issue body:" not in res.stdout and "harness bug" not in res.stderr
