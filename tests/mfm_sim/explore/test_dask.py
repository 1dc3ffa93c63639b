"""Sweeps on a real Dask cluster: a `LocalCluster` of worker processes, and `dask worker`
processes started the way a user starts them on other hosts (no mock anywhere)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

distributed = pytest.importorskip("distributed")

from mfm_sim import __version__  # noqa: E402
from mfm_sim.explore.dask import (  # noqa: E402
    DaskSetupError,
    Target,
    check_workers,
    open_pool,
    parse_target,
    worker_problem,
)
from mfm_sim.explore.sweep import IN_FLIGHT_PER_JOB, SweepResult, sweep  # noqa: E402
from mfm_sim.run.scenario import Scenario, all_scenarios  # noqa: E402
from mfm_sim.selfcheck.variants import VARIANTS  # noqa: E402

VARIANT = "unfixed_orphan"  # a broken engine: the sweeps below have failures to compare
SEEDS = range(12)


def _modules(scs: list[Scenario]) -> list[str]:
    return sorted({sc.build.__module__ for sc in scs})


def _timeless(result: SweepResult) -> SweepResult:
    return attrs.evolve(result, wall_s=0.0)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two single-threaded worker processes under nannies (a killed one is restarted)."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c:
        yield c


@pytest.fixture(scope="module")
def expected() -> SweepResult:
    """The same sweep in this process, with no executor at all."""
    assert VARIANT in VARIANTS
    return sweep(all_scenarios(), SEEDS, jobs=1, variant=VARIANT)


def _dask_sweep(cluster: Any, **kwargs: Any) -> SweepResult:
    scs = all_scenarios()
    target = Target(address=cluster.scheduler_address)
    with open_pool(target, _modules(scs), __version__) as pool:
        assert pool.workers == 2
        return sweep(scs, SEEDS, jobs=pool.workers, executor=pool, variant=VARIANT, **kwargs)


def test_a_dask_sweep_equals_the_local_one(cluster: Any, expected: SweepResult) -> None:
    got = _dask_sweep(cluster)
    assert expected.failing > 0  # failures, their order and the cap are compared too
    assert _timeless(got) == _timeless(expected)


def test_workers_are_prepared_for_a_sweep(cluster: Any) -> None:
    scs = all_scenarios()
    with open_pool(Target(address=cluster.scheduler_address), _modules(scs), __version__) as pool:
        callbacks = pool.client.run(lambda dask_worker: sorted(dask_worker.periodic_callbacks))
    assert callbacks and all("profile" not in names for names in callbacks.values())
    assert all("heartbeat" in names for names in callbacks.values())  # the rest untouched


def test_a_killed_worker_s_chunks_are_recomputed_and_the_result_is_the_same(
    cluster: Any, expected: SweepResult
) -> None:
    scs = all_scenarios()
    killed: list[tuple[str, int]] = []
    with open_pool(Target(address=cluster.scheduler_address), _modules(scs), __version__) as pool:
        pids: dict[str, int] = pool.client.run(os.getpid)

        def kill_a_busy_worker(done: int, planned: int, failing: int) -> None:
            if killed:
                return
            busy = sorted(w for w, keys in pool.client.processing().items() if keys)
            if busy and busy[0] in pids:
                os.kill(pids[busy[0]], signal.SIGKILL)  # mid-chunk: no goodbye to anyone
                killed.append((busy[0], pids[busy[0]]))

        got = sweep(
            scs,
            SEEDS,
            jobs=pool.workers,
            executor=pool,
            variant=VARIANT,
            progress=kill_a_busy_worker,
        )
        after = pool.client.run(os.getpid)
    assert killed, "no worker was busy when the first chunk came back"
    _, pid = killed[0]
    assert pid not in after.values()  # that process is gone; its chunks ran elsewhere
    assert _timeless(got) == _timeless(expected)


def test_an_interrupted_sweep_leaves_no_work_on_the_cluster(cluster: Any) -> None:
    scs = all_scenarios()

    def interrupt(done: int, planned: int, failing: int) -> None:
        # What Ctrl-C raises in the main thread, once a chunk is in (the sweep also reports
        # progress while it waits, before any chunk has finished).
        if done:
            raise KeyboardInterrupt

    log = cluster.scheduler.transition_log
    seen = len(log)
    target = Target(address=cluster.scheduler_address)
    with (
        open_pool(target, _modules(scs), __version__) as pool,
        pytest.raises(KeyboardInterrupt),
    ):
        sweep(scs, range(100), jobs=pool.workers, executor=pool, progress=interrupt)
    submitted = pool.workers * IN_FLIGHT_PER_JOB
    finished = [t.key for t in list(log)[seen:] if t.finish == "memory"]
    # The chunks still queued were cancelled, not left to run for nobody: only the first
    # and those already on a worker finished.
    assert 1 <= len(finished) < submitted, finished


# ------------------------------------------------------------------------------ worker checks


def _worker(address: str, cwd: Path, python: str, env: dict[str, str], threads: int = 1) -> Any:
    argv = [python, "-m", "distributed.cli.dask_worker", address, "--no-nanny"]
    argv += ["--nthreads", str(threads), "--no-dashboard"]
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def odd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A scheduler with three `dask worker` processes that cannot run this client's sweep:
    one in a Python environment with Dask but without mfm-sim, one where another mfm-sim
    version is installed, one with two threads. Returns the address and which is which."""
    root = tmp_path_factory.mktemp("odd")
    # An environment without mfm-sim: a fresh venv that sees our site-packages as a plain
    # directory, so Dask imports but the editable install's hook (a .pth there) never runs.
    bare = root / "bare"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(bare)], check=True)  # type: ignore[attr-defined]
    bare_python = bare / "bin" / "python"
    site = subprocess.run(
        [str(bare_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "ours.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Another mfm-sim version, first on the worker's path.
    other = root / "other" / "mfm_sim"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text('__version__ = "0.0.1"\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0") as c:
        addr = c.scheduler_address
        procs = [
            _worker(addr, root, str(bare_python), env),
            _worker(addr, root, sys.executable, {**env, "PYTHONPATH": str(other.parent)}),
            _worker(addr, root, sys.executable, env, threads=2),
        ]
        try:
            with distributed.Client(addr) as client:
                client.wait_for_workers(3, timeout=60)
                pids = client.run(os.getpid)
            by_pid = {
                p.pid: name for p, name in zip(procs, ("bare", "other", "threads"), strict=True)
            }
            yield addr, {w: by_pid[pid] for w, pid in pids.items()}
        finally:
            for p in procs:
                p.kill()
                p.wait()


def test_each_unfit_worker_is_named_for_what_it_lacks(
    odd_cluster: tuple[str, dict[str, str]],
) -> None:
    addr, which = odd_cluster
    with distributed.Client(addr) as client, pytest.raises(DaskSetupError) as err:
        check_workers(client, ["mfm_scenarios.linear"], __version__)
    line = str(err.value)
    assert "\n" not in line and "(and 2 more)" in line
    problems = {
        which[w]: worker_problem(w, probe, client_threads, __version__, py)
        for w, probe, client_threads, py in _probes(addr)
    }
    assert "cannot import mfm-sim" in str(problems["bare"])
    assert "runs mfm-sim 0.0.1, this client runs" in str(problems["other"])
    assert "has 2 threads" in str(problems["threads"])


def _probes(addr: str) -> list[tuple[str, Any, int, str]]:
    import platform

    from mfm_sim.explore.dask import probe_workers

    with distributed.Client(addr) as client:
        threads = client.nthreads()
        probes = probe_workers(client, ["mfm_scenarios.linear"])
    return [(w, probes[w], threads[w], platform.python_version()) for w in sorted(probes)]


def test_the_command_refuses_an_unfit_cluster_in_one_line(
    odd_cluster: tuple[str, dict[str, str]],
) -> None:
    addr, _ = odd_cluster
    from click.testing import CliRunner

    from mfm_sim.cli.main import cli

    res = CliRunner().invoke(cli, ["run", "--seeds", "2", "--dask", addr])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mfm-sim: error: --dask: worker "), res.output
    assert "harness bug" not in res.output and "Traceback" not in res.output


# ------------------------------------------------------------------------------ pure parts


def test_targets_parse() -> None:
    assert parse_target("local:3") == Target(local_workers=3)
    assert parse_target(" tcp://h:8786 ") == Target(address="tcp://h:8786")
    for bad in ("local:0", "local:x", "", "a b"):
        with pytest.raises(DaskSetupError):
            parse_target(bad)


def test_a_fit_worker_has_no_problem_and_each_misfit_one() -> None:
    ok = worker_problem("w", ("1.0", "3.11.7"), 1, "1.0", "3.11.7")
    assert ok is None
    assert "cannot import" in str(worker_problem("w", ImportError("no"), 1, "1.0", "3.11.7"))
    assert "runs mfm-sim 0.9" in str(worker_problem("w", ("0.9", "3.11.7"), 1, "1.0", "3.11.7"))
    assert "Python 3.12.0" in str(worker_problem("w", ("1.0", "3.12.0"), 1, "1.0", "3.11.7"))
    assert "4 threads" in str(worker_problem("w", ("1.0", "3.11.7"), 4, "1.0", "3.11.7"))
