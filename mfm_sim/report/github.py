"""What a GitHub Actions job shows of a gate run, as plain files the workflow passes on.

- `annotations`: one `::error` workflow command per failure signature, carrying the replay
  command (the job prints the file, and GitHub turns each line into an annotation);
- `step_summary`: markdown for `$GITHUB_STEP_SUMMARY`: the verdict, a table of the gate's
  steps and one of the failure groups (count, fastest seed, replay command, timeline file);
- `signature_issues`: one issue body per failure signature, marked with the signature's id in
  an HTML comment, so the workflow finds the open issue of a signature and comments on it
  instead of opening a duplicate.

A signature's id is the first 12 hex digits of the SHA-256 of its canonical JSON: the same bug
gets the same id on every run and every machine (never `hash()`, which is salted per process).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

import attrs

from mfm_sim.report.groups import FailureGroup, Signature
from mfm_sim.report.issue import IssueContext, issue_body
from mfm_sim.report.junit import Suite
from mfm_sim.run.schedule import ScheduleFile

__all__ = [
    "MARKER",
    "SignatureIssue",
    "annotations",
    "marker",
    "signature_id",
    "signature_issues",
    "step_summary",
]

MARKER = "mfm-sim-signature"
MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step


def signature_id(sig: Signature) -> str:
    """A stable, short id of a failure signature."""
    text = json.dumps([list(pair) for pair in sig], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def marker(sig_id: str) -> str:
    """The line an issue body carries so the workflow can find it again by signature."""
    return f"<!-- {MARKER}: {sig_id} -->"


def _data(text: str) -> str:
    # The escapes GitHub's workflow-command parser undoes in a message.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    # A property value additionally ends at `,` and `::`.
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _schedules(n: int) -> str:
    return f"{n} failing schedule{'s' if n != 1 else ''}"


def annotations(groups: Sequence[FailureGroup]) -> str:
    """`::error` lines, one per group (the largest first), each with its replay command."""
    lines = []
    for g in groups[:MAX_ANNOTATIONS]:
        r = g.first.result
        first = r.violations[0]
        title = f"mfm-sim: {g.name} ({_schedules(g.count)})"
        message = (
            f"{r.scenario} seed {r.seed}: {first.invariant}: {first.message}\n"
            f"replay: {g.first.replay}\nsignature: {signature_id(g.signature)}"
        )
        lines.append(f"::error title={_prop(title)}::{_data(message)}")
    if len(groups) > MAX_ANNOTATIONS:
        more = len(groups) - MAX_ANNOTATIONS
        lines.append(f"::error title=mfm-sim::{more} more failure groups (see the step summary)")
    return "".join(line + "\n" for line in lines)


def _cell(text: str) -> str:
    # A markdown table cell: no pipe may end it early, no newline may end the row.
    return text.replace("|", "\\|").replace("\n", " ")


def step_summary(
    verdict: str,
    suites: Sequence[Suite],
    groups: Sequence[FailureGroup],
    timelines: Mapping[tuple[str, int], str],
    failing: int,
) -> str:
    """Markdown: the verdict, the steps and the failure groups; `timelines` maps a group's
    first (scenario, seed) to the file name of its HTML timeline, `failing` counts every
    failing schedule (kept or not)."""
    icon = ":white_check_mark:" if verdict == "ok" else ":x:"
    lines = [f"## {icon} mfm-sim gate: {verdict}", "", "| step | cases | failed | skipped |"]
    lines.append("| --- | ---: | ---: | ---: |")
    for s in suites:
        failed = sum(c.failed for c in s.cases)
        skipped = sum(c.skipped is not None for c in s.cases)
        lines.append(f"| `{s.name}` | {len(s.cases)} | {failed} | {skipped} |")
    if groups:
        lines += [
            "",
            f"### {_schedules(failing)} in {len(groups)} group{'s' if len(groups) != 1 else ''}",
            "",
            "| # | signature | failing | fastest seed | replay | timeline |",
            "| ---: | --- | ---: | --- | --- | --- |",
        ]
        for i, g in enumerate(groups, 1):
            r = g.first.result
            page = timelines.get((r.scenario, r.seed))
            lines.append(
                f"| {i} | `{_cell(g.name)}` `{signature_id(g.signature)}` | {g.count} | "
                f"`{r.scenario}` {r.seed} | `{_cell(g.first.replay)}` | "
                f"{f'`{page}`' if page else '-'} |"
            )
        if timelines:
            lines += ["", "The HTML timelines are in the job's `timelines` artifact."]
    return "\n".join(lines) + "\n"


@attrs.frozen
class SignatureIssue:
    """One failure signature's issue: its id, a title and the body (marked with the id)."""

    sig_id: str
    title: str
    body: str


def signature_issues(
    groups: Sequence[FailureGroup], contexts: Sequence[IssueContext]
) -> list[SignatureIssue]:
    """An issue per group; `contexts[i]` says where group i's first failure was found. The
    schedule shown is the group's fastest failure's, unshrunk (`replay --shrink` shrinks it)."""
    out = []
    for g, context in zip(groups, contexts, strict=True):
        sig_id = signature_id(g.signature)
        r = g.first.result
        note = "unshrunk; `mfm-sim replay ... --shrink` shrinks it"
        shown = ScheduleFile(r.schedule, context.variant, g.name, r.digest)
        body = issue_body(list(g.failures), g.count, context, shown, note)
        pairs = f"- `{g.signature[0]}`: {g.signature[1]}"
        body = (
            f"{marker(sig_id)}\n{body}\n### Signature `{sig_id}`\n\n"
            f"The invariant and message (numbers and ids normalised) every schedule of this "
            f"group breaks; a later run that finds it comments here.\n\n{pairs}\n"
        )
        title = f"mfm-sim: {g.name} violated [{sig_id}]"
        out.append(SignatureIssue(sig_id, title, body))
    return out
