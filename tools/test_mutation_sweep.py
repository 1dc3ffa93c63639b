"""The test command of mutation testing: the product's own sweep, and nothing else.

One pytest test per registered scenario, each running ``mfm-sim run --scenario NAME --seeds
SEEDS`` in-process through the CLI (click's `CliRunner` on `mfm_sim.cli.main.cli`, with a fresh
`--failures-dir`, so no saved schedule is replayed) and asserting that it exits 0: a mutant is
killed exactly when `mfm-sim run` would report it (a violation, exit 1) or fail (an exception
escaping, any other status). No check of its own, so the figure in docs/mutation.md measures
the product. In-process, so mutmut's trampolines see which engine functions each test runs.

Not collected by the normal test run (``testpaths = ["tests"]``); mutmut runs it
(`pyproject.toml` `[tool.mutmut]`), or by hand: ``pytest tools/test_mutation_sweep.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mfm_engine import config, hashing, read_back
from mfm_engine.runtime import engine as runtime_engine

from mfm_sim.cli.main import cli
from mfm_sim.run.scenario import all_scenarios

__all__ = ["GENERATED_SEEDS", "SEEDS", "fresh_process_memos", "run_sweep", "seeds_of"]

# Seeds 0..N-1 of every scenario: fixed, so a mutant's verdict is too. The generated workload
# draws the whole handler API and every fault kind swarm-style, so it gets the most seeds; the
# hand-written scenarios each drive one behaviour and need fewer. `stopped_children` is cheap
# (a few milliseconds a schedule) and its rare path, a kept engine handed a task an earlier
# loop left, needs a fault at one of a few points, so it gets as many as `generated`. A
# surviving mutant runs all of them, so this sum (1,320 schedules) is what one survivor costs.
SEEDS = 60
GENERATED_SEEDS = 300
_MANY_SEEDS = ("generated", "stopped_children")
_NAMES = sorted(s.name for s in all_scenarios())


def fresh_process_memos() -> None:
    """Forget what the engine memoizes per process, as a new `mfm-sim run` process starts.

    mutmut runs each mutant in a worker forked from a process that already ran every test
    on the original engine, so these memos arrive warm: a secret verdict cached for every
    string the sweep sends, every artifact id the sweep writes marked as validated JSON. A
    mutant of the code those memos skip (the secret check of a string, the re-validation of
    bytes read back) would then never run, and would "survive" a sweep that kills it in any
    fresh process. Each is transparent for a correct engine (a pure function's verdict; an id
    names its bytes), so clearing them changes no verdict of the original.
    """
    hashing._secret_verdicts.clear()
    read_back._validated.clear()
    runtime_engine._last_order = None
    config._ms.cache_clear()


def run_sweep(name: str, seeds: int, failures_dir: Path) -> tuple[int, str]:
    """`mfm-sim run --scenario NAME --seeds N` in this process, its memos fresh: (exit code,
    output)."""
    fresh_process_memos()
    # `-x`: a mutant is killed by its first failing schedule, so the rest need not run (the
    # verdict is the same; a kill costs a fraction of a survivor).
    args = [
        "run",
        "--scenario",
        name,
        "--seeds",
        str(seeds),
        "-x",
        "--failures-dir",
        str(failures_dir),
    ]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


def seeds_of(name: str) -> int:
    """The fixed seed count of scenario `name` in the mutation sweep."""
    return GENERATED_SEEDS if name in _MANY_SEEDS else SEEDS


@pytest.mark.parametrize("name", _NAMES)
def test_sweep(name: str, tmp_path: Path) -> None:
    code, output = run_sweep(name, seeds_of(name), tmp_path / "failures")
    assert code == 0, output[-2000:]
