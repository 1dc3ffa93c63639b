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

from mfm_sim.report.summary import Failure, RunReport, failure_lines, package_version

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


def report_suites(report: RunReport) -> list[Suite]:
    """Suite `mfm-sim.failure-db` (one case per replayed file, if any) and suite
    `mfm-sim.sweep` (one case per scenario, named by the scenario alone; its failure lists
    the failing seeds with their replay commands)."""
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
    kept: dict[str, list[Failure]] = {}
    for f in report.failures:
        if f.source == "sweep":
            kept.setdefault(f.result.scenario, []).append(f)
    cases = []
    for name, tally in sw.per_scenario.items():
        # Named by scenario only, so the name is the same for any --seeds.
        counts = (("schedules", str(tally.schedules)), ("failing", str(tally.failing)))
        case = Case("mfm-sim.sweep", name, properties=counts)
        if tally.failing:
            fails = kept.get(name, [])
            invs = sorted({v.invariant for f in fails for v in f.result.violations})
            lines: list[str] = []
            for f in fails:
                lines += failure_lines(f)
            if tally.failing > len(fails):
                lines.append(f"... and {tally.failing - len(fails)} more failing schedules")
            case = attrs.evolve(
                case,
                failure=f"{tally.failing} of {tally.schedules} schedules failed: "
                + ", ".join(invs),
                failure_type="invariant",
                detail="\n".join(lines),
            )
        cases.append(case)
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


def junit_xml(report: RunReport) -> bytes:
    """The JUnit XML of a sweep's report (`mfm-sim run --junit`)."""
    return to_xml(report_suites(report))
