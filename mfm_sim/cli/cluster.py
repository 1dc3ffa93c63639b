"""`--dask ADDRESS|local:N`: the option, and the executor it opens for a sweep.

Dask is imported only when the option is given (`mfm_sim.explore.dask` is the one module
that imports it), so every other command line starts without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from mfm_sim.cli.options import bad
from mfm_sim.run.scenario import Scenario

__all__ = ["DASK_OPT", "EXTRA_HINT", "open_executor", "sweep_executor"]

F = TypeVar("F", bound=Callable[..., Any])

EXTRA_HINT = "pip install 'mfm-sim[distributed]'"

DASK_OPT: Callable[[F], F] = click.option(
    "--dask",
    metavar="ADDRESS|local:N",
    default=None,
    help="Run the sweep's chunks on a Dask scheduler (tcp://host:8786), or on a local "
    "cluster of N worker processes (local:N). Results are the same as with --jobs.",
)


@contextmanager
def open_executor(dask: str, scenarios: Sequence[Scenario]) -> Iterator[tuple[Executor, int]]:
    """The Dask pool for `dask` and how many chunks it runs at once; bad input exits 2."""
    try:
        from mfm_sim.explore import dask as dask_mod
    except ImportError as exc:
        bad("--dask", f"needs Dask, which is not installed ({exc}): {EXTRA_HINT}")
    from mfm_sim import __version__

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
