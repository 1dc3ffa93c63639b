"""A replay's printed verdict."""

from __future__ import annotations

import pytest

from mfm_sim import get_scenario, simulate
from mfm_sim.report.collapse import collapse
from mfm_sim.report.replay import result_lines
from mfm_sim.selfcheck.variants import VARIANTS

VARIANT = "unfixed_orphan"


def test_a_passing_schedule() -> None:
    result = simulate(get_scenario("linear"), 3)
    lines = result_lines(result)
    assert lines[0] == "replay: linear seed 3: PASS (no violations)"
    assert lines[2] == f"  digest: {result.digest}"
    assert lines[4].startswith(f"  faults: {len(result.schedule.faults)} (")
    assert len(lines) == 5


@pytest.mark.skipif(VARIANT not in VARIANTS, reason="variant not registered")
def test_a_failing_schedule_names_each_violation_with_its_events() -> None:
    result = simulate(get_scenario("linear"), 3, variant=VARIANT)
    assert result.violations
    lines = result_lines(result, label="shrunk")
    assert lines[0] == f"shrunk: linear seed 3: FAIL ({len(result.violations)} violations)"
    cited = lines[5:]
    folded = collapse(result.violations)
    assert len(cited) == len(folded) < len(result.violations)  # repeats are folded
    for line, c in zip(cited, folded, strict=True):
        assert line.startswith(f"  invariant {c.first.invariant}: run ")
        assert line.endswith(c.first.message + c.suffix())
    assert sum(c.count for c in folded) == len(result.violations)
    assert any("(x" in line for line in cited)
