"""`mfm-sim bench --dask local:N`: one worker against N on real local clusters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfm_sim.selfcheck.scaling import scaling_counts
from tests.mfm_sim.cli.support import invoke


def test_one_worker_is_compared_with_n() -> None:
    assert scaling_counts(1) == (1,)
    assert scaling_counts(3) == (1, 3)


def test_the_bench_reports_schedules_per_second_and_efficiency(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    out = tmp_path / "scaling.json"
    args = ["bench", "--dask", "local:1", "--sweep-seeds", "16", "--sweeps", "2"]
    res = invoke([*args, "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "efficiency" in res.output
    (row,) = json.loads(out.read_text())["dask_scaling"]
    assert row["workers"] == 1 and row["schedules"] == 16
    assert row["schedules_per_s"] > 0 and row["speedup"] == row["efficiency"] == 1.0


def test_the_bench_starts_its_own_clusters() -> None:
    pytest.importorskip("distributed")
    res = invoke(["bench", "--dask", "tcp://127.0.0.1:8786"])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "give local:N" in res.output
