"""`mfm-sim check-determinism`."""

from __future__ import annotations

import pytest

from tests.mfm_sim.cli.support import invoke


def test_check_determinism() -> None:
    pytest.importorskip("mfm_sim.explore.determinism")
    res = invoke(["check-determinism", "--seeds", "2", "--scenario", "linear"])
    assert res.exit_code == 0, res.output
    assert "ok: deterministic" in res.stdout


def test_more_seeds_than_the_check_takes_is_bad_input() -> None:
    from mfm_sim.cli.determinism import MAX_SEEDS

    res = invoke(["check-determinism", "--seed-range", f"0..{2**64 - 1}"])
    assert res.exit_code == 2 and f"at most {MAX_SEEDS}" in res.stderr
    assert len(res.stderr.splitlines()) == 1
