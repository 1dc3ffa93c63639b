"""`mfm-sim explore --crash-points`: every crash point, failures saved with a replay command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.mfm_sim.cli.support import VARIANT, db_args, invoke, needs_variant


@needs_variant
def test_explore_crash_points(tmp_path: Path) -> None:
    pytest.importorskip("mfm_sim.explore.crash_points")
    ok = invoke(
        ["explore", "--scenario", "linear", "--crash-points", "--single", *db_args(tmp_path)]
    )
    assert ok.exit_code == 0, ok.output
    assert "crash points" in ok.stdout
    bad = invoke(
        ["explore", "--scenario", "linear", "--crash-points", "--single", "--engine-variant",
         VARIANT, *db_args(tmp_path)]
    )  # fmt: skip
    assert bad.exit_code == 1
    cmd = re.search(r"^  replay: (.*)$", bad.stdout, flags=re.M)
    assert cmd is not None and "--schedule" in cmd.group(1)
    assert invoke(shlex.split(cmd.group(1))[1:]).exit_code == 1
