"""`Violation`: one line that names the invariant, seed, run and seqs."""

from __future__ import annotations

from mfm_sim.invariants.violation import Violation
from tests.mfm_sim.logs import (
    RUN_ID,
)


def test_violation_describe_is_one_line():
    v = Violation("order", str(RUN_ID), (3, 4), "S2 entered before S1 completed", 99)
    line = v.describe()
    assert "\n" not in line
    assert line.startswith("[order] seed=99 run=00000000 seqs=3,4")
    assert "S2 entered" in line
    assert (
        Violation("liveness", None, (), "stuck", 1).describe()
        == "[liveness] seed=1 run=- seqs=-: stuck"
    )
