"""A readable timeline of one schedule, from its trace: for the terminal (rich) and as HTML.

Each trace entry is (virtual ns, incarnation, kind, detail). The timeline shows the virtual
time, the incarnation (a simulated process lifetime), store calls, the faults that fired
(highlighted), crashes, starts and resumes, the kernel events (RunStarted, StateEntered with
its attempt, StateCompleted, StateFailed, RunCompleted), domain events and service calls,
and marks the events that a violation cites.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import attrs
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mfm_sim.invariants import Violation
from mfm_sim.report.collapse import collapse
from mfm_sim.run.result import SimResult

__all__ = ["Row", "render", "render_html", "rows"]

KERNEL = ("RunStarted", "StateEntered", "StateCompleted", "StateFailed", "RunCompleted")
_EVENT = re.compile(r"^(?P<run>[0-9a-f-]{1,8})#(?P<seq>\d+) (?P<name>\S+)")

# category -> rich style; the HTML uses the category as a CSS class.
STYLES: dict[str, str] = {
    "start": "bold cyan",
    "resume": "bold cyan",
    "probe": "cyan",
    "fault": "bold white on red",
    "crash": "bold red",
    "error": "yellow",
    "result": "bold green",
    "stuck": "bold magenta",
    "store": "dim",
    "kernel": "green",
    "attempt": "bold yellow",
    "failed": "red",
    "done": "bold green",
    "domain": "blue",
    "service": "magenta",
    "other": "",
}


@attrs.frozen
class Row:
    vt_ns: int
    incarnation: int
    kind: str
    detail: str
    category: str
    marks: tuple[str, ...] = ()  # invariants that cite this event
    first_of_incarnation: bool = False


def vt(ns: int) -> str:
    """Virtual time as seconds with milliseconds, by integer arithmetic."""
    return f"{ns // 10**9}.{(ns % 10**9) // 10**6:03d}s"


def _category(kind: str, detail: str) -> str:
    if kind == "start":
        return "start"
    if kind == "resume":
        return "resume"
    if kind == "idempotent_resume":
        return "probe"
    if kind == "fault":
        return "fault"
    if kind == "outcome":
        word = detail.split(" ", 1)[0]
        return {
            "crash": "crash",
            "error": "error",
            "result": "result",
            "deadlock": "stuck",
            "runaway": "stuck",
        }.get(word, "other")
    if kind == "store":
        return "store"
    if kind == "event":
        m = _EVENT.match(detail)
        name = m.group("name") if m else ""
        if name == "StateEntered":
            return "attempt"
        if name == "StateFailed":
            return "failed"
        if name == "RunCompleted":
            return "done"
        if name in KERNEL:
            return "kernel"
        return "domain"
    if kind in ("service", "buggify"):
        return "service"
    return "other"


def _citations(violations: Sequence[Violation]) -> dict[tuple[str, int], list[str]]:
    cited: dict[tuple[str, int], list[str]] = {}
    for v in violations:
        run = (v.run_id or "")[:8]
        for seq in v.seqs:
            names = cited.setdefault((run, seq), [])
            if v.invariant not in names:
                names.append(v.invariant)
    return cited


def rows(result: SimResult) -> list[Row]:
    """The trace of `result` as timeline rows (empty if the trace was not kept)."""
    cited = _citations(result.violations)
    out: list[Row] = []
    last_inc: int | None = None
    for ns, inc, kind, detail in result.trace:
        marks: tuple[str, ...] = ()
        if kind == "event":
            m = _EVENT.match(detail)
            if m:
                marks = tuple(cited.get((m.group("run"), int(m.group("seq"))), ()))
        out.append(Row(ns, inc, kind, detail, _category(kind, detail), marks, inc != last_inc))
        last_inc = inc
    return out


def _summary(result: SimResult) -> list[str]:
    st = result.stats
    faults = ", ".join(f"{k}={n}" for k, n in st.faults_by_kind) or "none"
    phase = result.final_phase.value if result.final_phase is not None else "unfinished"
    verdict = f"FAIL ({len(result.violations)} violations)" if result.violations else "PASS"
    return [
        f"{result.scenario} seed {result.seed}: {verdict}, final phase {phase}",
        f"digest {result.digest}",
        f"{st.incarnations} incarnations, {st.crashes} crashes, {st.resumes} resumes, "
        f"{st.store_calls} fault points, virtual time {vt(st.virtual_ns)}; faults: {faults}",
    ]


def render(result: SimResult, *, title: str | None = None) -> RenderableType:
    """A rich renderable: the summary, then one table row per trace entry."""
    head = Text()
    for i, line in enumerate(_summary(result)):
        head.append(("\n" if i else "") + line, style="bold" if i == 0 else "")
    table = Table(
        title=title or f"timeline of {result.scenario} seed {result.seed}",
        show_lines=False,
        expand=False,
        pad_edge=False,
    )
    table.add_column("virtual time", justify="right", no_wrap=True)
    table.add_column("inc", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("detail", overflow="fold")
    items = rows(result)
    for i, row in enumerate(items):
        style = STYLES.get(row.category, "")
        detail = Text(row.detail, style=style)
        if row.marks:
            detail.append("  <- " + ", ".join(row.marks), style="bold reverse red")
        table.add_row(
            Text(vt(row.vt_ns), style="dim" if row.category == "store" else ""),
            Text(str(row.incarnation)),
            Text(row.kind, style=style),
            detail,
            end_section=i + 1 < len(items) and items[i + 1].first_of_incarnation,
        )
    if not items:
        return Group(head, Text("(no trace kept: replay with keep_trace=True)", style="dim"))
    violations = Text()
    for c in collapse(result.violations):
        violations.append(c.describe() + "\n", style="bold red")
    return Group(head, table, violations) if result.violations else Group(head, table)


_CSS = """
body { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: 2em;
       background: #fdfdfd; color: #222; }
h1 { font-size: 1.2em; } p.summary { margin: 0.2em 0; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { padding: 2px 8px; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #888; } td.vt, td.inc { text-align: right; color: #555; }
tr.newinc td { border-top: 1px solid #bbb; }
tr.start td, tr.resume td { color: #066; font-weight: bold; }
tr.probe td { color: #066; }
tr.fault td { background: #c00; color: #fff; font-weight: bold; }
tr.crash td { color: #c00; font-weight: bold; }
tr.error td { color: #a60; } tr.result td { color: #070; font-weight: bold; }
tr.stuck td { color: #909; font-weight: bold; } tr.store td { color: #999; }
tr.kernel td { color: #070; } tr.attempt td { color: #850; font-weight: bold; }
tr.failed td { color: #c00; } tr.done td { color: #070; font-weight: bold; }
tr.domain td { color: #036; } tr.service td { color: #909; }
span.mark { background: #c00; color: #fff; padding: 0 4px; margin-left: 1em; }
ul.violations li { color: #c00; }
"""


def render_html(result: SimResult, *, title: str | None = None) -> str:
    """A standalone HTML page (inline CSS, no scripts, nothing time-dependent)."""
    esc = html.escape
    heading = title or f"mfm-sim timeline: {result.scenario} seed {result.seed}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(heading)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(heading)}</h1>",
    ]
    parts += [f'<p class="summary">{esc(line)}</p>' for line in _summary(result)]
    if result.violations:
        parts.append('<ul class="violations">')
        parts += [f"<li>{esc(c.describe())}</li>" for c in collapse(result.violations)]
        parts.append("</ul>")
    parts.append(
        "<table><thead><tr><th>virtual time</th><th>inc</th><th>kind</th><th>detail</th>"
        "</tr></thead><tbody>"
    )
    for row in rows(result):
        classes = row.category + (" newinc" if row.first_of_incarnation else "")
        mark = f'<span class="mark">&larr; {esc(", ".join(row.marks))}</span>' if row.marks else ""
        parts.append(
            f'<tr class="{classes}"><td class="vt">{vt(row.vt_ns)}</td>'
            f'<td class="inc">{row.incarnation}</td><td>{esc(row.kind)}</td>'
            f"<td>{esc(row.detail)}{mark}</td></tr>"
        )
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts) + "\n"
