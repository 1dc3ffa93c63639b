"""mfm_sim.selfcheck.bench: every figure is produced and well-formed (never a timing assertion)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mfm_sim.cli.main import cli
from mfm_sim.run.scenario import get_scenario
from mfm_sim.selfcheck import bench


def test_overhead_reports_the_simulated_run_against_a_stock_run() -> None:
    name, seed = bench.OVERHEAD_CASE
    figures = bench.overhead(get_scenario(name), seed, 2)
    assert set(figures) == {"stock_run_us", "sim_run_ratio", "sim_loop_ratio", "simulate_ratio"}
    assert all(value > 0 for value in figures.values())


def test_the_overhead_case_waits_no_real_backoff() -> None:
    # A retry on the stock loop would sleep in wall time and swamp the ratio.
    from mfm_sim.run.world import World

    name, seed = bench.OVERHEAD_CASE
    instance = get_scenario(name).build(World(seed, None).streams.stream("scenario"))
    assert instance.input_params["failures"] == 0
    assert instance.model is not None and instance.model.phase.value == "completed"


def test_bugs_counts_seeds_until_the_first_detection() -> None:
    rows = bench.bugs(["unfixed_orphan"], [get_scenario("linear")], limit=200, sweeps=2)
    (row,) = rows
    assert row["variant"] == "unfixed_orphan"
    assert row["caught"] and row["caught_in"] == "2/2"
    assert 1 <= row["median_seeds"] <= 200
    assert sum(row["invariants"].values()) == 2


def test_a_variant_that_is_never_caught_is_reported_as_missed() -> None:
    # The bug-free engine has nothing to find: every sweep runs to the limit.
    rows = bench.bugs([], [get_scenario("linear")], limit=5, sweeps=1)
    assert rows == []
    (row,) = bench.bugs(["skip_tags_ignored"], [get_scenario("linear")], limit=5, sweeps=1)
    assert not row["caught"] and row["median_seeds"] == 6


def test_main_text_marks_targets() -> None:
    text = bench.main_text(
        [
            bench.Figure("throughput", 1200.0, "schedules/s/core", ">= 1000", True),
            bench.Figure("overhead", 1.4, "x stock asyncio", "<= 1.25", False),
            bench.Figure("virtual_speedup", 900.0, "virtual s / wall s"),
        ]
    )
    assert "throughput" in text and "ok" in text
    assert "MISSED" in text


@pytest.mark.parametrize(
    "args", [["bench", "--bugs", "--bug-limit", "0"], ["bench", "--jobs", "0"]]
)
def test_bad_bench_options_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2


def test_bench_bugs_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mfm_sim.cli.bench as cli_module

    # One variant over one scenario keeps this a smoke test of the command's plumbing.
    monkeypatch.setattr(
        cli_module, "VARIANTS", {"unfixed_orphan": cli_module.VARIANTS["unfixed_orphan"]}
    )
    monkeypatch.setattr("mfm_sim.run.scenario.all_scenarios", lambda: [get_scenario("linear")])
    out = tmp_path / "bugs.json"
    result = CliRunner().invoke(
        cli, ["bench", "--bugs", "--bug-limit", "300", "--sweeps", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "unfixed_orphan" in result.output
    rows = json.loads(out.read_text())["bugs"]
    assert rows[0]["variant"] == "unfixed_orphan" and rows[0]["caught"]


def test_store_rates_time_every_store_backend_in_one_run() -> None:
    rates = bench.store_rates([get_scenario("linear")], 3)
    assert {"memory", "jsonl"} <= set(rates) <= {"memory", "sqlite", "jsonl"}
    assert all(rate > 0 for rate in rates.values())
