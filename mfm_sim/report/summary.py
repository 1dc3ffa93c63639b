"""What a sweep reports: failure lines with replay commands, the summary table, JSON, JUnit XML."""

from __future__ import annotations

import platform
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from rich.table import Table
from rich.text import Text

from mfm_sim.explore.faildb import Entry
from mfm_sim.explore.sweep import SweepResult
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.run.simulate import SimResult

__all__ = [
    "JSON_FORMAT",
    "MAX_PRINTED",
    "Failure",
    "ReplayOptions",
    "RunReport",
    "failure_lines",
    "human_ns",
    "junit_xml",
    "package_version",
    "replay_key",
    "summary_table",
    "to_json",
]

JSON_FORMAT = "mfm-sim-run/1"
MAX_PRINTED = 10  # failures printed in full; the rest are counted


def package_version() -> str:
    from mfm_sim import __version__

    return __version__


def replay_key(seed: int) -> str:
    """Seed + package version + Python version: what replaying a schedule bit for bit needs."""
    return f"seed={seed} mfm-sim={package_version()} python={platform.python_version()}"


@attrs.frozen
class ReplayOptions:
    """The sweep options a replay must repeat to re-draw the same schedule from a seed."""

    variant: str | None = None
    faults: tuple[FaultKind, ...] | None = None  # None: every kind the scenario allows
    swarm: bool = True
    recoverable: bool = True

    def args(self) -> list[str]:
        out: list[str] = []
        if self.faults is not None:
            out += ["--faults", ",".join(k.value for k in self.faults) or "none"]
        if not self.swarm:
            out.append("--no-swarm")
        if not self.recoverable:
            out.append("--unrestricted")
        if self.variant is not None:
            out += ["--engine-variant", self.variant]
        return out

    def command(self, scenario: str, seed: int, schedule_file: str | None = None) -> str:
        """A copy-pasteable one-line `mfm-sim replay` command."""
        if schedule_file is not None:
            # A schedule file replays bit for bit; only the engine variant still matters.
            argv = ["mfm-sim", "replay", str(seed), "--scenario", scenario]
            argv += ["--schedule", schedule_file]
            if self.variant is not None:
                argv += ["--engine-variant", self.variant]
        else:
            argv = ["mfm-sim", "replay", str(seed), "--scenario", scenario, *self.args()]
        return shlex.join(argv)


@attrs.frozen
class Failure:
    source: str  # "sweep" or "failure-db"
    result: SimResult
    replay: str
    schedule_file: str | None = None  # where it is saved (the failure database), if it is


@attrs.frozen
class RunReport:
    sweep: SweepResult
    options: ReplayOptions
    failures: tuple[Failure, ...]  # the failure database's first, then the sweep's kept ones
    seeds: str  # how the seeds were chosen, for display ("0..999", "shard 1/4 of 0..999")
    db_replayed: tuple[tuple[Entry, SimResult], ...] = ()
    db_skipped: tuple[Entry, ...] = ()  # recorded under another engine variant or scenario
    db_errors: tuple[tuple[str, str], ...] = ()  # (file, why) of unreadable files
    db_pruned: int = 0
    expected_paths: tuple[str, ...] | None = None
    duplicates: int = 0  # sweep failures that are the same schedule as a failure-db one

    @property
    def db_failing(self) -> int:
        return sum(1 for _, r in self.db_replayed if r.violations)

    @property
    def db_fixed(self) -> list[Entry]:
        return [e for e, r in self.db_replayed if not r.violations]

    @property
    def failing(self) -> int:
        return self.sweep.failing + self.db_failing - self.duplicates

    @property
    def ok(self) -> bool:
        return self.failing == 0

    @property
    def coverage_missing(self) -> list[str] | None:
        cov = self.sweep.coverage
        if cov is None or self.expected_paths is None:
            return None
        return [p for p in self.expected_paths if not cov.get(p)]


# ------------------------------------------------------------------------------ text


def human_ns(ns: int) -> str:
    """Virtual time, exactly (integer arithmetic): `2d 3h 4m 5.678s`."""
    ms_total = ns // 10**6
    s_total, ms = divmod(ms_total, 1000)
    m_total, s = divmod(s_total, 60)
    h_total, m = divmod(m_total, 60)
    d, h = divmod(h_total, 24)
    parts = []
    if d:
        parts.append(f"{d}d")
    if d or h:
        parts.append(f"{h}h")
    if d or h or m:
        parts.append(f"{m}m")
    parts.append(f"{s}.{ms:03d}s")
    return " ".join(parts)


def failure_lines(failure: Failure) -> list[str]:
    """The printed form of one failure: replay key, invariant(s) with events, replay command."""
    r = failure.result
    where = " (from the failure database)" if failure.source == "failure-db" else ""
    lines = [f"FAIL {r.scenario} seed {r.seed}{where}  [replay key: {replay_key(r.seed)}]"]
    for v in r.violations:
        run = v.run_id[:8] if v.run_id else "-"
        seqs = ",".join(map(str, v.seqs)) if v.seqs else "-"
        lines.append(f"  invariant {v.invariant}: run {run} events seq {seqs}: {v.message}")
    lines.append(f"  digest {r.digest}")
    if failure.schedule_file:
        lines.append(f"  schedule saved: {failure.schedule_file}")
    lines.append(f"  replay: {failure.replay}")
    return lines


def summary_table(report: RunReport) -> Table:
    sw = report.sweep
    table = Table(title="mfm-sim run", show_header=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("scenarios", ", ".join(sw.scenarios))
    seeds = f"{report.seeds} ({sw.seeds_run} of {sw.seeds_planned} seeds run)"
    if sw.budget_exhausted:
        seeds += "; time budget spent"
    table.add_row("seeds", seeds)
    if report.options.variant:
        table.add_row("engine variant", Text(report.options.variant, style="bold red"))
    table.add_row("schedules", f"{sw.schedules}")
    table.add_row("faults", f"{sw.faults}")
    for kind, n in sw.faults_by_kind.items():
        table.add_row(f"  {kind}", f"{n}")
    table.add_row("crashes", f"{sw.crashes}")
    table.add_row("resumes", f"{sw.resumes}")
    table.add_row("fault points (store calls)", f"{sw.store_calls}")
    table.add_row("virtual time simulated", human_ns(sw.virtual_ns))
    table.add_row("wall time", f"{sw.wall_s:.2f}s")
    table.add_row("schedules/s", f"{sw.schedules_per_s:.0f}")
    if report.db_replayed or report.db_errors or report.db_skipped:
        db = (
            f"{len(report.db_replayed)} replayed, {report.db_failing} still failing, "
            f"{len(report.db_fixed)} fixed"
        )
        if report.db_pruned:
            db += f" ({report.db_pruned} pruned)"
        if report.db_skipped:
            db += f", {len(report.db_skipped)} skipped (other scenario or engine variant)"
        if report.db_errors:
            db += f", {len(report.db_errors)} unreadable"
        table.add_row("failure database", db)
    if sw.violations_by_invariant:
        table.add_row(
            Text("violations", style="bold red"),
            Text(f"{sw.failing} failing schedules", style="bold red"),
        )
        for inv, n in sw.violations_by_invariant.items():
            table.add_row(Text(f"  {inv}", style="red"), f"{n}")
    else:
        table.add_row("violations", Text("none", style="green"))
    missing = report.coverage_missing
    if missing is not None and report.expected_paths is not None:
        fired = len(report.expected_paths) - len(missing)
        table.add_row("recovery paths", f"{fired} of {len(report.expected_paths)} fired")
        if missing:
            table.add_row("  never fired", Text(", ".join(missing), style="yellow"))
    return table


# ------------------------------------------------------------------------------ JSON


def _failure_json(f: Failure) -> dict[str, Any]:
    r = f.result
    first = r.violations[0] if r.violations else None
    return {
        "source": f.source,
        "scenario": r.scenario,
        "seed": r.seed,
        "invariant": first.invariant if first else None,
        "seqs": list(first.seqs) if first else [],
        "run_id": first.run_id if first else None,
        "message": first.message if first else None,
        "violations": [
            {
                "invariant": v.invariant,
                "run_id": v.run_id,
                "seqs": list(v.seqs),
                "message": v.message,
            }
            for v in r.violations
        ],
        "digest": r.digest,
        "replay": f.replay,
        "replay_key": {
            "seed": r.seed,
            "version": package_version(),
            "python": platform.python_version(),
        },
        "schedule_file": f.schedule_file,
        "schedule": r.schedule.to_json(),
    }


def to_json(report: RunReport) -> dict[str, Any]:
    """A machine-readable summary. Everything outside `timing` is the same for any `--jobs`."""
    sw = report.sweep
    o = report.options
    return {
        "format": JSON_FORMAT,
        "ok": report.ok,
        "version": package_version(),
        "python": platform.python_version(),
        "options": {
            "engine_variant": o.variant,
            "faults": [k.value for k in o.faults] if o.faults is not None else None,
            "swarm": o.swarm,
            "recoverable": o.recoverable,
        },
        "scenarios": list(sw.scenarios),
        "seeds": {
            "spec": report.seeds,
            "planned": sw.seeds_planned,
            "run": sw.seeds_run,
            "first": sw.first_seed,
            "last": sw.last_seed,
            "budget_exhausted": sw.budget_exhausted,
        },
        "schedules": sw.schedules,
        "faults": sw.faults,
        "faults_by_kind": dict(sw.faults_by_kind),
        "crashes": sw.crashes,
        "resumes": sw.resumes,
        "store_calls": sw.store_calls,
        "incarnations": sw.incarnations,
        "virtual_ns": sw.virtual_ns,
        "failing": report.failing,
        "sweep_failing": sw.failing,
        "failure_db_failing": report.db_failing,
        "found_by_both": report.duplicates,
        "violations_by_invariant": dict(sw.violations_by_invariant),
        "per_scenario": {
            name: {"schedules": t.schedules, "failing": t.failing}
            for name, t in sw.per_scenario.items()
        },
        "failures": [_failure_json(f) for f in report.failures],
        "failures_omitted": max(0, report.failing - len(report.failures)),
        "failure_db": {
            "replayed": [
                {"file": str(e.path), "fixed": not r.violations, "digest": r.digest}
                for e, r in report.db_replayed
            ],
            "skipped": [str(e.path) for e in report.db_skipped],
            "unreadable": [{"file": f, "error": why} for f, why in report.db_errors],
            "pruned": report.db_pruned,
        },
        "coverage": dict(sw.coverage) if sw.coverage is not None else None,
        "coverage_missing": report.coverage_missing,
        "timing": {  # wall clock: display only, differs run to run
            "wall_s": round(sw.wall_s, 3),
            "schedules_per_s": round(sw.schedules_per_s, 1),
        },
    }


# ------------------------------------------------------------------------------ JUnit


def junit_xml(report: RunReport) -> bytes:
    """JUnit XML: suite `failure-db` (one case per replayed file) and suite `sweep` (one case
    per scenario; its failure lists the failing seeds with their replay commands)."""
    sw = report.sweep
    root = ET.Element("testsuites", name="mfm-sim")
    props_common = {
        "mfm-sim": package_version(),
        "python": platform.python_version(),
        "seeds": report.seeds,
        "engine-variant": report.options.variant or "",
    }

    def suite(name: str, cases: int, failures: int, time_s: float) -> ET.Element:
        el = ET.SubElement(
            root,
            "testsuite",
            name=name,
            tests=str(cases),
            failures=str(failures),
            errors="0",
            skipped="0",
            time=f"{time_s:.3f}",
        )
        props = ET.SubElement(el, "properties")
        for k, v in props_common.items():
            ET.SubElement(props, "property", name=k, value=v)
        return el

    by_file = {f.schedule_file: f for f in report.failures if f.source == "failure-db"}
    if report.db_replayed or report.db_errors:
        db = suite(
            "mfm-sim.failure-db",
            len(report.db_replayed) + len(report.db_errors),
            report.db_failing,
            0.0,
        )
        for entry, result in report.db_replayed:
            case = ET.SubElement(
                db, "testcase", classname="mfm-sim.failure-db", name=entry.path.name, time="0"
            )
            if result.violations:
                f = by_file.get(str(entry.path))
                text = "\n".join(failure_lines(f)) if f else ""
                first = result.violations[0]
                ET.SubElement(
                    case, "failure", message=first.describe(), type=first.invariant
                ).text = text
        for path, why in report.db_errors:
            case = ET.SubElement(
                db, "testcase", classname="mfm-sim.failure-db", name=Path(path).name, time="0"
            )
            ET.SubElement(case, "skipped", message=f"unreadable schedule file: {why}")
    failing_scenarios = sum(1 for t in sw.per_scenario.values() if t.failing)
    sweep_el = suite("mfm-sim.sweep", len(sw.per_scenario), failing_scenarios, sw.wall_s)
    kept: dict[str, list[Failure]] = {}
    for f in report.failures:
        if f.source == "sweep":
            kept.setdefault(f.result.scenario, []).append(f)
    for name, tally in sw.per_scenario.items():
        case = ET.SubElement(
            sweep_el,
            "testcase",
            classname="mfm-sim.sweep",
            name=f"{name} ({tally.schedules} schedules)",
            time="0",
        )
        if tally.failing:
            fails = kept.get(name, [])
            invs = sorted({v.invariant for f in fails for v in f.result.violations})
            message = f"{tally.failing} of {tally.schedules} schedules failed: " + ", ".join(invs)
            lines: list[str] = []
            for f in fails:
                lines += failure_lines(f)
            if tally.failing > len(fails):
                lines.append(f"... and {tally.failing - len(fails)} more failing schedules")
            ET.SubElement(case, "failure", message=message, type="invariant").text = "\n".join(
                lines
            )
    total = sum(int(s.get("tests", "0")) for s in root)
    fails_total = sum(int(s.get("failures", "0")) for s in root)
    root.set("tests", str(total))
    root.set("failures", str(fails_total))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def print_failures(failures: Sequence[Failure], total: int, echo: Any) -> None:
    """Print the first MAX_PRINTED failures in full, then how many more there are."""
    for f in failures[:MAX_PRINTED]:
        for line in failure_lines(f):
            echo(line)
        echo("")
    rest = total - min(len(failures), MAX_PRINTED)
    if rest > 0:
        echo(f"... and {rest} more failing schedules (see --json FILE for the kept ones)")
