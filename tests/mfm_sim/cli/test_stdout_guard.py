"""Standard output that fails: a closed pipe exits quietly with the command's own status, a
full disk is one warning line and the command's own status, never a traceback or exit 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mfm_sim.cli.stdout_guard import GuardedStdout
from tests.mfm_sim.cli.support import VARIANT, needs_variant

needs_dev_full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")


def _mfm_sim(*args: str) -> list[str]:
    return [sys.executable, "-m", "mfm_sim", *args]


def test_a_closed_pipe_is_remembered_and_not_reported() -> None:
    r, w = os.pipe()
    os.close(r)  # the reader is gone, as `head -1` is after its line
    with os.fdopen(w, "w") as stream:
        guard = GuardedStdout(stream)
        guard.write("x" * 100_000)  # more than a pipe holds: the write itself fails
        guard.flush()
        assert guard.error is not None and guard.write("more") == 4  # dropped, no raise
        assert guard.settle() is None


@needs_dev_full
def test_a_full_device_is_one_warning() -> None:
    with open("/dev/full", "w") as stream:
        guard = GuardedStdout(stream)
        guard.write("text")
        warning = guard.settle()
    assert warning == "cannot write standard output: No space left on device"


def test_list_into_a_closed_pipe_exits_quietly() -> None:
    """`mfm-sim list | head -1`, with the reader gone before the first line is written."""
    proc = subprocess.Popen(_mfm_sim("list"), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and err == "", err


def test_list_piped_to_head_exits_0() -> None:
    done = subprocess.run(
        f"{' '.join(_mfm_sim('list'))} | head -1; echo status=${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
    )
    assert done.stdout.splitlines()[-1] == "status=0" and done.stderr == "", done.stderr


@needs_dev_full
def test_list_into_a_full_disk_is_one_warning_and_exit_0() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(_mfm_sim("list"), stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0
    assert (
        done.stderr == "mfm-sim: warning: cannot write standard output: No space left on device\n"
    )


@needs_dev_full
@needs_variant
def test_a_failing_run_into_a_full_disk_keeps_its_exit_status(tmp_path: Path) -> None:
    args = ["run", "--scenario", "linear", "--seeds", "20", "--engine-variant", VARIANT]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            _mfm_sim(*args, "--failures-dir", str(tmp_path / "db"), "--json", "r.json"),
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr.rstrip().endswith("cannot write standard output: No space left on device")
    assert "Traceback" not in done.stderr and "harness bug" not in done.stderr
    assert (tmp_path / "r.json").exists()  # what could be written was
