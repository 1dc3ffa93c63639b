"""Helpers of the CLI tests: run a command in click's CliRunner, the variant they break."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mfm_sim.cli.main import cli
from mfm_sim.selfcheck.variants import VARIANTS

__all__ = ["VARIANT", "db_args", "invoke", "needs_variant"]

VARIANT = "unfixed_orphan"
needs_variant = pytest.mark.skipif(VARIANT not in VARIANTS, reason="variant not registered")


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def db_args(tmp_path: Path, name: str = "db") -> list[str]:
    """A failure database of the test's own, so no test sees another's failures."""
    return ["--failures-dir", str(tmp_path / name)]
