"""The pytest plugin, run the way a user runs it (pytester): seeds, reports, reproduction."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import hypothesis  # noqa: F401  (imported once here, not again by every in-process run)
import pytest

pytest_plugins = ["pytester"]

# A user's test module: a plan whose charge state is (or is not) crash-safe.
USER_TEST = """
from mfm_engine import DependencyEdge, ExecutionPlan, IoCall, StateGraph, StateMeta, StateNode

class Charge:
    def __init__(self, keyed):
        self.keyed = keyed

    def meta(self):
        return StateMeta()

    async def handle(self, ctx, io, events):
        key = "charge:" + ctx.read("order")
        request = {"op": "charge", "account": "alice", "amount": 10}
        if self.keyed:
            request["idempotency_key"] = key
        receipt = await io.call(IoCall("ledger", request, key if self.keyed else None))
        ctx.write("receipt", receipt)

class Done:
    def meta(self):
        return StateMeta()

    async def handle(self, ctx, io, events):
        ctx.write("done", True)

def plan(keyed):
    states = [StateNode("pay.charge.card", Charge(keyed)), StateNode("pay.mark.done", Done())]
    edges = [DependencyEdge("pay.charge.card", "pay.mark.done")]
    return ExecutionPlan("pay", StateGraph(states, edges))

def test_charge(mfm_sim):
    mfm_sim.check(lambda: plan(KEYED), initial_context={"order": "o1"})
"""


def _user(pytester: pytest.Pytester, keyed: bool) -> None:
    pytester.makepyfile(test_user=USER_TEST + f"\nKEYED = {keyed}\n")


def _failing_seed(text: str) -> int:
    match = re.search(r"mfm-sim: seed (\d+) broke invariant (\w+)", text)
    assert match, text
    return int(match.group(1))


def test_failing_handler_reports_seed_invariant_handler_and_command(
    pytester: pytest.Pytester,
) -> None:
    _user(pytester, keyed=False)
    result = pytester.runpytest("--mfm-seeds", "30", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    seed = _failing_seed(out)
    assert "broke invariant effects_at_most_once" in out
    assert "handler:   pay.charge.card" in out
    assert "a second time" in out
    assert re.search(r"events:    seqs \d+", out)
    assert "timeline (excerpt" in out
    assert f"reproduce: pytest test_user.py::test_charge --mfm-seed {seed}" in out


def test_mfm_seed_reproduces_the_failure(pytester: pytest.Pytester) -> None:
    _user(pytester, keyed=False)
    first = pytester.runpytest("--mfm-seeds", "30", "-p", "no:cacheprovider")
    seed = _failing_seed(first.stdout.str())
    again = pytester.runpytest("--mfm-seed", str(seed), "-p", "no:cacheprovider")
    again.assert_outcomes(failed=1)
    assert _failing_seed(again.stdout.str()) == seed
    # The seeds before the first failing one pass on their own.
    if seed > 0:
        ok = pytester.runpytest("--mfm-seed", str(seed - 1), "-p", "no:cacheprovider")
        ok.assert_outcomes(passed=1)


def test_crash_safe_handler_passes(pytester: pytest.Pytester) -> None:
    _user(pytester, keyed=True)
    result = pytester.runpytest("--mfm-seeds", "30", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_nondeterministic_handler_is_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_clock="""
import time
from mfm_engine import ExecutionPlan, StateGraph, StateMeta, StateNode

class Stamp:
    def meta(self):
        return StateMeta()

    async def handle(self, ctx, io, events):
        ctx.write("at", int(time.time()))

def test_stamp(mfm_sim):
    plan = ExecutionPlan("clock", StateGraph([StateNode("clock.stamp.now", Stamp())]))
    mfm_sim.check(plan, services=())
"""
    )
    result = pytester.runpytest("--mfm-seeds", "3", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "broke nondeterminism" in out
    assert "nondeterminism: handler clock.stamp.now called time.time()" in out
    assert "reproduce: pytest test_clock.py::test_stamp --mfm-seed 0" in out


def test_seed_count_precedence(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmfm_seeds = 7\n")
    pytester.makepyfile(
        test_counts="""
def test_counts(mfm_sim, request):
    expected = request.config.getoption("--mfm-seeds")
    if request.config.getoption("--mfm-seed") is not None:
        assert mfm_sim.seeds_for(5) == (123,)
    elif expected is None:
        assert mfm_sim.seeds_for(None) == tuple(range(7))
        assert mfm_sim.seeds_for(5) == tuple(range(5))
        assert mfm_sim.seeds_for([9, 4]) == (9, 4)
    else:
        assert mfm_sim.seeds_for(5) == tuple(range(expected))
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    pytester.runpytest("--mfm-seeds", "3", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    pytester.runpytest("--mfm-seed", "0x7b", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_bad_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_any="def test_any(mfm_sim):\n    pass\n")
    result = pytester.runpytest("--mfm-seed", "-3", "-p", "no:cacheprovider")
    assert result.ret != 0
    assert "seed" in (result.stdout.str() + result.stderr.str())


# What the plugin module may not import up front: pytest loads it in every session of every
# project where mfm-sim is installed, most of which never ask for the fixture.
HEAVY = ("mfm_engine", "mfm_sim.run", "hypothesis", "rich", "click")


def _loaded(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running `code`."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    assert _loaded("import mfm_sim.testing.pytest_plugin") == []
    # The probe sees them once something does import them: the fixture's implementation does.
    assert {"mfm_engine", "mfm_sim.run"} <= set(_loaded("import mfm_sim.testing.check"))


def test_a_session_that_never_asks_for_the_fixture_imports_nothing_heavy(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_light=f"""
import sys

def test_light(request):
    assert request.config.pluginmanager.has_plugin("mfm_sim")
    assert [m for m in {HEAVY!r} if m in sys.modules] == []
"""
    )
    # A subprocess: this process has long imported all of them.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)


def test_names_that_moved_to_check_still_import_from_the_plugin() -> None:
    from mfm_sim.testing import check, pytest_plugin

    for name in ("CheckFailure", "CheckResult", "MfmSim", "SHRINK_RUNS", "describe_fault"):
        assert getattr(pytest_plugin, name) is getattr(check, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = pytest_plugin.nothing


# ------------------------------------------------------------------ pytest conventions


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (("--mfm-seed", "abc"), None, "ERROR: --mfm-seed: "),
        (("--mfm-seeds", "0"), None, "ERROR: --mfm-seeds must be at least 1, got 0"),
        (("--mfm-seeds", "abc"), None, "ERROR: --mfm-seeds must be a whole number, got 'abc'"),
        ((), "[pytest]\nmfm_seeds = lots\n", "ERROR: ini option mfm_seeds must be a whole"),
    ],
)
def test_bad_options_are_one_usage_error_at_start_up(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str | None, message: str
) -> None:
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(test_any="def test_any(mfm_sim):\n    pass\n")
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    errors = [line for line in text.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and errors[0].startswith(message), text
    assert "Traceback" not in text and "test_any" not in text


# The user's plan without its test, for test files with tests of their own.
PLAN_ONLY = USER_TEST.split("def test_charge")[0]
PARAMETRIZED = USER_TEST.replace(
    "def test_charge(mfm_sim):",
    '@pytest.mark.parametrize("label", ["d4 with space"])\ndef test_charge(mfm_sim, label):',
)


def test_the_reproduce_command_is_shell_quoted_and_pastes(pytester: pytest.Pytester) -> None:
    import shlex

    pytester.makepyfile(test_user="import pytest\n" + PARAMETRIZED + "\nKEYED = False\n")
    first = pytester.runpytest("--mfm-seeds", "30", "-p", "no:cacheprovider")
    first.assert_outcomes(failed=1)
    out = first.stdout.str()
    seed = _failing_seed(out)
    line = next(x for x in out.splitlines() if "reproduce: pytest" in x)
    command = line.split("reproduce: ", 1)[1]
    assert command == f"pytest 'test_user.py::test_charge[d4 with space]' --mfm-seed {seed}"
    argv = shlex.split(command)
    again = pytester.runpytest(*argv[1:], "-p", "no:cacheprovider")
    again.assert_outcomes(failed=1)
    assert _failing_seed(again.stdout.str()) == seed


def test_the_marker_sets_seeds_and_faults_and_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked=PLAN_ONLY
        + """
import pytest

@pytest.mark.mfm_sim(seeds=7, faults="crash_in_handler")
def test_marked(mfm_sim):
    result = mfm_sim.check(lambda: plan(True), initial_context={"order": "o1"})
    assert len(result.seeds) == 7
    again = mfm_sim.check(lambda: plan(True), initial_context={"order": "o1"}, seeds=3)
    assert again.seeds == (0, 1, 2)

@pytest.mark.mfm_sim(seeds=3, fualts="latency")
def test_misspelt(mfm_sim):
    mfm_sim.check(lambda: plan(True), initial_context={"order": "o1"})
"""
    )
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    assert "takes seeds= and faults= only, got fualts" in result.stdout.str()


def test_unknown_names_are_one_clear_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_names=PLAN_ONLY
        + """
def test_service(mfm_sim):
    mfm_sim.check(lambda: plan(True), initial_context={"order": "o1"}, services=("ledgr",))

def test_fault(mfm_sim):
    mfm_sim.check(lambda: plan(True), initial_context={"order": "o1"}, faults="crash")
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--mfm-seeds", "3")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "mfm-sim: unknown service 'ledgr'; the built-in services are kv, ledger" in out
    assert "services={'ledgr': YourService}" in out
    assert "mfm-sim: unknown fault kind 'crash'" in out
    assert "pytest_plugin.py" not in out and "check.py" not in out and "Traceback" not in out


def test_a_builder_with_an_optional_argument_is_not_given_the_rng(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_builder=PLAN_ONLY
        + """
REGIONS = {"eu": True}

def build(region="eu"):
    return plan(REGIONS[region])

def build_drawn(rng):
    assert type(rng).__name__ == "Rng"
    return plan(True)

def test_builders(mfm_sim):
    mfm_sim.check(build, initial_context={"order": "o1"})
    mfm_sim.check(build_drawn, initial_context={"order": "o1"})
"""
    )
    pytester.runpytest("-p", "no:cacheprovider", "--mfm-seeds", "10").assert_outcomes(passed=1)


def test_failing_schedules_are_saved_replayed_first_and_forgotten_when_fixed(
    pytester: pytest.Pytester,
) -> None:
    _user(pytester, keyed=False)
    first = pytester.runpytest("--mfm-seeds", "30", "-p", "no:cacheprovider")
    seed = _failing_seed(first.stdout.str())
    assert seed > 0  # so that --mfm-seeds 1 alone would not find it
    saved = pytester.path / ".mfm-sim" / "failures" / f"test_user.py_test_charge-{seed}.json"
    assert saved.is_file()
    timeline = pytester.path / ".mfm-sim" / "reports" / f"test_user.py_test_charge-{seed}.html"
    assert f"timeline:  {timeline} (HTML)" in first.stdout.str()
    assert "<!DOCTYPE html>" in timeline.read_text()
    # Next run: the saved seed goes first, so one seed of its own is enough to fail again.
    again = pytester.runpytest("--mfm-seeds", "1", "-p", "no:cacheprovider")
    again.assert_outcomes(failed=1)
    assert _failing_seed(again.stdout.str()) == seed
    # Fixed: the saved seed passes, and is no longer replayed first.
    _user(pytester, keyed=True)
    fixed = pytester.runpytest("--mfm-seeds", "1", "-p", "no:cacheprovider")
    fixed.assert_outcomes(passed=1)
    assert "2 schedules" in fixed.stdout.str()  # the saved seed and seed 0
    assert not saved.exists()


def test_junitxml_carries_seed_and_counts(pytester: pytest.Pytester) -> None:
    import xml.etree.ElementTree as ET

    _user(pytester, keyed=True)
    pytester.runpytest("--mfm-seeds", "12", "-p", "no:cacheprovider", "--junitxml=ok.xml")
    props = {
        p.get("name"): p.get("value") for p in ET.parse(pytester.path / "ok.xml").iter("property")
    }
    assert props["mfm_sim_schedules"] == "12"
    assert {"mfm_sim_faults", "mfm_sim_crashes", "mfm_sim_resumes"} <= set(props)
    assert props["mfm_sim"].startswith("12 schedules, ")
    _user(pytester, keyed=False)
    pytester.runpytest("--mfm-seeds", "30", "-p", "no:cacheprovider", "--junitxml=bad.xml")
    props = {
        p.get("name"): p.get("value") for p in ET.parse(pytester.path / "bad.xml").iter("property")
    }
    assert props["mfm_sim_invariant"] == "effects_at_most_once"
    assert props["mfm_sim_reproduce"] == (
        f"pytest test_user.py::test_charge --mfm-seed {props['mfm_sim_seed']}"
    )
    assert props["mfm_sim_timeline"].endswith(".html")


def test_xdist_keeps_the_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_two=PLAN_ONLY
        + """
def test_one(mfm_sim):
    mfm_sim.check(lambda: plan(True), initial_context={"order": "o1"})

def test_two(mfm_sim):
    mfm_sim.check(lambda: plan(True), initial_context={"order": "o2"})
"""
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--mfm-seeds", "15", "-p", "no:cacheprovider", "-p", "xdist"
    )
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "created: 2/2 workers" in out or "2 workers [2 items]" in out
    assert re.search(r"=+ mfm-sim =+", out), out
    for name in ("test_one", "test_two"):
        assert re.search(rf"test_two.py::{name}: 15 schedules, \d+ faults", out), out
