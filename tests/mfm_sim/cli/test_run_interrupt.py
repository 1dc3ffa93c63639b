"""`mfm-sim run` stopped from outside or short of room: a stop signal ends it within 2 s with
its failures saved and partial reports; a time budget stops it within a chunk's time; huge
seed ranges run in bounded memory; a report or standard output that cannot be written is a
warning, never a lost verdict or a truncated file. Real processes, real signals."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.mfm_sim.cli.support import VARIANT, db_args, invoke, needs_variant
from tests.mfm_sim.processes import alive, linux_only, start, wait_for_children


def _stop(proc: subprocess.Popen[str], sig: int, kids: set[int]) -> tuple[float, str, str]:
    """Send `sig`; (seconds until the process ended, its stdout, its stderr)."""
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - sent
    assert not [p for p in kids if alive(p)], "a worker outlived the sweep"
    return took, out, err


@linux_only
@needs_variant
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_saves_what_was_found_and_writes_partial_reports(
    tmp_path: Path, sig: signal.Signals
) -> None:
    args = ["run", "--scenario", "linear", "--engine-variant", VARIANT, "--seeds", "1000000"]
    args += ["--jobs", "2", "--json", "r.json", "--junit", "r.xml", *db_args(tmp_path)]
    proc = start(args, tmp_path)
    kids = wait_for_children(proc.pid, 2)
    time.sleep(2)  # let the workers find something (this variant fails every few seeds)
    took, out, err = _stop(proc, sig, kids)
    assert took < 2.0 + 1.0, f"{took:.1f}s from {sig.name} to exit (2 s + reports)"
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["partial"] is True and data["partial_reason"] == f"interrupted by {sig.name}"
    assert data["seeds"]["interrupted_by"] == sig.name
    failing = data["failing"]
    assert proc.returncode == (1 if failing else 128 + sig), (proc.returncode, err)
    saved = list((tmp_path / "db").glob("*.json"))
    assert len(saved) == min(failing, 100), "the failures found were not all saved"
    suites = ET.parse(tmp_path / "r.xml").getroot()
    sweep = next(s for s in suites if s.get("name") == "mfm-sim.sweep")
    props = {p.get("name"): p.get("value") for p in sweep.iter("property")}
    assert props["partial"] == "true" and props["partial-reason"] == f"interrupted by {sig.name}"
    assert any(c.get("name") == "partial" for c in sweep.iter("testcase"))
    assert f"PARTIAL: interrupted by {sig.name}" in out
    assert "Traceback" not in err and "harness bug" not in err


@linux_only
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_stop_signal_with_nothing_found_exits_128_plus_the_signal(
    tmp_path: Path, jobs: int
) -> None:
    seeds = "1000000" if jobs > 1 else "5000"  # one process: 10% (a progress line) comes soon
    args = ["run", "--scenario", "linear", "--seeds", seeds, "--jobs", str(jobs)]
    proc = start([*args, "--json", "r.json", *db_args(tmp_path)], tmp_path)
    if jobs == 1:  # no workers: the sweep has begun at its first progress line
        assert proc.stderr is not None and proc.stderr.readline().startswith("sweep: ")
        kids: set[int] = set()
    else:
        kids = wait_for_children(proc.pid, 2)
    took, out, err = _stop(proc, signal.SIGINT, kids)
    assert proc.returncode == 130 and took < 3.0, (proc.returncode, took, err)
    assert "ok:" not in out and "PARTIAL: interrupted by SIGINT" in out
    assert json.loads((tmp_path / "r.json").read_text())["partial"] is True


@pytest.mark.parametrize("budget", ["nan", "inf", "-inf", "0", "-1", "1e400", "soon"])
def test_a_budget_that_is_not_a_finite_positive_number_is_bad_input(
    tmp_path: Path, budget: str
) -> None:
    run = ["run", "--seeds", "2", *db_args(tmp_path)]
    gate = ["gate", "--skip-tests", "--seeds", "1", "--corpus", str(tmp_path)]
    for cmd in (run, gate):
        res = invoke([*cmd, "--scenario", "linear", "--time-budget", budget])
        assert res.exit_code == 2, (cmd, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "--time-budget" in lines[0] and "finite positive" in lines[0]


def test_the_time_budget_stops_within_a_chunk_and_says_so(tmp_path: Path) -> None:
    args = [
        "run",
        "--scenario",
        "linear,diamond_io",
        "--seed-range",
        f"0..{2**64 - 1}",
        "--jobs",
        "2",
    ]
    t0 = time.monotonic()
    res = invoke([*args, "--time-budget", "1", "--json", str(tmp_path / "r.json")])
    took = time.monotonic() - t0
    assert res.exit_code == 0, res.output
    assert took < 10, f"a 1 s budget took {took:.1f}s"
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["seeds"]["budget_exhausted"] is True and data["partial"] is False
    assert data["seeds"]["planned"] == 2**64 and 0 < data["seeds"]["run"] < 2**64
    assert data["schedules"] == 2 * data["seeds"]["run"]  # a prefix of whole seeds
    assert res.stdout.rstrip().endswith(
        f"no violations (the time budget stopped it after {data['seeds']['run']} seeds)"
    )


@linux_only
def test_the_whole_seed_space_runs_in_bounded_memory(tmp_path: Path) -> None:
    # VmHWM, not ru_maxrss: the latter survives exec, so a child forked from a big test
    # process (an xdist worker late in the suite) would report its parent's size.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from mfm_sim.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "finally:\n"
        "    hwm = [ln for ln in Path('/proc/self/status').read_text().splitlines()\n"
        "           if ln.startswith('VmHWM:')]\n"
        "    print('maxrss_kb', hwm[0].split()[1])\n"
    )
    args = ["run", "--scenario", "linear", "--seed-range", f"0..{2**64 - 1}", "--shard", "2/3"]
    args += ["--time-budget", "0.5", "--json", "r.json", *db_args(tmp_path)]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["seeds"]["planned"] == (2**64 - 1 - 1) // 3 + 1
    assert data["seeds"]["first"] == 1 and data["seeds"]["run"] > 0
    maxrss_kb = int(proc.stdout.rsplit("maxrss_kb", 1)[1])
    assert maxrss_kb < 300_000, f"{maxrss_kb} KiB for a range of 2**64 seeds"


@needs_variant
def test_a_report_that_cannot_be_written_keeps_the_verdict(tmp_path: Path) -> None:
    """`--json /dev/full`: the failures and the verdict are printed, the exit status is the
    verdict's, and stderr has one warning line."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    args = ["run", "--scenario", "linear", "--seeds", "30", "--json", "/dev/full"]
    res = invoke([*args, "--engine-variant", VARIANT, *db_args(tmp_path)])
    assert res.exit_code == 1 and "FAILED:" in res.stdout, res.output
    warnings = [ln for ln in res.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("mfm-sim: warning: --json: cannot write")
    res = invoke(["run", "--scenario", "linear", "--seeds", "3", "--junit", "/dev/full"])
    assert res.exit_code == 0 and "ok: 3 schedules" in res.stdout, res.output
    assert Path("/dev/full").is_char_device(), "the device was replaced by a file"


def _limit_file_size() -> None:
    # Writing past 1 KiB now fails with EFBIG (SIGXFSZ ignored): a disk that fills up.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))


@linux_only
def test_a_report_write_that_fails_midway_leaves_no_truncated_file(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("old\n")
    args = ["run", "--scenario", "linear,diamond_io", "--seeds", "5", "--json", "r.json"]
    proc = subprocess.run(
        [sys.executable, "-m", "mfm_sim", *args, *db_args(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 0 and "ok: 10 schedules" in proc.stdout, proc.stderr
    assert "mfm-sim: warning: --json: cannot write r.json: File too large" in proc.stderr
    assert (tmp_path / "r.json").read_text() == "old\n", "the old report was clobbered"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"], "a temporary file was left"
