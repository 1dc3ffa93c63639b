"""`mfm-sim run --dask`: the same JSON report as `--jobs`, bad input in one line, and Dask
loaded only when asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mfm_sim import explore
from tests.mfm_sim.cli.support import VARIANT, invoke, needs_variant

RUN = ["run", "--scenario", "linear,retry_heavy,child_runs", "--seed-range", "3..18"]


def _report(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    data.pop("timing")
    return data


@needs_variant
def test_dask_and_jobs_write_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    reports = []
    for how in (["--jobs", "2"], ["--dask", "local:2"]):
        # Each in its own directory with the same relative failure database, as two
        # checkouts of one repository would be.
        here = tmp_path / how[0].strip("-")
        here.mkdir()
        monkeypatch.chdir(here)
        out = here / "r.json"
        res = invoke([*RUN, *how, "--engine-variant", VARIANT, "--json", str(out)])
        assert res.exit_code == 1, res.output  # the variant's failures are compared too
        reports.append(_report(out))
    jobs, dask = reports
    assert jobs["sweep_failing"]
    assert dask == jobs


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--dask", "local:0"], "local:N needs a worker count of at least 1"),
        (["--dask", "local:2", "--jobs", "2"], "give --jobs or --dask, not both"),
        (["--dask", " "], "neither local:N nor a scheduler address"),
    ],
)
def test_bad_dask_options_are_one_line(args: list[str], says: str) -> None:
    pytest.importorskip("distributed")
    res = invoke(["run", "--seeds", "2", *args])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and says in res.output, res.output


def test_an_unreachable_scheduler_is_one_line() -> None:
    dask = pytest.importorskip("dask")
    # Nothing listens on port 1; Dask's own connect timeout, shortened for the test.
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        res = invoke(["run", "--seeds", "2", "--dask", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1, res.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in res.output


def test_without_the_extra_dask_is_named_with_the_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on a machine where `distributed` is not installed: importing it fails.
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "mfm_sim.explore.dask", raising=False)
    monkeypatch.delattr(explore, "dask", raising=False)
    res = invoke(["run", "--seeds", "2", "--dask", "local:1"])
    assert res.exit_code == 2
    assert "pip install 'mfm-sim[distributed]'" in res.output
    assert res.output.count("\n") == 1, res.output


def test_the_command_line_does_not_load_dask_unless_asked(tmp_path: Path) -> None:
    code = (
        "import sys; from mfm_sim.cli.main import main\n"
        "try: main(['run', '--seeds', '1', '--scenario', 'linear', '--failures-dir', 'db'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent.parent.parent / "build" if False else None,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
