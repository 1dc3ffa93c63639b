"""One line per distinct violation: incarnation repeats fold into one, with a count."""

from __future__ import annotations

from mfm_sim.invariants.violation import Violation
from mfm_sim.report.collapse import collapse


def _v(message: str, invariant: str = "engine_contract", run: str = "568e97a1") -> Violation:
    return Violation(invariant, run, (), message, 3)


def test_incarnation_repeats_collapse_with_count_and_range() -> None:
    msg = "incarnation {} (resume) failed on its own, not because of a fault: invalid_plan"
    vs = [_v(msg.format(n)) for n in (2, 3, 4, 6, 26)]
    other = _v("chain.s1.run entered while attempt 0 is open", "attempt_envelopes")
    out = collapse([*vs, other])
    assert len(out) == 2
    assert out[0].count == 5 and out[0].incarnations == (2, 3, 4, 6, 26)
    assert out[0].first is vs[0]
    assert out[0].describe().endswith("(x5, incarnations 2-26)")
    assert out[1].count == 1 and out[1].suffix() == ""
    assert out[1].describe() == other.describe()


def test_different_invariants_runs_or_messages_stay_apart() -> None:
    a = _v("incarnation 2 failed: x")
    b = _v("incarnation 2 failed: x", "honest_errors")
    c = _v("incarnation 3 failed: x", run="0da85cc2")
    d = _v("incarnation 4 failed: y")
    assert [x.count for x in collapse([a, b, c, d])] == [1, 1, 1, 1]


def test_exact_repeats_without_incarnation_are_counted() -> None:
    v = _v("the same message")
    (only,) = collapse([v, v, v])
    assert only.count == 3 and only.suffix() == " (x3)"
