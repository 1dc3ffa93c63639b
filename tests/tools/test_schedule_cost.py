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
        (["--wall", "--repeats", "0"], "--repeats"),
        (["--wall", "--parts", "whole,stock"], "unknown part 'stock'"),
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


def test_wall_mode_prints_each_part_and_what_switching_it_off_saved() -> None:
    """`--wall` times the bench's own ratio with each part off; a switched-off part is a
    real saving (the checks are most of a schedule's harness cost), not a copy of the whole."""
    done = subprocess.run(
        [sys.executable, str(TOOL), "--wall", "--repeats", "5", "--parts", "whole,checks"],
        capture_output=True,
        text=True,
        cwd=schedule_cost.ROOT,
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert set(rows) == {"whole", "checks"}
    whole, checks = float(rows["whole"][0]), float(rows["checks"][0])
    assert whole > 1 and checks > 1  # ratios to one stock run, which is never free
    assert float(rows["checks"][1]) == pytest.approx(whole - checks, abs=0.011)


def test_checks_mode_times_every_registered_check() -> None:
    from mfm_sim.invariants.registry import invariant_names

    done = subprocess.run(
        [sys.executable, str(TOOL), "--checks", "--runs", "2"],
        capture_output=True,
        text=True,
        cwd=schedule_cost.ROOT,
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert set(rows) == {*invariant_names(), "all"}
    first = [float(r[0]) for name, r in rows.items() if name != "all"]
    assert float(rows["all"][0]) == pytest.approx(sum(first), abs=0.05 * len(first))
