"""Helpers of the tests that start real `mfm-sim` processes and signal them: their children
and whether a process still runs, read from /proc (psutil is not a dependency)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = ["alive", "children", "linux_only", "start", "wait_for_children"]

linux_only = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")


# pid -> its start time (clock ticks after boot) when `children` saw it. A busy machine
# reuses the pid of a worker that died for another process soon; `alive` must not take that
# stranger for the worker.
_STARTED: dict[int, str] = {}


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> set[int]:
    """The child processes of `pid` (every thread's list, as /proc keeps them)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    for kid in out:
        try:
            _STARTED[kid] = _stat(kid)[19]
        except (OSError, IndexError):
            continue
    return out


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie counts as dead: it only waits to be reaped), and is still
    the process `children` found under that pid."""
    try:
        os.kill(pid, 0)
        fields = _stat(pid)
    except (OSError, IndexError):
        return False
    seen = _STARTED.get(pid)
    return fields[0] != "Z" and (seen is None or fields[19] == seen)


def start(args: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
    """`python -m mfm_sim ARGS` in `cwd`, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "mfm_sim", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_children(pid: int, n: int, timeout: float = 60.0) -> set[int]:
    """The children of `pid` once there are at least `n` of them (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while len(kids := children(pid)) < n:
        assert time.monotonic() < deadline, f"process {pid} started fewer than {n} children"
        time.sleep(0.05)
    return kids
