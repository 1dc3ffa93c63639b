"""The pytest plugin, run the way a user runs it (pytester): seeds, reports, reproduction."""

from __future__ import annotations

import re

import hypothesis  # noqa: F401  (imported once here, not again by every in-process run)
import pytest

from mfm_sim.testing.pytest_plugin import MfmSim

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


def test_default_is_a_hundred_seeds() -> None:
    assert MfmSim().seeds_for(None) == tuple(range(100))
    assert MfmSim(only_seed=5, seeds=9).seeds_for(3) == (5,)


class _Write:
    def __init__(self, value: int) -> None:
        self.value = value

    def meta(self) -> object:
        from mfm_engine import StateMeta

        return StateMeta()

    async def handle(self, ctx: object, io: object, events: object) -> None:
        ctx.write("value", self.value)  # type: ignore[attr-defined]


def test_a_plan_drawn_from_the_seed_is_judged_against_its_own_reference() -> None:
    from mfm_engine import ExecutionPlan, RunConfig, StateGraph, StateNode

    from mfm_sim.testing.pytest_plugin import CheckResult

    def build(rng: object) -> ExecutionPlan:
        value = rng.between(1, 1000)  # type: ignore[attr-defined]
        return ExecutionPlan("drawn", StateGraph([StateNode("drawn.write.value", _Write(value))]))

    # Same knobs for every seed: only the drawn plan tells the seeds' references apart.
    outcome = MfmSim().run(build, services=(), seeds=60, run_config=RunConfig())
    assert isinstance(outcome, CheckResult), getattr(outcome, "report", "")
