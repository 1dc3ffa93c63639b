"""tools/schedule_cost.py: every part it can switch off runs, and bad input is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import schedule_cost

TOOL = Path(schedule_cost.__file__)


@pytest.mark.parametrize("part", [*sorted(schedule_cost.PARTS), "checks+journal"])
def test_each_part_runs_its_schedules(part: str) -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--child", part, "--runs", "2", "--built", "2"],
        capture_output=True,
        text=True,
        cwd=schedule_cost.ROOT,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--parts", "whole,nope"], "unknown part 'nope'"),
        (["--parts", "checks+nope"], "unknown part 'nope'"),
        (["--runs", "0"], "--runs"),
    ],
)
def test_bad_input_is_refused_in_one_line(args: list[str], says: str, capsys) -> None:
    assert schedule_cost.main(args) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_the_baseline_of_zero_schedules_runs() -> None:
    """The measuring side runs with 0 schedules too: the warm-up alone is the baseline."""
    done = subprocess.run(
        [sys.executable, str(TOOL), "--child", "stock", "--runs", "0"],
        capture_output=True,
        text=True,
        cwd=schedule_cost.ROOT,
    )
    assert done.returncode == 0, done.stderr
