"""The `mfm-sim` group: one-line errors with exit 2, harness crashes exit 3, the entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mfm_sim.cli import main as main_mod
from mfm_sim.cli import replay as replay_mod
from mfm_sim.cli.main import cli
from mfm_sim.errors import HarnessError
from mfm_sim.explore import sweep as sweep_mod
from tests.mfm_sim.cli.support import db_args

BAD_INPUT: list[list[str]] = [
    ["run", "--scenario", "no_such_scenario"],
    ["run", "--seed-range", "5..2"],
    ["run", "--seed-range", "abc"],
    ["run", "--seed-range", "1..x"],
    ["run", "--seeds", "abc"],
    ["run", "--seeds", "0"],
    ["run", "--seeds", "5", "--seed-range", "0..4"],
    ["run", "--shard", "3/2"],
    ["run", "--shard", "half"],
    ["run", "--seeds", "2", "--shard", "3/4"],
    ["run", "--jobs", "0"],
    ["run", "--faults", "meteor_strike"],
    ["run", "--time-budget", "0"],
    ["run", "--engine-variant", "no_such_variant"],
    ["run", "--no-such-option"],
    ["replay", "abc", "--scenario", "linear"],
    ["replay", "0x1g", "--scenario", "linear"],
    ["replay", "18446744073709551616", "--scenario", "linear"],
    ["replay", "5"],
    ["replay"],
    ["replay", "5", "--scenario", "no_such_scenario"],
    ["explore", "--scenario", "linear"],
    ["explore", "--scenario", "nope", "--crash-points"],
    ["check-determinism", "--seeds", "2", "--seed-range", "0..1"],
    ["run", "--seeds", "1", "--json", "/no/such/dir/out.json"],
    ["run", "--seeds", "1", "--junit", "."],
    ["replay", "1", "--scenario", "linear", "--html", "/no/such/dir/t.html"],
    ["no-such-command"],
]


@pytest.mark.parametrize("args", BAD_INPUT, ids=lambda a: " ".join(a))
def test_bad_input_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, [*args], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("mfm-sim: error: ")
    assert "Traceback" not in res.output


def test_harness_crash_exits_3_not_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise HarnessError("the simulated loop lost a timer")

    monkeypatch.setattr(replay_mod, "simulate", boom)
    res = CliRunner().invoke(cli, ["replay", "1", "--scenario", "linear"])
    assert res.exit_code == 3
    assert "harness bug" in res.stderr and "not an engine violation" in res.stderr
    assert "Traceback" not in res.output

    def other(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(sweep_mod, "simulate", other)
    res = CliRunner().invoke(
        cli, ["run", "--seeds", "2", "--scenario", "linear", *db_args(tmp_path)]
    )
    assert res.exit_code == 3
    assert "harness bug" in res.stderr


# ------------------------------------------------------------------------------ replay


def test_main_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main_mod.main(["run", "--jobs", "0"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("mfm-sim: error: ")
