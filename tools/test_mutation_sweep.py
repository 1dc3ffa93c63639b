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

from mfm_sim.cli.main import cli
from mfm_sim.run.scenario import all_scenarios

__all__ = ["SEEDS", "run_sweep"]

SEEDS = 200  # seeds 0..SEEDS-1 of every scenario: fixed, so a mutant's verdict is too
_NAMES = sorted(s.name for s in all_scenarios())


def run_sweep(name: str, seeds: int, failures_dir: Path) -> tuple[int, str]:
    """`mfm-sim run --scenario NAME --seeds N` in this process: (exit code, output)."""
    args = ["run", "--scenario", name, "--seeds", str(seeds), "--failures-dir", str(failures_dir)]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


@pytest.mark.parametrize("name", _NAMES)
def test_sweep(name: str, tmp_path: Path) -> None:
    code, output = run_sweep(name, SEEDS, tmp_path / "failures")
    assert code == 0, output[-2000:]
