"""A replay's printed verdict."""

from __future__ import annotations

import pytest

from mfm_sim import get_scenario, simulate
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
    assert len(cited) == len(result.violations)
    for line, v in zip(cited, result.violations, strict=True):
        assert line.startswith(f"  invariant {v.invariant}: run ")
        assert line.endswith(v.message)
