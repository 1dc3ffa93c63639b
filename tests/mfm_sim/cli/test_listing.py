"""`mfm-sim list`: every scenario, fault kind, invariant and engine variant."""

from __future__ import annotations

import attrs
import pytest

from mfm_sim.cli import listing as listing_mod
from mfm_sim.faults.kinds import FAULTS
from mfm_sim.selfcheck.variants import VARIANTS
from tests.mfm_sim.cli.support import invoke


def test_list_names_everything() -> None:
    res = invoke(["list"])
    assert res.exit_code == 0
    for word in ("linear", "crash_before_effect", "attempt_envelopes", "liveness"):
        assert word in res.stdout
    for name in VARIANTS:
        assert name in res.stdout


def test_list_gives_each_fault_kind_its_meaning_from_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = {k: attrs.evolve(s, meaning=f"means-{i}") for i, (k, s) in enumerate(FAULTS.items())}
    monkeypatch.setattr(listing_mod, "FAULTS", table)
    res = invoke(["list"])
    assert res.exit_code == 0
    section = res.stdout.split("fault kinds", 1)[1].split("invariants", 1)[0]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in section.splitlines()]
    kinds = {k.value for k in FAULTS}
    assert [r for r in rows if r and r[0] in kinds] == [
        [k.value, f"means-{i}"] for i, k in enumerate(FAULTS)
    ]
    assert any(r and r[0] == "lying-log (group)" for r in rows)  # the names --faults also takes
