"""`--dask ADDRESS|local:N`: the option, and the executor it opens for a sweep.

Dask is imported only when the option is given (`mfm_sim.explore.dask` is the one module
that imports it), so every other command line starts without it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from mfm_sim.cli.options import bad
from mfm_sim.run.scenario import Scenario

__all__ = ["DASK_OPT", "EXTRA_HINT", "open_executor", "scaling_bench", "sweep_executor"]

F = TypeVar("F", bound=Callable[..., Any])

EXTRA_HINT = "pip install 'mfm-sim[distributed]'"

DASK_OPT: Callable[[F], F] = click.option(
    "--dask",
    metavar="ADDRESS|local:N",
    default=None,
    help="Run the sweep's chunks on a Dask scheduler (tcp://host:8786), or on a local "
    "cluster of N worker processes (local:N). Results are the same as with --jobs.",
)


def _dask_module() -> Any:
    try:
        from mfm_sim.explore import dask as dask_mod
    except ImportError as exc:
        bad("--dask", f"needs Dask, which is not installed ({exc}): {EXTRA_HINT}")
    return dask_mod


@contextmanager
def open_executor(dask: str, scenarios: Sequence[Scenario]) -> Iterator[tuple[Executor, int]]:
    """The Dask pool for `dask` and how many chunks it runs at once; bad input exits 2."""
    from mfm_sim import __version__

    dask_mod = _dask_module()
    try:
        target = dask_mod.parse_target(dask)
        # The workers import the scenarios' own modules when they unpickle a chunk's options.
        modules = sorted({sc.build.__module__ for sc in scenarios})
        with dask_mod.open_pool(target, modules, __version__) as pool:
            yield pool, pool.workers
    except dask_mod.DaskSetupError as exc:
        bad("--dask", str(exc))


def sweep_executor(
    dask: str | None, jobs: int, scenarios: Sequence[Scenario]
) -> tuple[Executor | None, int]:
    """What a command's sweep runs on: `--jobs` local processes (no executor) or `--dask`.

    The cluster stays open until the command ends (click closes it with the context).
    """
    if dask is None:
        return None, jobs
    if jobs != 1:
        bad("--dask", "give --jobs or --dask, not both (a Dask cluster has its own workers)")
    executor, width = click.get_current_context().with_resource(open_executor(dask, scenarios))
    return executor, width


def scaling_bench(dask: str, schedules: int, rounds: int, json_path: str | None) -> int:
    """`mfm-sim bench --dask local:N`: print (and write) 1 worker against N."""
    from rich.table import Table

    from mfm_sim import __version__
    from mfm_sim.cli.options import stdout_console, write_output
    from mfm_sim.run.scenario import default_mix
    from mfm_sim.selfcheck.scaling import dask_scaling

    dask_mod = _dask_module()
    try:
        target = dask_mod.parse_target(dask)
    except dask_mod.DaskSetupError as exc:
        bad("--dask", str(exc))
    if target.local_workers is None:
        bad("--dask", "bench compares cluster sizes it starts itself: give local:N")
    mix = default_mix()
    seeds = max(1, schedules // len(mix))
    try:
        rows = dask_scaling(mix, seeds, target.local_workers, __version__, rounds)
    except dask_mod.DaskSetupError as exc:
        bad("--dask", str(exc))
    table = Table(
        title=f"Dask scaling: {seeds} seeds x {len(mix)} scenarios per cluster size, "
        f"best of {rounds} turns",
        title_justify="left",
    )
    for col in ("workers", "schedules", "wall s", "schedules/s", "speed-up", "efficiency"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r.workers),
            str(r.schedules),
            f"{r.wall_s:.2f}",
            f"{r.schedules_per_s:.0f}",
            f"{r.speedup:.2f}",
            f"{r.efficiency:.2f}",
        )
    stdout_console().print(table)
    if json_path:
        data = {"dask_scaling": [r.to_json() for r in rows]}
        write_output(json_path, json.dumps(data, indent=2) + "\n", "--json")
    return 0
