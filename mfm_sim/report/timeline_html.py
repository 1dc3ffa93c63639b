"""The timeline of one schedule as a standalone HTML triage page.

What a person opening a failing seed's page needs, in one file that loads nothing (inline CSS
and a few lines of inline script; nothing time-dependent, so one schedule gives one page):

- the verdict, the replay command and the schedule itself (as JSON, in a `<script
  type="application/json" id="mfm-schedule">` block and in an expandable section);
- the violations, each linking to the events it cites (`#ev-<run>-<seq>` anchors), and the
  cited events linking back;
- one lane of attempt spans per state, from its StateEntered to the event that closed it
  (completed, failed, superseded by a later attempt, or still open), each linking to its entry;
- the trace as a table whose store calls a checkbox hides (`#no-store` in the address starts
  with them hidden), faults coloured by severity (latency is not a crash);
- each event's payload, and the snapshots it cites, in a `<details>` with a diff against the
  same event of the fault-free run of the same seed;
- a legend for every colour.
"""

from __future__ import annotations

import difflib
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from mfm_sim.report.collapse import Collapsed, collapse
from mfm_sim.report.timeline import (
    EVENT_LINE,
    SEVERITIES,
    Row,
    row_severity,
    rows,
    summary_lines,
    vt,
)
from mfm_sim.run.observation import Observation
from mfm_sim.run.result import SimResult

__all__ = [
    "CATEGORIES",
    "SPAN_OUTCOMES",
    "Span",
    "page_for",
    "payload_views",
    "render_html",
    "row_anchor",
    "spans",
]

_RUN_PREFIX = 8  # the characters of a run id the trace prints

SPAN_OUTCOMES: dict[str, str] = {
    "completed": "attempt completed",
    "failed": "attempt failed (StateFailed)",
    "superseded": "attempt never closed: a later attempt of the state entered (an orphan)",
    "open": "attempt still open when the trace ended",
}

# Row category -> what the legend says of it (the CSS colours each).
CATEGORIES: dict[str, str] = {
    "start": "an incarnation (a process lifetime) starts the run",
    "resume": "an incarnation resumes the run",
    "probe": "a resume of the finished run (must change nothing)",
    "crash": "the incarnation crashed",
    "error": "the call raised a RunError",
    "result": "the call returned a result",
    "stuck": "deadlock or runaway",
    "store": "a store call (the toggle hides them)",
    "kernel": "a kernel event",
    "attempt": "StateEntered: an attempt begins",
    "failed": "StateFailed",
    "done": "RunCompleted",
    "domain": "a domain event",
    "service": "a service call or a user's fault point",
}

# Row category -> its colours; a trace row and its legend chip share them.
_CATEGORY_CSS: dict[str, str] = {
    "start": "color: #066; font-weight: bold;",
    "resume": "color: #066; font-weight: bold;",
    "probe": "color: #066;",
    "crash": "color: #c00; font-weight: bold;",
    "error": "color: #a60;",
    "result": "color: #070; font-weight: bold;",
    "stuck": "color: #909; font-weight: bold;",
    "store": "color: #999;",
    "kernel": "color: #070;",
    "attempt": "color: #850; font-weight: bold;",
    "failed": "color: #c00;",
    "done": "color: #070; font-weight: bold;",
    "domain": "color: #036;",
    "service": "color: #909;",
}

# The events whose fields name snapshots, and those fields: the page shows their contents.
_SNAPSHOT_FIELDS = (
    "initial_snapshot_id",
    "base_snapshot_id",
    "context_snapshot_id",
    "failure_snapshot_id",
    "final_snapshot_id",
)


def row_anchor(run: str, seq: int) -> str:
    """The id of the row of event `seq` of the run whose id starts with `run`."""
    return f"ev-{run[:_RUN_PREFIX]}-{seq}"


def _event_key(row: Row) -> tuple[str, int, str, str] | None:
    """(run prefix, seq, event name, its first argument) of an event row."""
    if row.kind != "event":
        return None
    m = EVENT_LINE.match(row.detail)
    if m is None:
        return None
    rest = row.detail[m.end() :].split()
    return m.group("run"), int(m.group("seq")), m.group("name"), rest[0] if rest else ""


@attrs.frozen
class Span:
    """One attempt of one state: from the row that entered it to the row that closed it."""

    run: str
    state: str
    attempt: str
    first: int  # row index of its StateEntered
    last: int  # row index of the event that closed it (or of the trace's last row)
    outcome: str  # a key of SPAN_OUTCOMES
    anchor: str  # the StateEntered row's id
    cited: bool  # a violation cites its StateEntered


def spans(items: Sequence[Row]) -> list[Span]:
    """Every attempt in `items`, in the order they were entered."""
    out: list[Span] = []
    open_: dict[tuple[str, str], int] = {}  # (run, state) -> its open attempt's index in out
    for i, row in enumerate(items):
        key = _event_key(row)
        if key is None:
            continue
        run, seq, name, state = key
        lane = (run, state)
        if name == "StateEntered":
            if lane in open_:
                j = open_[lane]
                out[j] = attrs.evolve(out[j], last=i, outcome="superseded")
            attempt = row.detail.split("attempt=", 1)[-1].split(" ", 1)[0]
            open_[lane] = len(out)
            anchor = row_anchor(run, seq)
            out.append(Span(run, state, attempt, i, i, "open", anchor, bool(row.marks)))
        elif name in ("StateCompleted", "StateFailed") and lane in open_:
            j = open_.pop(lane)
            outcome = "completed" if name == "StateCompleted" else "failed"
            out[j] = attrs.evolve(out[j], last=i, outcome=outcome)
    end = max(len(items) - 1, 0)
    return [attrs.evolve(s, last=end) if s.outcome == "open" else s for s in out]


# ------------------------------------------------------------------------------ payloads


def _decoded(obs: Observation, artifact_id: str) -> Any:
    data = obs.artifacts.get(artifact_id)
    if data is None:
        return "(not in the durable store)"
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return f"(not JSON: {len(data)} bytes)"


def payload_views(obs: Observation) -> dict[tuple[str, int], tuple[tuple[Any, ...], str]]:
    """(run prefix, seq) -> (a key that names the event across schedules, its payload as
    indented JSON with the snapshots it cites decoded).

    The key is (the run's op id, the event's type, its state or name, its occurrence among
    those), so the same event of the fault-free run has the same key whatever its seq.
    """
    out: dict[tuple[str, int], tuple[tuple[Any, ...], str]] = {}
    for run_id in sorted(obs.runs, key=str):
        view = obs.runs[run_id]
        op = getattr(view.stream[0].event, "op_id", "?") if view.stream else "?"
        seen: dict[tuple[str, str], int] = {}
        for env in view.stream:
            ev = env.event
            what = (type(ev).__name__, str(getattr(ev, "state_id", getattr(ev, "name", ""))))
            nth = seen[what] = seen.get(what, -1) + 1
            body: dict[str, Any] = {"event": ev.to_json()}
            cited = {f: getattr(ev, f) for f in _SNAPSHOT_FIELDS if getattr(ev, f, None)}
            if cited:
                body["snapshots"] = {f: _decoded(obs, aid) for f, aid in cited.items()}
            text = json.dumps(body, indent=2, sort_keys=True, default=str)
            out[(str(run_id)[:_RUN_PREFIX], env.seq)] = ((op, *what, nth), text)
    return out


def _diff(text: str, name: tuple[Any, ...], base: Mapping[tuple[Any, ...], list[str]]) -> str:
    """`text` against the same event of the fault-free run: the same occurrence of the same
    event type and state, or its last occurrence when this schedule has more of them (a
    retried attempt, say)."""
    *what, nth = name
    same = base.get(tuple(what), [])
    if not same:
        return "(no such event in the fault-free run)"
    note = ""
    if nth >= len(same):
        note = f"(the fault-free run has {len(same)} of these; against its last)\n"
    other = same[min(nth, len(same) - 1)]
    if other == text:
        return note + "(the same as in the fault-free run)"
    lines = difflib.unified_diff(
        other.splitlines(), text.splitlines(), "fault-free run", "this schedule", lineterm=""
    )
    return note + "\n".join(lines)


def _diff_html(diff: str) -> str:
    out = []
    for line in diff.splitlines():
        cls = "add" if line.startswith("+") else "del" if line.startswith("-") else ""
        out.append(f'<span class="{cls}">{html.escape(line)}</span>' if cls else html.escape(line))
    return "\n".join(out)


# ------------------------------------------------------------------------------ the page

_CSS = """
body { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; margin: 1.5em;
       background: #fdfdfd; color: #222; font-size: 14px; }
h1 { font-size: 1.25em; } h2 { font-size: 1.05em; margin-top: 1.4em; }
p.summary { margin: 0.2em 0; } p.verdict-fail { color: #b00; font-weight: bold; }
p.verdict-pass { color: #070; font-weight: bold; }
pre { background: #f3f3f3; padding: 6px 8px; overflow-x: auto; margin: 0.3em 0; }
pre.replay { background: #222; color: #eee; white-space: pre-wrap; word-break: break-all; }
ul.violations li { color: #b00; margin: 0.3em 0; }
ul.violations a { color: #b00; }
table.trace { border-collapse: collapse; font-size: 0.92em; }
table.trace td, table.trace th { padding: 2px 8px; text-align: left; vertical-align: top; }
table.trace th { border-bottom: 2px solid #888; }
td.vt, td.inc { text-align: right; color: #555; white-space: nowrap; }
tr.newinc td { border-top: 2px solid #999; }
tr:target { outline: 2px solid #06c; } tr:target td { background: #e6f0ff; }
body.hide-store #trace tr.store { display: none; }
.sev-crash { background: #c00; color: #fff; } .sev-lie { background: #7a1fa2; color: #fff; }
.sev-error { background: #f0a030; color: #000; } .sev-other { background: #f5e050; color: #000; }
.sev-slow { background: #bfe3f5; color: #024; }
tr.fault td { font-weight: bold; } tr.fault td.vt, tr.fault td.inc { color: inherit; }
a.mark { background: #c00; color: #fff; padding: 0 4px; margin-left: 1em; text-decoration: none; }
details.payload { margin-top: 2px; } details.payload summary { color: #666; cursor: pointer; }
details.payload pre { font-weight: normal; color: #222; }
pre.diff span.add { color: #070; } pre.diff span.del { color: #b00; }
div.lanes { border: 1px solid #ccc; padding: 4px; max-width: 1200px; }
div.lane { display: flex; align-items: center; height: 20px; }
div.lane span.label { width: 260px; flex: none; overflow: hidden; text-overflow: ellipsis;
                      white-space: nowrap; font-size: 0.85em; }
div.track { position: relative; flex: 1; height: 16px; background: #f4f4f4; }
div.track .inc { position: absolute; top: 0; bottom: 0; width: 0;
                 border-left: 1px dashed #888; }
a.span { position: absolute; top: 2px; height: 12px; min-width: 4px; font-size: 10px;
         line-height: 12px; color: #fff; text-align: center; text-decoration: none;
         border-radius: 2px; overflow: hidden; }
a.span.completed { background: #2a8a2a; } a.span.failed { background: #e07b00; }
a.span.superseded { background: repeating-linear-gradient(45deg, #888, #888 3px, #bbb 3px,
                    #bbb 6px); }
a.span.open { background: #4a6fd0; } a.span.cited { outline: 2px solid #c00; }
ul.legend { columns: 3; list-style: none; padding: 0; font-size: 0.85em; max-width: 1200px; }
ul.legend li { display: flex; gap: 8px; align-items: center; break-inside: avoid;
               margin: 1px 0; }
span.chip { padding: 0 4px; white-space: nowrap; }
label.toggle { display: inline-block; margin: 0.5em 0; }
"""

_CSS += "".join(f"tr.{c} td, span.cat-{c} {{ {css} }}\n" for c, css in _CATEGORY_CSS.items())

# Hides or shows the store calls (`#no-store` in the address starts with them hidden) and opens
# the payload of the event an address or a violation's link targets. The count
# it leaves on <body> (data-store-rows-shown) is what the stylesheet actually displays, so a
# browser test can see the toggle take effect.
_SCRIPT = """
(function () {
  var box = document.getElementById('show-store');
  function apply() {
    document.body.classList.toggle('hide-store', !box.checked);
    var shown = 0;
    document.querySelectorAll('#trace tr.store').forEach(function (row) {
      if (getComputedStyle(row).display !== 'none') { shown += 1; }
    });
    document.body.setAttribute('data-store-rows-shown', String(shown));
  }
  function reveal() {
    var row = location.hash.length > 1 && document.getElementById(location.hash.slice(1));
    var details = row && row.querySelector('details.payload');
    if (details) { details.open = true; }
    if (row) { row.scrollIntoView(); }  // opening it moved the row: bring it back to the top
  }
  box.addEventListener('change', apply);
  window.addEventListener('hashchange', reveal);
  if (location.hash === '#no-store') { box.checked = false; }
  apply();
  reveal();
})();
"""


def _pct(index: int, total: int) -> str:
    return f"{100 * index / total:.2f}%"


def _lanes(items: Sequence[Row]) -> list[str]:
    found = spans(items)
    if not found:
        return ["<p>(no attempts in the trace)</p>"]
    total = max(len(items), 1)
    ticks = "".join(
        f'<div class="inc" style="left:{_pct(i, total)}" title="incarnation {r.incarnation}"></div>'
        for i, r in enumerate(items)
        if r.first_of_incarnation and i
    )
    lanes: dict[tuple[str, str], list[Span]] = {}
    for s in found:
        lanes.setdefault((s.run, s.state), []).append(s)
    out = ['<div class="lanes" id="spans">']
    for (run, state), group in lanes.items():
        label = html.escape(f"{run} {state}")
        out.append(f'<div class="lane"><span class="label" title="{label}">{label}</span>')
        out.append(f'<div class="track">{ticks}')
        for s in group:
            cls = f"span {s.outcome}" + (" cited" if s.cited else "")
            width = _pct(max(s.last - s.first, 1), total)
            tip = html.escape(
                f"{s.state} attempt {s.attempt}: {SPAN_OUTCOMES[s.outcome]} "
                f"(rows {s.first + 1}-{s.last + 1})"
            )
            out.append(
                f'<a class="{cls}" href="#{s.anchor}" title="{tip}" '
                f'style="left:{_pct(s.first, total)};width:{width}">{html.escape(s.attempt)}</a>'
            )
        out.append("</div></div>")
    out.append("</div>")
    return out


def _legend() -> list[str]:
    chip = 'style="position:static;display:inline-block;width:3em"'
    items = [
        (f'<span class="chip sev-{sev}">fault: {sev}</span>', meaning)
        for sev, (_, meaning) in SEVERITIES.items()
    ]
    items += [(f'<a class="span {o}" {chip}>&nbsp;</a>', m) for o, m in SPAN_OUTCOMES.items()]
    items.append((f'<a class="span cited" {chip}>&nbsp;</a>', "cited by a violation"))
    items += [
        (f'<span class="chip cat-{cat}">{cat}</span>', meaning)
        for cat, meaning in CATEGORIES.items()
    ]
    items.append(('<a class="mark">&larr; name</a>', "an event a violation cites"))
    out = ['<ul class="legend" id="legend">']
    out += [f"<li>{key}<span>{html.escape(meaning)}</span></li>" for key, meaning in items]
    out.append("</ul>")
    return out


def _violations(collapsed: Sequence[Collapsed], anchors: set[str]) -> list[str]:
    out = ['<ul class="violations">']
    for k, c in enumerate(collapsed, 1):
        v = c.first
        links = []
        for seq in v.seqs:
            a = row_anchor(v.run_id or "", seq)
            links.append(
                f'<a href="#{a}">seq {seq}</a>' if a in anchors else f"seq {seq} (not traced)"
            )
        cites = f" &mdash; events {', '.join(links)}" if links else ""
        out.append(f'<li id="v-{k}">{html.escape(c.describe())}{cites}</li>')
    out.append("</ul>")
    return out


def _cited_by(collapsed: Sequence[Collapsed]) -> dict[str, int]:
    """Row anchor -> the number of the first violation citing it."""
    out: dict[str, int] = {}
    for k, c in enumerate(collapsed, 1):
        for seq in c.first.seqs:
            out.setdefault(row_anchor(c.first.run_id or "", seq), k)
    return out


def _payload(
    key: tuple[str, int, str, str] | None,
    views: Mapping[tuple[str, int], tuple[tuple[Any, ...], str]],
    base: Mapping[tuple[Any, ...], list[str]] | None,
) -> str:
    if key is None or (key[0], key[1]) not in views:
        return ""
    name, text = views[(key[0], key[1])]
    parts = [
        '<details class="payload"><summary>payload</summary>',
        f"<pre>{html.escape(text)}</pre>",
    ]
    if base is not None:
        parts.append("<div>against the fault-free run of the same seed:</div>")
        parts.append(f'<pre class="diff">{_diff_html(_diff(text, name, base))}</pre>')
    parts.append("</details>")
    return "".join(parts)


def render_html(
    result: SimResult,
    *,
    title: str | None = None,
    replay: str | None = None,
    baseline: SimResult | None = None,
) -> str:
    """A standalone HTML page of `result`'s timeline.

    `replay` is the command that reproduces it; payloads are shown when `result` kept its
    observation, and diffed when `baseline` (the fault-free run, with its observation) is given.
    """
    esc = html.escape
    heading = title or f"mfm-sim timeline: {result.scenario} seed {result.seed}"
    items = rows(result)
    collapsed = collapse(result.violations)
    anchors: dict[int, str] = {}
    for i, row in enumerate(items):
        key = _event_key(row)
        if key is not None:
            anchors[i] = row_anchor(key[0], key[1])
    views = payload_views(result.observation) if result.observation is not None else {}
    base: dict[tuple[Any, ...], list[str]] | None = None
    if baseline is not None and baseline.observation is not None:
        base = {}
        for (*what, _), text in payload_views(baseline.observation).values():
            base.setdefault(tuple(what), []).append(text)
    cited_by = _cited_by(collapsed)
    schedule_json = json.dumps(result.schedule.to_json(), indent=2, sort_keys=True)

    summary = summary_lines(result)
    verdict_cls = "verdict-fail" if result.violations else "verdict-pass"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(heading)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(heading)}</h1>",
        f'<p class="summary {verdict_cls}">{esc(summary[0])}</p>',
        *(f'<p class="summary">{esc(line)}</p>' for line in summary[1:]),
        "<h2>Reproduce</h2>",
        f'<pre class="replay" id="replay">{esc(replay or "(no replay command given)")}</pre>',
        '<details id="schedule"><summary>schedule (JSON; save it and replay it with '
        "<code>mfm-sim replay --schedule FILE</code>)</summary>",
        f"<pre>{esc(schedule_json)}</pre></details>",
        # `<` is escaped inside the JSON so no value can close the script element.
        '<script type="application/json" id="mfm-schedule">'
        + schedule_json.replace("<", "\\u003c")
        + "</script>",
    ]
    if collapsed:
        parts.append(f"<h2>Violations ({len(collapsed)})</h2>")
        parts += _violations(collapsed, set(anchors.values()))
    parts.append("<h2>Attempts per state</h2>")
    parts.append(
        '<p class="summary">one lane per state; left to right the trace entries in order '
        "(virtual time often stands still); dashed lines: a new incarnation; a span links "
        "to its StateEntered</p>"
    )
    parts += _lanes(items)
    parts.append("<h2>Legend</h2>")
    parts += _legend()
    parts.append(f"<h2>Trace ({len(items)} entries)</h2>")
    if not items:
        parts.append("<p>(no trace kept: replay with keep_trace=True)</p>")
    parts.append(
        '<label class="toggle"><input type="checkbox" id="show-store" checked> '
        "show store calls</label>"
    )
    parts.append(
        '<table class="trace" id="trace"><thead><tr><th>virtual time</th><th>inc</th><th>kind</th>'
        "<th>detail</th></tr></thead><tbody>"
    )
    for i, row in enumerate(items):
        severity = row_severity(row)
        classes = row.category + (f" sev-{severity}" if severity else "")
        classes += " newinc" if row.first_of_incarnation else ""
        anchor = anchors.get(i)
        ident = f' id="{anchor}"' if anchor else ""
        mark = ""
        if row.marks:
            back = f"#v-{cited_by[anchor]}" if anchor in cited_by else "#"
            mark = f'<a class="mark" href="{back}">&larr; {esc(", ".join(row.marks))}</a>'
        payload = _payload(_event_key(row), views, base) if anchor else ""
        parts.append(
            f'<tr class="{classes}"{ident}><td class="vt">{vt(row.vt_ns)}</td>'
            f'<td class="inc">{row.incarnation}</td><td>{esc(row.kind)}</td>'
            f"<td>{esc(row.detail)}{mark}{payload}</td></tr>"
        )
    parts.append("</tbody></table>")
    parts.append(f"<script>{_SCRIPT}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def page_for(
    result: SimResult,
    *,
    variant: str | None = None,
    replay: str | None = None,
    title: str | None = None,
) -> str:
    """The page of `result`, a schedule of a registered scenario: its schedule is replayed to
    keep the trace and the observation, and run once more with no fault for the diffs."""
    from mfm_sim.run.scenario import get_scenario
    from mfm_sim.run.simulate import simulate

    sc = get_scenario(result.scenario)
    full = simulate(
        sc, result.seed, schedule=result.schedule, variant=variant, keep_observation=True
    )
    clean = attrs.evolve(result.schedule, faults=())
    base = simulate(sc, result.seed, schedule=clean, variant=variant, keep_observation=True)
    return render_html(full, title=title, replay=replay, baseline=base)
