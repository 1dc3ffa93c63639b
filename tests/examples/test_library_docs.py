"""Every figure the library-user docs quote is rerun here, so none goes stale: the report of
the double charge (seed, events, timeline), the fix's seed counts, and the README's ten-line
test, which must be the shipped file."""

from __future__ import annotations

import re
from pathlib import Path

import mfm_sim.examples
from mfm_sim.examples.payments import ORDER, buggy_plan, fixed_plan
from mfm_sim.testing.check import CheckFailure, CheckResult, MfmSim

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "library-users.md").read_text()
README = (ROOT / "README.md").read_text()
TEN_LINES = (Path(mfm_sim.examples.__file__).parent / "test_payments.py").read_text()
NODE = "test_payments.py::test_first_version_double_charges"
# Lines of a report that depend on the machine: the Python version, where .mfm-sim/ is.
LOCAL = ("  replay key:", "  timeline:")


def _quoted_report() -> list[str]:
    block = GUIDE.split("```\n_____", 1)[1].split("```", 1)[0]
    lines = block.splitlines()[1:]  # the pytest header line of the test
    return [line for line in lines if not line.startswith(LOCAL)]


def test_the_quoted_report_is_what_a_run_prints() -> None:
    outcome = MfmSim(nodeid=NODE).run(buggy_plan, initial_context={"order": ORDER})
    assert isinstance(outcome, CheckFailure)
    fresh = [line for line in outcome.report.splitlines() if not line.startswith(LOCAL)]
    assert _quoted_report() == fresh
    # Every seed the guide's prose names is the one that fails.
    assert set(re.findall(r"\bseed (\d+)", GUIDE)) == {str(outcome.seed)}
    assert set(re.findall(r"--mfm-seed (\d+)", GUIDE)) == {str(outcome.seed)}


def test_the_quoted_counts_of_the_fix_are_what_a_run_prints() -> None:
    quoted = re.findall(r"test_charge_is_crash_safe: (\d+) schedules, .*", GUIDE)
    assert len(quoted) == 1
    outcome = MfmSim().run(fixed_plan, initial_context={"order": ORDER}, seeds=int(quoted[0]))
    assert isinstance(outcome, CheckResult)
    assert f"test_charge_is_crash_safe: {outcome.counts()}" in GUIDE


def test_the_readme_and_the_guide_show_the_shipped_ten_line_test() -> None:
    for doc in (README, GUIDE):
        assert f"```python\n{TEN_LINES}```" in doc
    # The README quotes no figure of its own: they are in the guide, checked above.
    section = README.split("## For library users", 1)[1].split("\n## ", 1)[0]
    assert not re.search(r"\d+ (faults|crashes|resumes)|seed \d+", section)
