"""Stopping a sweep from outside: stop signals end it promptly with what it found, no worker
outlives it, and a worker that dies has its chunk run again or reported by seed.

The workers are real processes (the sweep's own pool); they are found through /proc."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import attrs
import pytest

from mfm_sim import get_scenario
from mfm_sim.explore.interrupt import (
    Interrupted,
    RaiseOnStopSignals,
    StopSignals,
    exit_status,
    signal_name,
)
from mfm_sim.explore.sweep import SweepResult, sweep
from mfm_sim.run.scenario import Scenario
from mfm_sim.selfcheck.variants import VARIANTS
from tests.mfm_sim.processes import alive, children, linux_only, wait_for_children

VARIANT = "unfixed_orphan"


def _pool_workers(before: set[int]) -> set[int]:
    """This process's children that the sweep made: in a full test session the process may
    already have others (a multiprocessing resource tracker, another test's helpers)."""
    return children(os.getpid()) - before


def _comparable(res: SweepResult) -> dict[str, object]:
    d = attrs.asdict(res, recurse=False)
    for volatile in ("wall_s", "worker_deaths"):
        d.pop(volatile)
    d["failures"] = [(r.scenario, r.seed, r.digest) for r in res.failures]
    return d


# ------------------------------------------------------------------------------ units


def test_the_first_stop_signal_is_a_flag_and_the_second_raises() -> None:
    with StopSignals() as stop:
        assert stop.received is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.received == signal.SIGTERM
        with pytest.raises(Interrupted) as info:
            os.kill(os.getpid(), signal.SIGHUP)
    assert info.value.signum == signal.SIGHUP
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back on exit
    assert exit_status(signal.SIGINT) == 130 and signal_name(signal.SIGTERM) == "SIGTERM"


def test_outside_a_sweep_sigterm_raises_like_ctrl_c() -> None:
    with pytest.raises(KeyboardInterrupt) as info, RaiseOnStopSignals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # never reached: the handler raises first
    assert isinstance(info.value, Interrupted) and info.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


# ------------------------------------------------------------------------------ sweeps


@linux_only
@pytest.mark.skipif(VARIANT not in VARIANTS, reason="engine variant not registered")
def test_sigint_stops_a_sweep_promptly_keeps_its_failures_and_kills_its_workers() -> None:
    workers: set[int] = set()
    sent: list[float] = []
    before = children(os.getpid())

    def progress(done: int, planned: int, failing: int) -> None:
        workers.update(_pool_workers(before))
        if failing and not sent:
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

    res = sweep(
        [get_scenario("linear")],
        range(10**6),
        jobs=2,
        variant=VARIANT,
        progress=progress,
        stop_signals=True,
    )
    took = time.monotonic() - sent[0]
    assert took < 2.0, f"{took:.1f}s from SIGINT to the sweep's return"
    assert res.interrupted == signal.SIGINT and res.partial == "interrupted by SIGINT"
    assert res.failing >= 1 and res.failures, "what was found before the signal is kept"
    assert 0 < res.seeds_run < 10**6 and res.schedules == res.seeds_run
    assert workers and not [p for p in workers if alive(p)], "a worker outlived the sweep"
    # Holes (chunks in flight when it stopped, before the furthest seed run) are listed.
    assert all(u.reason == "interrupted by SIGINT" for u in res.unrun)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@linux_only
def test_without_stop_signals_ctrl_c_raises_and_still_kills_the_workers() -> None:
    """A library caller (a test, say) is not handed a partial result it might take as a pass."""
    workers: set[int] = set()
    before = children(os.getpid())

    def progress(done: int, planned: int, failing: int) -> None:
        workers.update(_pool_workers(before))
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        sweep([get_scenario("linear")], range(10**6), jobs=2, progress=progress)
    assert workers and not [p for p in workers if alive(p)], "a worker outlived the sweep"


@linux_only
def test_a_killed_worker_has_its_chunk_run_again_and_the_result_is_unchanged() -> None:
    killed: list[int] = []
    before = children(os.getpid())

    def progress(done: int, planned: int, failing: int) -> None:
        if not killed and (kids := sorted(_pool_workers(before))):
            killed.append(kids[0])
            os.kill(kids[0], signal.SIGKILL)

    scs = [get_scenario("linear")]
    hit = sweep(scs, range(160), jobs=2, progress=progress)
    assert killed, "no worker was there to kill"
    assert hit.worker_deaths == 1 and hit.partial is None and hit.unrun == ()
    clean = sweep(scs, range(160), jobs=2)
    assert _comparable(hit) == _comparable(clean)  # nothing lost, nothing counted twice
    assert hit.seeds_run == 160 and hit.ok


def _dies(rng: object) -> object:
    os._exit(9)  # the worker process dies, as under the OOM killer


@linux_only
def test_a_chunk_that_always_kills_its_worker_is_reported_by_seed() -> None:
    fatal = Scenario("dies", "kills its worker process", _dies)
    res = sweep([fatal], range(3), jobs=2, coverage=False)
    assert res.seeds_run == 0 and res.worker_deaths >= 3
    assert sorted(s for u in res.unrun for s in u.seeds) == [0, 1, 2]
    assert all("worker died 3 times" in u.reason for u in res.unrun)
    assert res.partial == "3 seeds not run: their worker process kept dying"


@linux_only
def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    """`kill -9` of the process that owns the pool: the kernel kills its workers."""
    import subprocess

    code = (
        "from mfm_sim import get_scenario\n"
        "from mfm_sim.explore.sweep import sweep\n"
        "sweep([get_scenario('linear')], range(10**6), jobs=2)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        kids = wait_for_children(proc.pid, 2)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 2
        while [p for p in kids if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in kids if alive(p)], "workers outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
