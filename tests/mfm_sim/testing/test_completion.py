"""No silent pass: a plan whose fault-free run does not complete fails the check, with the
handler's own error and the line of the user's code that caused it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mfm_engine
import pytest
from mfm_engine import ExecutionPlan, IoCall, StateGraph, StateMeta, StateNode
from mfm_engine.errors import ErrorCategory, StateError, info

import mfm_sim
from mfm_sim.testing.check import FAULT_FREE_STATUS, CheckFailure, CheckResult, MfmSim


class _State:
    def meta(self) -> StateMeta:
        return StateMeta()


class UnknownNamespace(_State):
    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        await io.call(IoCall("shipping", {"op": "ship"}, "ship:o1"))


class RequiresMissingKey(_State):
    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.require("customer")


class NotAsync(_State):
    def handle(self, ctx: Any, io: Any, events: Any) -> None:  # type: ignore[override]
        ctx.write("done", True)


class WritesFloat(_State):
    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("weight_kg", 1.5)


def _lookup(table: dict[str, int], key: str) -> int:
    return table[key]


class RaisesKeyError(_State):
    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("price", _lookup({}, "sku-1"))


class FailsOnPurpose(_State):
    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        raise StateError(info("out_of_stock", ErrorCategory.UNKNOWN, "no stock", retryable=False))


class Completes(_State):
    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        ctx.write("done", True)


def _plan(state: Any) -> ExecutionPlan:
    return ExecutionPlan("shop", StateGraph([StateNode("shop.ship.order", state)]))


def _failure(state: type, **kwargs: Any) -> CheckFailure:
    outcome = MfmSim(nodeid="t.py::t").run(lambda: _plan(state()), seeds=5, **kwargs)
    assert isinstance(outcome, CheckFailure), outcome
    assert outcome.invariant == FAULT_FREE_STATUS
    assert outcome.handlers == ("shop.ship.order",)
    assert "fault-free run of seed 0 ended FAILED, not COMPLETED" in outcome.report
    assert "reproduce: pytest t.py::t --mfm-seed 0" in outcome.report
    return outcome


def test_an_unknown_namespace_names_the_service_and_how_to_provide_it() -> None:
    report = _failure(UnknownNamespace).report
    assert "no transport for namespace 'shipping'" in report
    assert "calls namespace 'shipping', which no service provides (services given: ledger)" in (
        report
    )
    assert "services={'shipping': YourService}" in report
    assert f"{__file__}:" in report and 'IoCall("shipping"' in report


def test_a_missing_context_key_is_reported_at_the_require() -> None:
    report = _failure(RequiresMissingKey).report
    assert "ContextError: context_missing_key: context key 'customer' missing" in report
    assert 'in handle: ctx.require("customer")' in report


def test_a_handle_that_is_not_async_is_named() -> None:
    report = _failure(NotAsync).report
    assert "NotAsync.handle is a plain function" in report
    assert "async def handle(self, ctx, io, events)" in report
    assert f"{__file__}:" in report and "NotAsync.handle" in report


def test_a_float_in_the_context_is_reported_at_the_write() -> None:
    report = _failure(WritesFloat).report
    assert "context key 'weight_kg' was written 1.5" in report
    assert "no floats" in report
    assert 'in handle: ctx.write("weight_kg", 1.5)' in report


def test_a_non_state_error_is_a_bug_reported_with_the_users_frames() -> None:
    report = _failure(RaisesKeyError).report
    assert "KeyError: 'sku-1'" in report
    assert "not a StateError: a bug in the handler" in report
    frames = [line for line in report.splitlines() if __file__ in line]
    # Outermost first: the handler's line, then the helper's; no engine or harness frames.
    assert frames[0].rstrip().endswith('in handle: ctx.write("price", _lookup({}, "sku-1"))')
    assert frames[1].endswith("in _lookup: return table[key]")
    traceback = report.split("traceback (your code, most recent call last):\n")[1]
    assert [line for line in traceback.splitlines() if line.startswith("    /")] == frames
    assert len(frames) == 2 and str(Path(mfm_engine.__file__).parent) not in report
    assert str(Path(mfm_sim.__file__).parent) + "/" not in report


def test_a_status_the_user_expects_passes() -> None:
    failure = _failure(FailsOnPurpose)
    assert "out_of_stock" in failure.report
    assert 'check(..., expect_status="failed")' in failure.report
    outcome = MfmSim().run(lambda: _plan(FailsOnPurpose()), seeds=20, expect_status="failed")
    assert isinstance(outcome, CheckResult), getattr(outcome, "report", "")


def test_a_correct_workflow_passes() -> None:
    outcome = MfmSim().run(lambda: _plan(Completes()), seeds=50)
    assert isinstance(outcome, CheckResult), getattr(outcome, "report", "")
    assert outcome.crashes > 0


def test_check_fails_the_test_with_the_report() -> None:
    with pytest.raises(pytest.fail.Exception, match="ended FAILED, not COMPLETED"):
        MfmSim().check(lambda: _plan(RequiresMissingKey()), seeds=3)


def test_an_unknown_status_is_one_clear_line() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"expect_status 'done' is not a run status"):
        MfmSim().check(lambda: _plan(Completes()), seeds=3, expect_status="done")
