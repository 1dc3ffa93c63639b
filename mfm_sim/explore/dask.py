"""A sweep's chunks on a Dask cluster: the `concurrent.futures` executor behind `--dask`.

`mfm-sim run --dask tcp://host:8786` sends the sweep's chunks to a running Dask scheduler;
`--dask local:N` starts a `LocalCluster` of N single-threaded worker processes. Either way the
sweep sees a `concurrent.futures.Executor` (the Dask client's `get_executor()`) and runs its one
code path: the same chunks, the same order-independent merge, so the report is the one `--jobs`
gives for the same seeds.

A worker lost mid-sweep has its chunks recomputed by Dask on another worker. That is safe
because a chunk is a pure function of its seeds and the sweep's options: a schedule reads no
wall clock, no global randomness and no state left by an earlier one, so the recomputed chunk
is bit for bit the one that was lost, and a chunk's result counts once (the lost copy never
reached the client).

Before anything is submitted, every worker is probed: it must import mfm-sim and the modules
the scenarios live in, run the client's mfm-sim and Python versions, and have one thread (an
engine variant patches engine functions for the whole process while a schedule runs, so two
schedules must never share a process). A worker that fails is named in one line.

This module is the only one that imports Dask; the CLI loads it only when `--dask` is given.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import Any

import attrs
from distributed import Client, LocalCluster

from mfm_sim.explore.sweep import tune_collector

__all__ = [
    "LOCAL_PREFIX",
    "DaskPool",
    "DaskSetupError",
    "Target",
    "check_workers",
    "open_pool",
    "parse_target",
    "prepare_worker",
    "probe_workers",
    "worker_problem",
]

LOCAL_PREFIX = "local:"
_INSTALL_HINT = "install the client's mfm-sim (and your scenarios) on every worker"
WORKER_TIMEOUT_S = 30.0  # waiting for the scheduler's first worker
# (Reaching the scheduler takes Dask's own `distributed.comm.timeouts.connect`, 30 s.)


class DaskSetupError(ValueError):
    """The cluster cannot run this sweep; the message is one line for the user."""


@attrs.frozen
class Target:
    """Where `--dask` points: a scheduler's address, or a local cluster of N workers."""

    address: str | None = None
    local_workers: int | None = None


def parse_target(text: str) -> Target:
    """`local:N` or a scheduler address (`tcp://host:8786`, `host:8786`)."""
    value = text.strip()
    if value.startswith(LOCAL_PREFIX):
        count = value[len(LOCAL_PREFIX) :].strip()
        if not count.isdigit() or int(count) < 1:
            raise DaskSetupError(
                f"{text!r}: local:N needs a worker count of at least 1 (for example local:2)"
            )
        return Target(local_workers=int(count))
    if not value or any(c.isspace() for c in value):
        raise DaskSetupError(
            f"{text!r} is neither local:N nor a scheduler address (tcp://host:8786)"
        )
    return Target(address=value)


def _probe_expression(modules: Sequence[str]) -> str:
    """What a worker evaluates: import `modules`, then (mfm-sim version, Python version).

    The probe is a string for the builtin `eval` because a probe function of ours could not
    even be unpickled on a worker that lacks mfm-sim: it would fail there with Dask's
    deserialization error instead of telling what is missing.
    """
    names = ["mfm_sim", *modules]
    return (
        "(lambda il: ([il.import_module(m) for m in "
        f"{names!r}], (il.import_module('mfm_sim').__version__, "
        "__import__('platform').python_version()))[1])(__import__('importlib'))"
    )


def probe_workers(client: Client, modules: Sequence[str] = ()) -> dict[str, Any]:
    """Each worker's (mfm-sim version, Python version), or the exception its probe raised."""
    results: dict[str, Any] = client.run(eval, _probe_expression(modules), on_error="return")
    return results


def worker_problem(
    address: str, probe: Any, nthreads: int, version: str, python: str
) -> str | None:
    """Why the worker at `address` cannot run this client's sweep; None if it can."""
    if isinstance(probe, BaseException):
        what = " ".join(str(probe).split()) or type(probe).__name__
        return (
            f"worker {address} cannot import mfm-sim and the scenarios' modules "
            f"({type(probe).__name__}: {what}): {_INSTALL_HINT}"
        )
    theirs, their_python = probe
    if theirs != version:
        return (
            f"worker {address} runs mfm-sim {theirs}, this client runs {version}: {_INSTALL_HINT}"
        )
    if their_python != python:
        # The replay key holds the Python version: a schedule is only promised to repeat on
        # the same one.
        return f"worker {address} runs Python {their_python}, this client runs {python}"
    if nthreads != 1:
        return (
            f"worker {address} has {nthreads} threads; start workers with `--nthreads 1` "
            "(schedules must not share a process)"
        )
    return None


def check_workers(
    client: Client, modules: Sequence[str], version: str, python: str | None = None
) -> int:
    """Refuse (DaskSetupError) unless every worker can run the sweep; return their count."""
    nthreads: dict[str, int] = client.nthreads()
    probes = probe_workers(client, modules)
    py = python if python is not None else platform.python_version()
    problems = [
        p
        for addr in sorted(probes)
        if (p := worker_problem(addr, probes[addr], nthreads.get(addr, 1), version, py))
    ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DaskSetupError(problems[0] + more)
    if not probes:
        raise DaskSetupError("the Dask scheduler has no workers")
    return len(probes)


def prepare_worker(dask_worker: Any) -> None:
    """Run on each worker before a sweep (`client.run` passes the worker).

    What a `--jobs` worker does at start (a heap tuned for many short schedules), and Dask's
    statistical profiler stopped: every 10 ms it takes the interpreter lock to walk the
    running chunk's stack, which costs a pure-Python sweep about half its speed. A worker
    restarted after a loss runs with both defaults: slower, never different.
    """
    tune_collector()
    for name in ("profile", "profile-cycle"):
        callback = dask_worker.periodic_callbacks.pop(name, None)
        if callback is not None:
            callback.stop()


class DaskPool(Executor):
    """The Dask client's executor, shaped like the `ProcessPoolExecutor` a sweep expects.

    `workers` is how many chunks run at once (one per single-threaded worker); `shutdown`
    takes `cancel_futures` (the Dask executor does not), so a stopped sweep leaves no work
    queued on a shared cluster, and leaves the pool usable by another sweep.
    """

    def __init__(self, client: Client, workers: int) -> None:
        self.client = client
        self.workers = workers
        # pure=False: a chunk is run whenever submitted, never served from another sweep's
        # result that happens to share its arguments.
        self._executor = client.get_executor(pure=False)
        self._submitted: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = self._executor.submit(fn, *args, **kwargs)
        self._submitted = [f for f in self._submitted if not f.done()]
        self._submitted.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for future in self._submitted:
                future.cancel()  # also cancels the Dask future behind it
        self._submitted = []
        self._executor.shutdown(wait=wait)
        # One sweep's shutdown, not the cluster's: `open_pool` closes the client, and the
        # next sweep on this pool gets a fresh executor.
        self._executor = self.client.get_executor(pure=False)


@contextmanager
def open_pool(
    target: Target, modules: Sequence[str], version: str, python: str | None = None
) -> Iterator[DaskPool]:
    """Connect to (or start) the cluster, check its workers, and yield the pool; close what
    was opened on the way out."""
    cluster: LocalCluster | None = None
    try:
        if target.local_workers is not None:
            cluster = LocalCluster(
                n_workers=target.local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: two clusters never collide on 8787
                # Dask's warnings about its own workers (killed after Ctrl-C, restarted
                # after a loss) are not the sweep's news; its errors still show.
                silence_logs=logging.ERROR,
            )
            address = cluster.scheduler_address
        else:
            address = target.address or ""
        try:
            client = Client(address)
        except (OSError, TimeoutError) as exc:
            what = " ".join(str(exc).split()) or type(exc).__name__
            raise DaskSetupError(f"cannot reach the Dask scheduler at {address}: {what}") from exc
        try:
            try:
                client.wait_for_workers(1, timeout=WORKER_TIMEOUT_S)
            except TimeoutError as exc:
                raise DaskSetupError(
                    f"no Dask worker joined the scheduler at {address} "
                    f"within {WORKER_TIMEOUT_S:.0f}s"
                ) from exc
            workers = check_workers(client, modules, version, python)
            client.run(prepare_worker)
            yield DaskPool(client, workers)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
