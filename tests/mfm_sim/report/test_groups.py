"""Failures grouped by signature: ids and numbers stripped, fastest seed first."""

from __future__ import annotations

import attrs

from mfm_sim.invariants.violation import Violation
from mfm_sim.report.groups import (
    group_failures,
    normalise,
    print_groups,
    recap_lines,
    signature,
    verdict_line,
)
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
    title = "attempt_envelopes: <state> entered while attempt N of <state> (seq N) is open"
    assert f"GROUP 1/2: {title} (3 failing schedules)" in text
    assert "also failing: linear:9, linear:4" in text
    assert text.index("seed 7") < text.index("linear:9")


def _own(run: str, n: int) -> Violation:
    msg = f"incarnation {n} (resume) failed on its own, not because of a fault: invalid_plan x"
    return Violation("engine_contract", run, (), msg, 0)


def test_normalise_strips_ids_numbers_state_names_and_payloads() -> None:
    assert normalise("pay.charge.alice entered while attempt 0 of pay.charge.alice (seq 4)") == (
        "<state> entered while attempt N of <state> (seq N)"
    )
    assert normalise('snapshot differs: {"a": [1, 2]} != {"a": 3}') == "snapshot differs: {...}"
    assert normalise("run 568e97a1-c91f-4876-b693-a221695511f6 stuck") == "run <id> stuck"


def test_one_bug_with_varying_consequences_is_one_group() -> None:
    """The shared symptom wins: failures whose other violations differ stay one group."""
    live = Violation("liveness", "x", (9,), "faults stopped but no terminal status", 0)
    a = _failure(1, [_env("aaaaaaaa", 1)], 10)
    b = _failure(2, [_own("bbbbbbbb", 4), _env("bbbbbbbb", 5)], 10)
    c = _failure(3, [_own("cccccccc", 2), _env("cccccccc", 3), live], 10)
    other = _failure(4, [live], 10)  # another bug
    groups = group_failures([a, b, c, other])
    assert [(g.name, g.count) for g in groups] == [("attempt_envelopes", 3), ("liveness", 1)]
    assert groups[1].first is other
    # The same failures in another order: the same groups.
    again = group_failures([other, c, b, a])
    assert [(g.signature, [f.result.seed for f in g.failures]) for g in again] == [
        (g.signature, [f.result.seed for f in g.failures]) for g in groups
    ]


def test_recap_is_one_line_per_group_with_its_replay_command() -> None:
    live = Violation("liveness", "x", (9,), "stuck", 0)
    groups = group_failures([_failure(9, [_env("aa", 2)], 50), _failure(5, [live], 5)])
    lines = recap_lines(groups, color=False)
    assert len(lines) == 2
    assert lines[0].endswith("->  mfm-sim replay 9 --scenario linear")
    assert "1 x attempt_envelopes: <state> entered" in lines[0]
    coloured = recap_lines(groups)
    assert coloured[0].startswith("\x1b[31m") and coloured[0].endswith("\x1b[0m")


def test_verbose_prints_every_failure_of_every_group() -> None:
    fails = [_failure(s, [_env("aaaaaaaa", s)], s) for s in (1, 2, 3)]
    short: list[str] = []
    print_groups(group_failures(fails), short.append)
    full: list[str] = []
    print_groups(group_failures(fails), full.append, verbose=True)
    assert sum(ln.startswith("FAIL ") for ln in short) == 1
    assert sum(ln.startswith("FAIL ") for ln in full) == 3
    assert any("also failing" in ln for ln in short)
