"""Failures grouped by signature: ids and numbers stripped, fastest seed first."""

from __future__ import annotations

import attrs

from mfm_sim.invariants.violation import Violation
from mfm_sim.report.groups import group_failures, print_groups, signature, verdict_line
from mfm_sim.report.summary import Failure
from mfm_sim.run.scenario import get_scenario
from mfm_sim.run.simulate import simulate


def _failure(seed: int, violations: list[Violation], virtual_ns: int) -> Failure:
    base = simulate(get_scenario("linear"), 0, keep_trace=False)
    stats = attrs.evolve(base.stats, virtual_ns=virtual_ns)
    result = attrs.evolve(base, seed=seed, violations=tuple(violations), stats=stats)
    return Failure("sweep", result, f"mfm-sim replay {seed} --scenario linear")


def _env(run: str, seq: int) -> Violation:
    msg = f"chain.s{seq}.run entered while attempt 0 of chain.s{seq}.run (seq {seq}) is open"
    return Violation("attempt_envelopes", run, (seq, seq + 1), msg, 0)


def test_signature_strips_ids_and_numbers() -> None:
    a = _failure(1, [_env("568e97a1aaaa", 5)], 10)
    b = _failure(2, [_env("4d8bb29cbbbb", 2), _env("4d8bb29cbbbb", 7)], 10)
    assert signature(a.result) == signature(b.result)
    live = Violation("liveness", "x", (9,), "faults stopped but no terminal status", 0)
    c = _failure(3, [_env("1de27592", 2), live], 10)
    assert signature(c.result) != signature(a.result)


def test_groups_largest_first_fastest_seed_first() -> None:
    slow = _failure(4, [_env("aaaaaaaa", 1)], 900)
    fast = _failure(9, [_env("bbbbbbbb", 2)], 100)
    tie = _failure(7, [_env("cccccccc", 3)], 100)
    live = Violation("liveness", "x", (9,), "stuck", 0)
    lone = _failure(5, [live], 5)
    groups = group_failures([slow, lone, fast, tie])
    assert [g.name for g in groups] == ["attempt_envelopes", "liveness"]
    assert [f.result.seed for f in groups[0].failures] == [7, 9, 4]
    assert groups[0].count == 3 and groups[1].first is lone
    line = verdict_line(63, groups, 4)
    assert line.startswith("FAILED: 63 failing schedules in 2 groups: attempt_envelopes (3), ")
    assert "liveness (1)" in line and "the 4 kept" in line

    printed: list[str] = []
    print_groups(groups, printed.append)
    text = "\n".join(printed)
    assert text.count("GROUP ") == 2 and text.count("FAIL linear seed") == 2
    assert "GROUP 1/2: attempt_envelopes (3 failing schedules)" in text
    assert "also failing: linear:9, linear:4" in text
    assert text.index("seed 7") < text.index("linear:9")
