"""JUnit XML: the one writer, for `mfm-sim run --junit` and `mfm-sim gate --junit`.

A report is a list of suites of cases (data); `to_xml` is the only code that writes XML.
`report_suites` turns a sweep's `RunReport` into its suites, so the run and the gate
describe a sweep the same way.
"""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import attrs

from mfm_sim.report.groups import FailureGroup, group_failures
from mfm_sim.report.summary import RunReport, failure_lines, package_version

__all__ = ["Case", "Suite", "junit_xml", "report_suites", "to_xml"]


@attrs.frozen
class Case:
    """One test case; at most one of `failure`, `error`, `skipped` (each a one-line message)."""

    classname: str
    name: str
    seconds: float = 0.0
    failure: str | None = None
    failure_type: str | None = None
    error: str | None = None
    skipped: str | None = None
    detail: str = ""  # the body of the failure or error element
    out: str = ""  # system-out
    properties: tuple[tuple[str, str], ...] = ()  # counts etc.: kept out of the stable name

    @property
    def failed(self) -> bool:
        return self.failure is not None or self.error is not None


@attrs.frozen
class Suite:
    name: str
    cases: tuple[Case, ...]
    seconds: float | None = None  # None: the sum of the cases' times
    properties: tuple[tuple[str, str], ...] = ()


def _properties(parent: ET.Element, pairs: Sequence[tuple[str, str]]) -> None:
    if pairs:
        props = ET.SubElement(parent, "properties")
        for key, value in pairs:
            ET.SubElement(props, "property", name=key, value=value)


def to_xml(suites: Sequence[Suite], name: str = "mfm-sim") -> bytes:
    """The JUnit XML document of `suites` (counts are derived from the cases)."""
    root = ET.Element("testsuites", name=name)
    for s in suites:
        seconds = s.seconds if s.seconds is not None else sum(c.seconds for c in s.cases)
        el = ET.SubElement(
            root,
            "testsuite",
            name=s.name,
            tests=str(len(s.cases)),
            failures=str(sum(c.failure is not None for c in s.cases)),
            errors=str(sum(c.error is not None for c in s.cases)),
            skipped=str(sum(c.skipped is not None for c in s.cases)),
            time=f"{seconds:.3f}",
        )
        _properties(el, s.properties)
        for c in s.cases:
            case = ET.SubElement(
                el, "testcase", classname=c.classname, name=c.name, time=f"{c.seconds:.3f}"
            )
            _properties(case, c.properties)
            if c.failure is not None:
                failure = ET.SubElement(case, "failure", message=c.failure)
                if c.failure_type is not None:
                    failure.set("type", c.failure_type)
                failure.text = c.detail
            if c.error is not None:
                ET.SubElement(case, "error", message=c.error).text = c.detail
            if c.skipped is not None:
                ET.SubElement(case, "skipped", message=c.skipped)
            if c.out:
                ET.SubElement(case, "system-out").text = c.out
    for total in ("tests", "failures", "errors", "skipped"):
        root.set(total, str(sum(int(s.get(total, "0")) for s in root)))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def report_suites(report: RunReport, groups: Sequence[FailureGroup] | None = None) -> list[Suite]:
    """Suite `mfm-sim.failure-db` (one case per replayed file, if any) and suite
    `mfm-sim.sweep`: one case per scenario for its passing schedules (named by the scenario
    alone; skipped when none passed), then one failing case per signature of the sweep's
    failures (named by the signature, so the same for any `--seeds`; its message carries the
    count and the replay command of the fastest failure, its body every kept failure)."""
    sw = report.sweep
    props = (
        ("mfm-sim", package_version()),
        ("python", platform.python_version()),
        ("seeds", report.seeds),
        ("engine-variant", report.options.variant or ""),
    ) + ((("partial", "true"), ("partial-reason", sw.partial)) if sw.partial else ())
    out: list[Suite] = []
    if report.db_replayed or report.db_errors:
        out.append(Suite("mfm-sim.failure-db", _db_cases(report), 0.0, props))
    cases = []
    for name, tally in sw.per_scenario.items():
        counts = (("schedules", str(tally.schedules)), ("failing", str(tally.failing)))
        case = Case("mfm-sim.sweep", name, properties=counts)
        passed = tally.schedules - tally.failing
        if passed <= 0:
            why = "no schedules run" if not tally.schedules else "every schedule failed"
            case = attrs.evolve(case, skipped=f"{why} (failures: see the signature cases)")
        elif tally.failing:
            case = attrs.evolve(
                case,
                out=f"{passed} of {tally.schedules} schedules passed; the {tally.failing} "
                "failing ones are reported by signature",
            )
        cases.append(case)
    if groups is None:
        groups = group_failures(report.failures)
    for g in groups:
        sweep_fails = [f for f in g.failures if f.source == "sweep"]
        if not sweep_fails:
            continue  # the failure database's, reported in its own suite
        lines: list[str] = []
        for f in sweep_fails:
            lines += failure_lines(f)
        cases.append(
            Case(
                "mfm-sim.sweep",
                g.title,
                failure=f"{len(sweep_fails)} failing schedules; replay: {sweep_fails[0].replay}",
                failure_type=g.name,
                detail="\n".join(lines),
                properties=(("count", str(len(sweep_fails))), ("replay", sweep_fails[0].replay)),
            )
        )
    kept = sum(1 for f in report.failures if f.source == "sweep")
    if sw.failing > kept:
        cases.append(
            Case(
                "mfm-sim.sweep",
                "failures not kept in full",
                failure=f"{sw.failing - kept} more failing schedules, not kept in full "
                "(their seeds: --json)",
                failure_type="invariant",
            )
        )
    if sw.partial:  # the marker CI shows: the counts above are of a partial sweep
        cases.append(Case("mfm-sim.sweep", "partial", error=f"partial sweep: {sw.partial}"))
    out.append(Suite("mfm-sim.sweep", tuple(cases), sw.wall_s, props))
    return out


def _db_cases(report: RunReport) -> tuple[Case, ...]:
    by_file = {f.schedule_file: f for f in report.failures if f.source == "failure-db"}
    cases = []
    for entry, result in report.db_replayed:
        case = Case("mfm-sim.failure-db", entry.path.name)
        if result.violations:
            f = by_file.get(str(entry.path))
            first = result.violations[0]
            case = attrs.evolve(
                case,
                failure=first.describe(),
                failure_type=first.invariant,
                detail="\n".join(failure_lines(f)) if f else "",
            )
        cases.append(case)
    for path, why in report.db_errors:
        cases.append(
            Case(
                "mfm-sim.failure-db",
                Path(path).name,
                skipped=f"unreadable schedule file: {why}",
            )
        )
    return tuple(cases)


def junit_xml(report: RunReport, groups: Sequence[FailureGroup] | None = None) -> bytes:
    """The JUnit XML of a sweep's report (`mfm-sim run --junit`)."""
    return to_xml(report_suites(report, groups))
