"""`mfm-sim bench`: the harness's own figures (throughput, overhead, virtual-time speed-up,
sweep time, memory), or with `--bugs` how many seeds each engine variant takes to be caught."""

from __future__ import annotations

import json

import click
from rich.table import Table

from mfm_sim.cli.options import check_writable, count_option, stdout_console, write_output
from mfm_sim.cli.status import EXIT_VIOLATION
from mfm_sim.selfcheck.variants import VARIANTS

__all__ = ["bench"]


@click.command()
@click.option("--quick", is_flag=True, help="Small sizes (a smoke run of every figure).")
@count_option("--seeds", 2000, "Schedules for the per-core throughput figure.", minimum=10)
@count_option("--sweep-seeds", 10_000, "Schedules of the timed parallel sweep.", minimum=10)
@count_option(
    "--memory-seeds", 100_000, "Schedules of the sweep whose peak memory is measured.", minimum=10
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes for the sweeps (default: cores).",
)
@click.option(
    "--bugs",
    "bug_mode",
    is_flag=True,
    help="Instead: seeds until each engine variant is first detected.",
)
@count_option("--bug-limit", 2000)
@count_option(
    "--sweeps",
    3,
    "Disjoint sweeps per variant for --bugs (the median is reported); turns per cluster "
    "size for --dask (the best is reported).",
)
@click.option("--json", "json_path", default=None, help="Also write the figures as JSON.")
@click.option(
    "--dask",
    metavar="local:N",
    default=None,
    help="Instead: a sweep's schedules/s on a local Dask cluster of 1 worker and of N "
    "(--sweep-seeds schedules each), and the scaling efficiency.",
)
def bench(
    quick: bool,
    seeds: int,
    sweep_seeds: int,
    memory_seeds: int,
    jobs: int | None,
    bug_mode: bool,
    bug_limit: int,
    sweeps: int,
    json_path: str | None,
    dask: str | None,
) -> int:
    """Throughput, overhead, virtual-time speed-up, sweep time and memory, side by side."""
    from mfm_sim.run.scenario import all_scenarios
    from mfm_sim.selfcheck import bench as bench_mod

    check_writable(json_path, "--json")
    if dask is not None:
        from mfm_sim.cli.cluster import scaling_bench

        return scaling_bench(dask, sweep_seeds, sweeps, json_path)
    if bug_mode:
        mix = all_scenarios()
        rows = bench_mod.bugs(sorted(VARIANTS), mix, limit=bug_limit, sweeps=sweeps)
        t = Table(
            title=f"bug-finding power (limit {bug_limit} seeds, {sweeps} sweeps each)",
            title_justify="left",
        )
        for col in ("variant", "median seeds", "caught", "invariants"):
            t.add_column(col)
        for row in rows:
            t.add_row(
                row["variant"],
                str(row["median_seeds"]),
                row["caught_in"],
                ", ".join(f"{k} x{v}" for k, v in row["invariants"].items()),
            )
        stdout_console().print(t)
        if json_path:
            write_output(json_path, json.dumps({"bugs": rows}, indent=2, sort_keys=True), "--json")
        missed = [r["variant"] for r in rows if not r["caught"]]
        if missed:
            click.echo(f"not caught within {bug_limit} seeds: {', '.join(missed)}")
            return EXIT_VIOLATION
        return 0
    figures = bench_mod.run_bench(
        seeds=seeds, sweep_seeds=sweep_seeds, memory_seeds=memory_seeds, jobs=jobs, quick=quick
    )
    click.echo(bench_mod.main_text(figures))
    if json_path:
        write_output(json_path, json.dumps([f.to_json() for f in figures], indent=2), "--json")
    return 0
