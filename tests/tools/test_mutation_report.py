"""tools/mutation_report.py: `mutmut results` lines become the per-module table."""

from __future__ import annotations

from tools.mutation_report import in_scope, main, merge, module_of, parse_results, render, tally

LINES = [
    "    engine.runtime.engine.xǁDefaultExecutionEngineǁ_resume__mutmut_1: killed",
    "    engine.runtime.engine.xǁDefaultExecutionEngineǁ_resume__mutmut_2: survived",
    "    engine.runtime.engine.xǁDefaultExecutionEngineǁ_resume__mutmut_3: timeout",
    "    engine.runtime.engine.xǁDefaultExecutionEngineǁ_resume__mutmut_4: not checked",
    "    engine.context.xǁJsonContextǁ__init____mutmut_2: survived",
    "    engine.context.x_f__mutmut_1: no tests",
    "    engine.config.x_compute_backoff__mutmut_9: survived",
    "    engine.config.x__millis__mutmut_1: survived",
]


def test_module_and_scope():
    assert module_of(LINES[0].strip().split(":")[0]) == "runtime.engine"
    assert module_of("engine.context.xǁJsonContextǁ__init____mutmut_2") == "context"
    assert in_scope("engine.config.x_compute_backoff__mutmut_1")
    assert not in_scope("engine.config.x__millis__mutmut_1")


def test_tally_counts_each_column_and_leaves_unchecked_apart():
    results = parse_results(LINES)
    assert "engine.config.x__millis__mutmut_1" not in results
    equivalent = frozenset({"engine.context.xǁJsonContextǁ__init____mutmut_2"})
    rows = tally(results, equivalent)
    engine = rows["runtime.engine"]
    assert (engine["ran"], engine["killed"], engine["survived"], engine["timeout"]) == (3, 1, 1, 1)
    assert engine["not checked"] == 1
    ctx = rows["context"]
    assert (ctx["ran"], ctx["equivalent"], ctx["not reached"]) == (2, 1, 1)
    table = render(rows)
    assert "| `runtime.engine` | 3 | 1 | 1 | 1 | 0 | 0 | 66.7 % | 1 |" in table
    assert "| `context` | 2 | 0 | 0 | 0 | 1 | 1 | 0.0 % | 0 |" in table
    assert "| `config` | 1 | 0 | 1 | 0 | 0 | 0 | 0.0 % | 0 |" in table
    assert table.splitlines()[-1].startswith("| **all** | **6** | **1** | **2** | **1** | **1**")


def test_main_prints_the_table(tmp_path, capsys):
    results = tmp_path / "r.txt"
    results.write_text("\n".join(LINES) + "\n")
    equivalent = tmp_path / "eq.txt"
    equivalent.write_text("# why\nengine.context.xǁJsonContextǁ__init____mutmut_2  # dead\n")
    assert main([str(results), "--equivalent", str(equivalent)]) == 0
    out = capsys.readouterr().out
    assert "| `context` | 2 | 0 | 0 | 0 | 1 | 1 | 0.0 % | 0 |" in out


def test_merge_a_later_verdict_wins_but_not_checked_never_does():
    first = {"a": "survived", "b": "killed", "c": "not checked"}
    later = {"a": "killed", "b": "not checked", "c": "survived", "d": "not checked"}
    assert merge([first, later]) == {
        "a": "killed",
        "b": "killed",
        "c": "survived",
        "d": "not checked",
    }


def test_main_merges_several_results_files(tmp_path, capsys):
    old = tmp_path / "old.txt"
    old.write_text("\n".join(LINES) + "\n")
    new = tmp_path / "new.txt"
    new.write_text(
        "    engine.runtime.engine.xǁDefaultExecutionEngineǁ_resume__mutmut_2: killed\n"
        "    engine.runtime.engine.xǁDefaultExecutionEngineǁ_resume__mutmut_1: not checked\n"
        "    engine.runtime.engine.xǁDefaultExecutionEngineǁ_resume__mutmut_4: survived\n"
    )
    assert main([str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "| `runtime.engine` | 4 | 2 | 1 | 1 | 0 | 0 | 75.0 % | 0 |" in out
