"""The worked example of docs/library-users.md: the double charge is caught and named; the fix
passes 1,000 seeds; the user's test file runs as written."""

from __future__ import annotations

from pathlib import Path

import hypothesis  # noqa: F401  (imported once here, not again by the in-process run)
import pytest

import mfm_sim.examples
from mfm_sim.examples.payments import ORDER, buggy_plan, fixed_plan
from mfm_sim.testing.pytest_plugin import CheckFailure, CheckResult, MfmSim

pytest_plugins = ["pytester"]
EXAMPLES = Path(mfm_sim.examples.__file__).parent
NODE = "test_payments.py::test_first_version_double_charges"


def test_the_first_version_double_charges_and_the_report_names_the_handler() -> None:
    outcome = MfmSim(nodeid=NODE).run(buggy_plan, initial_context={"order": ORDER})
    assert isinstance(outcome, CheckFailure)
    assert outcome.invariant == "effects_at_most_once"
    assert outcome.handlers[0] == "payments.charge.card"
    report = outcome.report
    assert report.startswith(f"mfm-sim: seed {outcome.seed} broke invariant effects_at_most_once")
    assert "handler:   payments.charge.card" in report
    assert "applied ledger effect 'alice:2500:unkeyed' a second time" in report
    assert "without a fact key" in report and "fix:" in report
    assert "[crash_transparency]" in report  # the receipt shows the doubled balance too
    assert "timeline (excerpt" in report
    assert f"reproduce: pytest {NODE} --mfm-seed {outcome.seed}" in report
    # The seed replays the same failure.
    again = MfmSim(nodeid=NODE, only_seed=outcome.seed).run(
        buggy_plan, initial_context={"order": ORDER}
    )
    assert isinstance(again, CheckFailure) and again.report == report


def test_the_fixed_handler_passes_1000_seeds() -> None:
    outcome = MfmSim().run(fixed_plan, initial_context={"order": ORDER}, seeds=1000)
    assert isinstance(outcome, CheckResult), getattr(outcome, "report", "")
    assert len(outcome.seeds) == 1000
    assert outcome.crashes > 100 and outcome.resumes > 100  # it was really exercised


def test_the_users_test_file_runs_as_written(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        str(EXAMPLES / "test_payments.py"),
        "--mfm-seeds",
        "80",  # 0.3.0's streams: seed 61 is the first to catch the double charge
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(EXAMPLES),
        "-o",
        f"mfm_sim_dir={pytester.path / '.mfm-sim'}",
    )
    result.assert_outcomes(passed=1, xfailed=1)
    # The xfailed check saved its schedule where it was told, not into the package.
    assert list((pytester.path / ".mfm-sim" / "failures").glob("test_payments.py_*.json"))
    assert not (EXAMPLES / ".mfm-sim").exists()
