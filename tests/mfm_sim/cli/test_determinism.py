"""`mfm-sim check-determinism`."""

from __future__ import annotations

import pytest

from tests.mfm_sim.cli.support import invoke


def test_check_determinism() -> None:
    pytest.importorskip("mfm_sim.explore.determinism")
    res = invoke(["check-determinism", "--seeds", "2", "--scenario", "linear"])
    assert res.exit_code == 0, res.output
    assert "ok: deterministic" in res.stdout
