"""What a sweep reports: failure lines with replay commands, the summary table, JSON."""

from __future__ import annotations

import json
import platform
import shlex
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from rich.table import Table
from rich.text import Text

from mfm_sim.explore.faildb import Entry
from mfm_sim.explore.interrupt import signal_name
from mfm_sim.explore.sweep import SweepResult
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.report.collapse import collapse
from mfm_sim.run.result import SimResult

if TYPE_CHECKING:
    from mfm_sim.report.groups import FailureGroup

__all__ = [
    "JSON_FORMAT",
    "MAX_PRINTED",
    "Failure",
    "ReplayOptions",
    "RunReport",
    "failing_seeds_json",
    "failure_lines",
    "group_json",
    "human_ns",
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
    store: str = "memory"  # a schedule file carries its own

    def args(self) -> list[str]:
        out: list[str] = []
        if self.store != "memory":
            out += ["--store", self.store]
        if self.faults is not None:
            out += ["--faults", ",".join(k.value for k in self.faults) or "none"]
        if not self.swarm:
            out.append("--no-swarm")
        if not self.recoverable:
            out.append("--unrestricted")
        if self.variant is not None:
            out += ["--engine-variant", self.variant]
        return out

    def command(
        self,
        scenario: str,
        seed: int,
        schedule_file: str | None = None,
        recorded_variant: str | None = None,
    ) -> str:
        """A copy-pasteable one-line `mfm-sim replay` command: every option that shapes the
        schedule. The one builder of replay commands (run, gate, JUnit, issue body, emitted
        regression tests), so none of them can drop one.

        A schedule file replays bit for bit under the variant it recorded
        (`recorded_variant`); the variant is named when it is another, `real` for the real
        engine."""
        if schedule_file is not None:
            argv = ["mfm-sim", "replay", str(seed), "--scenario", scenario]
            argv += ["--schedule", schedule_file]
            if self.variant is not None:
                argv += ["--engine-variant", self.variant]
            elif recorded_variant is not None:
                argv += ["--engine-variant", "real"]
        else:
            argv = ["mfm-sim", "replay", str(seed), "--scenario", scenario, *self.args()]
        return shlex.join(argv)

    def python_command(self, scenario: str, seed: int, schedule_file: str | None = None) -> str:
        """The same replay as `command`, as a `python -c` line that needs only the package's
        API; it prints the digest, then the violations. (JSON strings are Python literals.)"""
        kwargs = [str(seed)]
        if schedule_file is not None:
            kwargs.append(f"schedule=Schedule.load({json.dumps(schedule_file)})")
        else:
            if self.faults is not None:
                kinds = json.dumps([k.value for k in self.faults])
                kwargs.append(f"faults=[FaultKind(k) for k in {kinds}]")
            if not self.swarm:
                kwargs.append("swarm=False")
            if not self.recoverable:
                kwargs.append("recoverable=False")
            if self.store != "memory":
                kwargs.append(f"store={json.dumps(self.store)}")
        if self.variant is not None:
            kwargs.append(f"variant={json.dumps(self.variant)}")
        code = (
            "from mfm_sim import FaultKind, Schedule, get_scenario, simulate; "
            f"r = simulate(get_scenario({json.dumps(scenario)}), {', '.join(kwargs)}); "
            'print(r.digest, *(v.describe() for v in r.violations), sep="\\n")'
        )
        return shlex.join(["python", "-c", code])


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
    # The exact number of seeds asked for, where a sequence's len() could not say it (more
    # than sys.maxsize: `--seed-range 0..18446744073709551615`); None: the sweep's count.
    seeds_asked: int | None = None

    @property
    def seeds_planned(self) -> int:
        return self.sweep.seeds_planned if self.seeds_asked is None else self.seeds_asked

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
    lines += [c.line() for c in collapse(r.violations)]
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
    seeds = f"{report.seeds} ({sw.seeds_run} of {report.seeds_planned} seeds run)"
    if sw.budget_exhausted:
        seeds += "; time budget spent"
    if sw.stopped_on_failures:
        seeds += "; stopped at --maxfail"
    table.add_row("seeds", seeds)
    if sw.partial is not None:
        table.add_row(Text("partial", style="bold yellow"), Text(sw.partial, style="yellow"))
    if sw.worker_deaths:
        table.add_row("worker deaths", f"{sw.worker_deaths} (their chunks were run again)")
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
        # What a group orders its failures by (`mfm_sim.report.groups.cost`), so that a
        # merged report groups them as the sweep did.
        "virtual_ns": r.stats.virtual_ns,
        "store_calls": r.stats.store_calls,
        "replay": f.replay,
        "replay_key": {
            "seed": r.seed,
            "version": package_version(),
            "python": platform.python_version(),
        },
        "schedule_file": f.schedule_file,
        "schedule": r.schedule.to_json(),
    }


def group_json(
    signature: tuple[str, str], members: Sequence[tuple[str, int, str, str]]
) -> dict[str, Any]:
    """A group in the JSON report: its signature, count, and the replay command and digest of
    its first member; `members` are (scenario, seed, replay, digest), cheapest first."""
    return {
        "invariant": signature[0],
        "message": signature[1],
        "count": len(members),
        "replay": members[0][2],
        "digest": members[0][3],
        "seeds": [[scenario, seed] for scenario, seed, _, _ in members],
    }


def _groups_json(groups: Sequence[FailureGroup]) -> list[dict[str, Any]]:
    return [
        group_json(
            g.signature,
            [(f.result.scenario, f.result.seed, f.replay, f.result.digest) for f in g.failures],
        )
        for g in groups
    ]


def failing_seeds_json(pairs: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """Failing (scenario, seed) pairs, in (scenario, seed) order, as the report lists them:
    per scenario."""
    out: dict[str, list[int]] = {}
    for name, seed in pairs:
        out.setdefault(name, []).append(seed)
    return out


def to_json(report: RunReport, groups: Sequence[FailureGroup] | None = None) -> dict[str, Any]:
    """A machine-readable summary. Everything outside `timing` is the same for any `--jobs`.

    Every failing seed of the sweep is listed (`failing_seeds`, per scenario); the first
    `MAX_FAILURES` are kept in full, schedules included (`failures`), and grouped by
    signature (`groups`)."""
    if groups is None:
        from mfm_sim.report.groups import group_failures

        groups = group_failures(report.failures)
    sw = report.sweep
    o = report.options
    return {
        "format": JSON_FORMAT,
        "ok": report.ok,
        "partial": sw.partial is not None,
        "partial_reason": sw.partial,
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
            "planned": report.seeds_planned,
            "run": sw.seeds_run,
            "first": sw.first_seed,
            "last": sw.last_seed,
            "budget_exhausted": sw.budget_exhausted,
            "stopped_on_failures": sw.stopped_on_failures,
            "interrupted_by": signal_name(sw.interrupted) if sw.interrupted else None,
            "not_run": [{"seeds": list(u.seeds), "reason": u.reason} for u in sw.unrun],
            "worker_deaths": sw.worker_deaths,
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
        "groups": _groups_json(groups),
        "failing_seeds": failing_seeds_json(sw.failing_seeds),
        "failing_seeds_omitted": sw.failing - len(sw.failing_seeds),
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
