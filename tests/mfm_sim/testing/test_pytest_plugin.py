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
