"""`mfm-sim check-determinism`."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from mfm_sim.cli.determinism import MAX_SEEDS
from tests.mfm_sim.cli.support import invoke
from tests.mfm_sim.processes import alive, linux_only, start, wait_for_children


def test_check_determinism() -> None:
    pytest.importorskip("mfm_sim.explore.determinism")
    res = invoke(["check-determinism", "--seeds", "2", "--scenario", "linear"])
    assert res.exit_code == 0, res.output
    assert "ok: deterministic" in res.stdout


@linux_only
def test_the_largest_seed_count_runs_in_bounded_memory_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = start(["check-determinism", "--seeds", str(MAX_SEEDS), "--scenario", "linear"], tmp_path)
    try:
        kids = wait_for_children(proc.pid, 2)
        rss_kb = int(
            next(
                ln.split()[1]
                for ln in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                if ln.startswith("VmRSS:")
            )
        )
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rss_kb < 300_000, f"{rss_kb} KiB: the seeds were materialised"
    assert proc.returncode == 143 and err.strip() == "mfm-sim: interrupted by SIGTERM", err
    deadline = time.monotonic() + 5  # generous: a loaded CI machine schedules the kill late
    while [p for p in kids if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in kids if alive(p)], "a determinism worker outlived the check"


def test_more_seeds_than_the_check_takes_is_bad_input() -> None:
    from mfm_sim.cli.determinism import MAX_SEEDS

    res = invoke(["check-determinism", "--seed-range", f"0..{2**64 - 1}"])
    assert res.exit_code == 2 and f"at most {MAX_SEEDS}" in res.stderr
    assert len(res.stderr.splitlines()) == 1
