"""Turn `mutmut results --all true` into the per-module table of docs/mutation.md.

    mutmut results --all true > /tmp/results.txt
    python tools/mutation_report.py /tmp/results.txt [MORE.txt ...] [--equivalent FILE]

Several results files (runs of different mutants, or a re-run of some on newer code) merge in
order: a later file's verdict on a mutant replaces an earlier one, but "not checked" never
replaces a verdict.

One row per engine module in scope (`[tool.mutmut]` in pyproject.toml; of `config` only
`compute_backoff`): mutants that ran, killed, survived, timeout, not reached by the sweep
(mutmut's "no tests": no schedule calls the function), equivalent (named in the
`--equivalent` file, one mutant name a line, `#` comments), and the score, killed (timeouts
count as killed, as mutmut does) over the non-equivalent mutants that ran. Mutants mutmut
has not checked (a sampled run) are left out and counted apart.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["COLUMNS", "in_scope", "merge", "module_of", "parse_results", "render", "tally"]

COLUMNS = ("ran", "killed", "survived", "timeout", "not reached", "equivalent")
# mutmut's status words -> our column; anything else ("suspicious", "skipped", ...) is "other".
_STATUS = {
    "killed": "killed",
    "survived": "survived",
    "timeout": "timeout",
    "no tests": "not reached",
    "caught by type check": "killed",
}


def module_of(name: str) -> str:
    """`engine.runtime.engine.xǁDefaultExecutionEngineǁ_resume__mutmut_3` -> `runtime.engine`."""
    module = name.split(".x", 1)[0]
    return module.removeprefix("engine.")


def in_scope(name: str) -> bool:
    """Every mutant of the configured files, except `config`'s other than `compute_backoff`."""
    return module_of(name) != "config" or ".x_compute_backoff__mutmut_" in name


def parse_results(lines: Iterable[str]) -> dict[str, str]:
    """`name: status` lines -> {name: status}, in scope only."""
    out: dict[str, str] = {}
    for line in lines:
        name, sep, status = line.strip().rpartition(": ")
        if sep and name and in_scope(name):
            out[name] = status.strip()
    return out


def merge(runs: Iterable[dict[str, str]]) -> dict[str, str]:
    """Results of several runs, in order: a later verdict wins, "not checked" never does."""
    out: dict[str, str] = {}
    for run in runs:
        for name, status in run.items():
            if status != "not checked" or name not in out:
                out[name] = status
    return out


def tally(results: dict[str, str], equivalent: frozenset[str]) -> dict[str, Counter[str]]:
    """Per module, the count of each column (and "not checked", "other")."""
    rows: dict[str, Counter[str]] = {}
    for name in sorted(results):
        row = rows.setdefault(module_of(name), Counter())
        status = results[name]
        if status == "not checked":
            row["not checked"] += 1
            continue
        row["ran"] += 1
        if name in equivalent and status != "killed":
            row["equivalent"] += 1
        else:
            row[_STATUS.get(status, "other")] += 1
    return rows


def _score(row: Counter[str]) -> str:
    judged = row["ran"] - row["equivalent"]
    if judged <= 0:
        return "-"
    return f"{100 * (row['killed'] + row['timeout']) / judged:.1f} %"


def render(rows: dict[str, Counter[str]]) -> str:
    """The markdown table: one row per module, then the total."""
    head = ["module", *COLUMNS, "score", "not checked"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    total: Counter[str] = Counter()
    for module in sorted(rows):
        row = rows[module]
        total.update(row)
        cells = [str(row[c]) for c in COLUMNS]
        lines.append(
            f"| `{module}` | " + " | ".join([*cells, _score(row), str(row["not checked"])]) + " |"
        )
    cells = [f"**{total[c]}**" for c in COLUMNS]
    lines.append(
        "| **all** | "
        + " | ".join([*cells, f"**{_score(total)}**", str(total["not checked"])])
        + " |"
    )
    return "\n".join(lines)


def _read_names(path: str | None) -> frozenset[str]:
    if path is None:
        return frozenset()
    with open(path) as f:
        return frozenset(ln.split("#", 1)[0].strip() for ln in f if ln.split("#", 1)[0].strip())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "results", nargs="+", help="outputs of `mutmut results --all true`, oldest first"
    )
    p.add_argument("--equivalent", help="mutant names judged equivalent, one a line")
    args = p.parse_args(argv)
    runs = []
    for path in args.results:
        with open(path) as f:
            runs.append(parse_results(f))
    results = merge(runs)
    print(render(tally(results, _read_names(args.equivalent))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
