"""A readable timeline of one schedule, from its trace: for the terminal (rich); the HTML page
is in `mfm_sim.report.timeline_html`.

Each trace entry is (virtual ns, incarnation, kind, detail). The timeline shows the virtual
time, the incarnation (a simulated process lifetime), store calls, the faults that fired
(highlighted), crashes, starts and resumes, the kernel events (RunStarted, StateEntered with
its attempt, StateCompleted, StateFailed, RunCompleted), domain events and service calls,
and marks the events that a violation cites.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mfm_sim.faults.kinds import FAULTS, FaultClass, FaultKind
from mfm_sim.invariants import Violation
from mfm_sim.report.collapse import collapse
from mfm_sim.run.result import SimResult

__all__ = [
    "SEVERITIES",
    "Row",
    "fault_severity",
    "render",
    "row_severity",
    "rows",
    "summary_lines",
    "vt",
]

KERNEL = ("RunStarted", "StateEntered", "StateCompleted", "StateFailed", "RunCompleted")
EVENT_LINE = re.compile(r"^(?P<run>[0-9a-f-]{1,8})#(?P<seq>\d+) (?P<name>\S+)")
_FAULT_KIND = re.compile(r"^step=\d+ (?P<kind>\S+) at ")

# Fault severity, most severe first: what the fault lets the engine do wrong. A fault row is
# styled by its severity, so latency (the call only took time) never looks like a crash.
SEVERITIES: dict[str, tuple[str, str]] = {
    "crash": ("bold white on red", "the process died"),
    "lie": ("bold white on magenta", "the store lied or lost data"),
    "error": ("bold black on dark_orange", "a store call failed, honestly"),
    "other": ("bold black on yellow", "a handler's own failure or a user's fault point"),
    "slow": ("black on cyan", "latency: the call only took time"),
}

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
        m = EVENT_LINE.match(detail)
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


def fault_severity(kind: FaultKind) -> str:
    """A key of `SEVERITIES`, from the fault-kind table's class of `kind`."""
    if kind is FaultKind.LATENCY:
        return "slow"
    return {
        FaultClass.CRASH: "crash",
        FaultClass.LYING: "lie",
        FaultClass.HONEST: "error",
    }.get(FAULTS[kind].fault_class, "other")


def row_severity(row: Row) -> str | None:
    """The severity of a fault row (None for any other row)."""
    if row.category != "fault":
        return None
    m = _FAULT_KIND.match(row.detail)
    try:
        return fault_severity(FaultKind(m.group("kind"))) if m else "other"
    except ValueError:  # a kind this version does not know: shown, never guessed at
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
            m = EVENT_LINE.match(detail)
            if m:
                marks = tuple(cited.get((m.group("run"), int(m.group("seq"))), ()))
        out.append(Row(ns, inc, kind, detail, _category(kind, detail), marks, inc != last_inc))
        last_inc = inc
    return out


def summary_lines(result: SimResult) -> list[str]:
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
    for i, line in enumerate(summary_lines(result)):
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
        severity = row_severity(row)
        style = SEVERITIES[severity][0] if severity else STYLES.get(row.category, "")
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
