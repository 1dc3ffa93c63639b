"""`mfm-sim gate`: the CI gate. Tests, the regression corpus, then a seed sweep; exit 0 only
if all pass.

1. The test suite (`python -m pytest -n 2 -q` in the current directory), unless
   `--skip-tests`.
2. Every schedule in the corpus (`ci/corpus/*.json`) replays on the engine with no violation.
   A corpus file may name the `variant` (a deliberately broken engine) and `invariant` it was
   found with; if that variant exists, the schedule must still break that invariant under
   it (a canary: the checks can still fail).
3. A sweep (`mfm_sim.explore.sweep`) of seeds `S, S+1, ...` over the scenario mix. `S`
   (`--seed-start`) defaults to a number derived from the git commit, so the same commit
   sweeps the same seeds, never from the date or the wall clock. `--seeds N` runs exactly N
   seeds (bounded by `--time-budget` as a safety net); without it the sweep runs seeds until
   the time budget is spent (the seeds run are then a prefix of the same sequence).
4. Coverage of recovery paths; `--require-coverage` fails the gate if one never fired.

`--time-budget` means what it means in `run`: no chunk of seeds is started after it (the
running ones finish), and the sweep line says the budget stopped it after how many seeds.

Exit status: 0 all passed; 1 a test, corpus schedule, swept seed or required coverage failed;
2 bad input; 3 the harness itself crashed (never reported as an engine violation); 128 + the
signal when SIGINT, SIGTERM or SIGHUP stopped it before any failure was found (the JUnit is
still written, marked partial).
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, overload

import attrs
import click

from mfm_sim.cli.options import (
    BadInput,
    bad,
    check_writable,
    count_option,
    file_option,
    parse_scenarios,
    parse_seed_arg,
    parse_variant,
    scenario_option,
    time_budget_option,
    warn,
    writable_dir,
    write_output,
)
from mfm_sim.cli.status import EXIT_HARNESS, EXIT_VIOLATION
from mfm_sim.errors import HarnessError
from mfm_sim.explore.faildb import Entry, FailureDB
from mfm_sim.explore.interrupt import exit_status
from mfm_sim.explore.sweep import MAX_FAILURES, SweepResult
from mfm_sim.report.groups import FailureGroup
from mfm_sim.report.junit import Case, Suite
from mfm_sim.report.summary import Failure, ReplayOptions, RunReport
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.schedule import Schedule, ScheduleFile

__all__ = ["DEFAULT_BUDGET", "SeedRing", "default_seed_start", "gate", "git_commit"]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_BUDGET = 60.0  # seconds of sweep when `--seeds` is not given
SEED_SPACE = 2**64
TEST_TAIL = 40  # lines of pytest output kept in the report


def git_commit() -> str | None:
    """`git rev-parse HEAD` in the current directory; None without git or a repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and text else None


def default_seed_start(commit: str | None) -> int:
    """A deterministic start for the sweep: the commit's first 64 bits (0 without git)."""
    if commit is None:
        return 0
    try:
        return int(commit[:16], 16)
    except ValueError:
        return int.from_bytes(hashlib.sha256(commit.encode()).digest()[:8], "big")


@attrs.frozen
class SeedRing(Sequence[int]):
    """`count` consecutive seeds from `start`, wrapping at 2**64; lazy, because a sweep bounded
    only by its time budget plans more seeds than it can ever run."""

    start: int
    count: int

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [(self.start + i) % SEED_SPACE for i in range(self.count)[index]]
        return (self.start + range(self.count)[index]) % SEED_SPACE

    def __iter__(self) -> Iterator[int]:
        return (self[i] for i in range(self.count))


@attrs.frozen
class _Found:
    """A failure and the engine variant it ran under (the corpus runs the real engine)."""

    failure: Failure
    variant: str | None


# ------------------------------------------------------------------------------ steps


def _run_tests(test_jobs: int) -> Case:
    cmd = [sys.executable, "-m", "pytest", "-n", str(test_jobs), "-q", "-p", "no:cacheprovider"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-TEST_TAIL:])
    case = Case("mfm-sim.tests", "pytest", time.monotonic() - t0, out=tail)
    last = tail.rsplit("\n", 1)[-1]
    click.echo(f"tests: {'ok' if proc.returncode == 0 else 'FAILED'}  {last}")
    if proc.returncode == 0:
        return case
    return attrs.evolve(case, failure=f"test suite failed (exit {proc.returncode})", detail=tail)


def _load_corpus(directory: str) -> list[Entry]:
    from mfm_sim.run.scenario import all_scenarios

    known = {sc.name for sc in all_scenarios()}
    db = FailureDB(directory)
    entries = db.entries()
    if db.errors:
        path, why = db.errors[0]
        raise BadInput(f"--corpus: corpus file {path}: {why}")
    for e in entries:
        if e.schedule is not None and e.schedule.scenario not in known:
            raise BadInput(
                f"--corpus: corpus file {e.path}: unknown scenario {e.schedule.scenario!r}"
            )
    return entries


def _replay_corpus(entries: Sequence[Entry], found: list[_Found]) -> list[Case]:
    from mfm_sim.report.summary import failure_lines
    from mfm_sim.run.scenario import get_scenario
    from mfm_sim.run.simulate import simulate
    from mfm_sim.selfcheck.variants import VARIANTS

    cases: list[Case] = []
    for entry in entries:
        schedule = entry.schedule
        assert schedule is not None  # _load_corpus refused unreadable files
        sc = get_scenario(schedule.scenario)
        name = entry.path.name
        t0 = time.monotonic()
        result = simulate(sc, schedule.seed, schedule=schedule, keep_trace=False)
        case = Case("mfm-sim.corpus", name, time.monotonic() - t0)
        if result.violations:
            replay = ReplayOptions().command(sc.name, schedule.seed, str(entry.path), entry.variant)
            f = Failure("corpus", result, replay, str(entry.path))
            found.append(_Found(f, None))
            first = result.violations[0]
            case = attrs.evolve(
                case,
                failure=f"{first.invariant}: {first.message}",
                failure_type=first.invariant,
                detail="\n".join(failure_lines(f)),
            )
        cases.append(case)
        click.echo(f"corpus {name}: {'FAILED ' + case.failure if case.failure else 'ok'}")
        if entry.variant:
            cases.append(_canary(entry, sc, schedule, entry.variant in VARIANTS))
    if not entries:
        click.echo("corpus: no schedules")
    return cases


def _canary(entry: Entry, sc: Scenario, schedule: Schedule, available: bool) -> Case:
    """The corpus schedule under the variant it was found with must still break its invariant."""
    from mfm_sim.run.simulate import simulate

    variant, invariant = entry.variant, entry.invariant
    case = Case("mfm-sim.corpus", f"{entry.path.name}[{variant}]")
    if not available:
        return attrs.evolve(case, skipped=f"variant {variant!r} is not available")
    t0 = time.monotonic()
    broken = simulate(sc, schedule.seed, schedule=schedule, variant=variant, keep_trace=False)
    case = attrs.evolve(case, seconds=time.monotonic() - t0)
    if any(v.invariant == invariant for v in broken.violations):
        return case
    got = ", ".join(sorted({v.invariant for v in broken.violations})) or "none"
    return attrs.evolve(
        case,
        failure=f"under variant {variant} the schedule no longer breaks {invariant} "
        f"(violations: {got}); a check may have gone blind, or the scenario changed so the "
        "schedule's steps moved",
    )


def _seeds(start: int, seeds: int | None) -> SeedRing:
    return SeedRing(start, sys.maxsize if seeds is None else seeds)  # len() must fit


def _seed_span(sw: SweepResult, start: int) -> str:
    return f"{start}..{sw.last_seed if sw.last_seed is not None else start}"


def _sweep_line(sw: SweepResult, start: int) -> str:
    line = (
        f"sweep: seeds {_seed_span(sw, start)} ({sw.seeds_run} seeds x {len(sw.scenarios)} "
        f"scenarios = {sw.schedules} schedules) in {sw.wall_s:.1f}s; {sw.failing} failing"
    )
    if sw.budget_exhausted:
        line += f"; the time budget stopped it after {sw.seeds_run} seeds"
    if sw.stopped_on_failures:
        line += "; stopped at the failure limit"
    if sw.partial is not None:
        line += f"; PARTIAL: {sw.partial}"
    return line


def _coverage_case(report: RunReport, required: bool) -> Case:
    cov = report.sweep.coverage or {}
    expected = report.expected_paths or ()
    missing = report.coverage_missing or []
    rows = "\n".join(f"{p:50} {cov.get(p, 0)}" for p in expected)
    case = Case("mfm-sim.coverage", "recovery-paths", out=rows)
    if not missing:
        click.echo(f"coverage: all {len(expected)} expected recovery paths fired")
        return case
    msg = f"{len(missing)} recovery path(s) never fired: {', '.join(missing)}"
    click.echo(f"coverage: {msg}{'' if required else ' (not required)'}")
    return attrs.evolve(case, failure=msg, detail=rows) if required else case


# ------------------------------------------------------------------------------ triage


def _shrink(found: _Found) -> tuple[SimResult, str]:
    """The shrunk failure and a note on how shrinking went (the failure itself if it failed)."""
    from mfm_sim.explore.shrink import shrink
    from mfm_sim.run.scenario import get_scenario

    r = found.failure.result
    try:
        res = shrink(
            get_scenario(r.scenario), r.schedule, r.violations[0].invariant, variant=found.variant
        )
    except Exception as exc:  # a triage aid: its failure must not hide the gate's verdict
        return r, f"shrinking failed: {type(exc).__name__}: {exc}"
    if not res.reproduced:
        return r, "the scripted replay did not reproduce the violation; unshrunk"
    return attrs.evolve(res.result, schedule=res.schedule), res.describe()


def _triage(
    found: Sequence[_Found],
    total: int,
    *,
    no_shrink: bool,
    issue_path: str | None,
    save_dir: str | None,
    commit: str | None,
    start: int,
) -> None:
    from mfm_sim.report.issue import IssueContext, issue_body
    from mfm_sim.report.summary import failure_lines

    first = found[0]
    for line in failure_lines(first.failure):
        click.echo(line)
    if total > 1:
        click.echo(f"  ... and {total - 1} more failing schedules (see --junit, --issue-body)")
    shrunk, note = (first.failure.result, "not shrunk") if no_shrink else _shrink(first)
    click.echo(f"  shrunk: {note}")
    if issue_path:
        context = IssueContext(commit, start, first.variant)
        shrunk_file = ScheduleFile(
            shrunk.schedule, first.variant, shrunk.violations[0].invariant, shrunk.digest
        )
        body = issue_body([f.failure for f in found], total, context, shrunk_file, note)
        if write_output(issue_path, body, "--issue-body"):
            click.echo(f"  issue body: {issue_path}")
    if save_dir:
        db = FailureDB(save_dir)
        kept = found[:MAX_FAILURES]
        try:
            for i, f in enumerate(kept):
                r = shrunk if i == 0 else f.failure.result
                db.save(r, variant=f.variant, suffix=f.failure.result.violations[0].invariant)
        except OSError as exc:  # a full disk must not hide the verdict
            warn(f"--save-failures: cannot write to {save_dir}: {exc.strerror or exc}")
            return
        click.echo(f"  schedules: {save_dir} ({len(kept)} files; the first shrunk)")


@attrs.frozen
class _GitHubOutputs:
    """Where the files a GitHub workflow shows go (`mfm_sim.report.github`); None: not asked."""

    annotations: str | None
    step_summary: str | None
    html_dir: str | None
    issues_dir: str | None

    def write(
        self,
        found: Sequence[_Found],
        suites: Sequence[Suite],
        failing: int,
        commit: str | None,
        start: int,
    ) -> None:
        from mfm_sim.report import github
        from mfm_sim.report.groups import group_failures
        from mfm_sim.report.issue import IssueContext

        # Corpus failures ran the real engine; the sweep's ran the variant, if any.
        variant_of = {f.failure.source: f.variant for f in found}
        groups = group_failures([f.failure for f in found])
        timelines = self._timelines(groups, variant_of) if self.html_dir else {}
        if self.annotations:
            write_output(self.annotations, github.annotations(groups), "--annotations")
            click.echo(f"annotations: {self.annotations}")
        if self.step_summary:
            verdict = "FAILED" if any(c.failed for s in suites for c in s.cases) else "ok"
            text = github.step_summary(verdict, suites, groups, timelines, failing)
            write_output(self.step_summary, text, "--step-summary")
            click.echo(f"step summary: {self.step_summary}")
        if self.issues_dir and groups:
            contexts = [IssueContext(commit, start, variant_of.get(g.first.source)) for g in groups]
            issues = github.signature_issues(groups, contexts)
            for issue in issues:
                _write_in(self.issues_dir, f"{issue.sig_id}.md", issue.body, "--issues-dir")
            index = "".join(f"{i.sig_id}\t{i.title}\n" for i in issues)
            _write_in(self.issues_dir, "index.tsv", index, "--issues-dir")
            click.echo(f"issues: {self.issues_dir} ({len(issues)} signatures)")

    def _timelines(
        self, groups: Sequence[FailureGroup], variant_of: dict[str, str | None]
    ) -> dict[tuple[str, int], str]:
        """The HTML timeline of each group's fastest failure (the first MAX_PRINTED groups)."""
        from mfm_sim.report.summary import MAX_PRINTED
        from mfm_sim.report.timeline_html import page_for

        assert self.html_dir is not None
        out: dict[tuple[str, int], str] = {}
        for g in groups[:MAX_PRINTED]:
            f = g.first
            r = f.result
            name = f"{r.scenario}-{r.seed}.html"
            page = page_for(r, variant=variant_of.get(f.source), replay=f.replay)
            _write_in(self.html_dir, name, page, "--html-dir")
            out[(r.scenario, r.seed)] = name
        if out:
            click.echo(f"timelines: {self.html_dir} ({len(out)} HTML files)")
        return out


def _write_in(directory: str, name: str, text: str, param: str) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        bad(param, f"cannot create {directory}: {exc.strerror or exc}")
    write_output(os.path.join(directory, name), text, param)


# ------------------------------------------------------------------------------ command


def _dir_option(name: str, help_text: str) -> Callable[[F], F]:
    """An optional output directory, written only when the gate finds a failure."""
    return click.option(
        name,
        type=click.Path(file_okay=False),
        callback=writable_dir,
        default=None,
        metavar="DIR",
        help=help_text,
    )


@click.command("gate")
@time_budget_option(
    "Start no new chunk of sweep seeds after S seconds (finite, > 0) "
    f"[default: {DEFAULT_BUDGET:g} without --seeds]."
)
@click.option(
    "--seeds", type=click.IntRange(min=0), default=None, metavar="N", help="Sweep exactly N seeds."
)
@click.option(
    "--seed-start",
    default=None,
    metavar="N",
    help="First seed, decimal or 0x hex [default: derived from the git commit].",
)
@scenario_option("all", "A scenario name, a comma-separated list, `default` or `all`.")
@count_option("--jobs", 1, "Worker processes for the sweep.")
@count_option("--test-jobs", 2, "pytest -n for the test suite.")
@click.option(
    "--require-coverage", is_flag=True, help="Fail if an expected recovery path never fired."
)
@file_option("--junit", help_text="Write JUnit XML.")
@file_option(
    "--issue-body",
    "issue_path",
    help_text="On failure, write a ready issue body (markdown) to FILE.",
)
@_dir_option(
    "--save-failures", "On failure, write the failing schedules (the first shrunk) to DIR."
)
@file_option(
    "--annotations",
    help_text="Write GitHub `::error` annotations (one per failure signature) to FILE.",
)
@file_option(
    "--step-summary", help_text="Write a markdown summary (for $GITHUB_STEP_SUMMARY) to FILE."
)
@_dir_option(
    "--html-dir", "On failure, write the HTML timeline of each failure group's fastest seed to DIR."
)
@_dir_option(
    "--issues-dir",
    "On failure, write one issue body per failure signature to DIR (<id>.md, index.tsv).",
)
@click.option("--skip-tests", is_flag=True, help="Do not run the test suite.")
@click.option("--no-shrink", is_flag=True, help="Do not shrink the first failure.")
@click.option(
    "--corpus",
    type=click.Path(file_okay=False),
    default=os.path.join("ci", "corpus"),
    show_default=True,
    help="Directory of regression schedules.",
)
@click.option(
    "--engine-variant",
    "--variant",
    "variant",
    default=None,
    help="Sweep a deliberately broken engine (to see the gate fail; see `mfm-sim list`).",
)
def gate(
    time_budget: float | None,
    seeds: int | None,
    seed_start: str | None,
    scenario: str,
    jobs: int,
    test_jobs: int,
    require_coverage: bool,
    junit: str | None,
    issue_path: str | None,
    save_failures: str | None,
    annotations: str | None,
    step_summary: str | None,
    html_dir: str | None,
    issues_dir: str | None,
    skip_tests: bool,
    no_shrink: bool,
    corpus: str,
    variant: str | None,
) -> int:
    """The CI gate: tests, the regression corpus, a seed sweep; exit 0 only if all pass."""
    from mfm_sim.explore.coverage import expected_paths
    from mfm_sim.explore.sweep import sweep
    from mfm_sim.report.junit import report_suites, to_xml

    scs = parse_scenarios(scenario)
    variant = parse_variant(variant)
    check_writable(junit, "--junit")
    check_writable(issue_path, "--issue-body")
    check_writable(annotations, "--annotations")
    check_writable(step_summary, "--step-summary")
    entries = _load_corpus(corpus)
    commit = git_commit()
    start = (
        default_seed_start(commit)
        if seed_start is None
        else parse_seed_arg(seed_start, "--seed-start")
    )
    budget = DEFAULT_BUDGET if seeds is None and time_budget is None else time_budget
    click.echo(
        f"mfm-sim gate: commit {commit or 'unknown'}, Python {platform.python_version()}, "
        f"scenarios {', '.join(sc.name for sc in scs)}"
    )

    suites: list[Suite] = []
    if not skip_tests:
        suites.append(Suite("mfm-sim.tests", (_run_tests(test_jobs),)))
    found: list[_Found] = []
    harness_error: str | None = None
    failing = 0  # every failing schedule, kept or not
    interrupted: int | None = None  # the signal that stopped the sweep
    options = ReplayOptions(variant)
    try:
        suites.append(Suite("mfm-sim.corpus", tuple(_replay_corpus(entries, found))))
        sw = sweep(
            scs,
            _seeds(start, seeds),
            jobs=jobs,
            variant=variant,
            time_budget=budget,
            stop_signals=True,
        )
    except HarnessError as exc:
        harness_error = str(exc)
        error = Case("mfm-sim.harness", "error", error="harness error (not an engine violation)")
        suites.append(Suite("mfm-sim.harness", (attrs.evolve(error, detail=harness_error),)))
    else:
        click.echo(_sweep_line(sw, start))
        interrupted = sw.interrupted
        sweep_found = [
            Failure("sweep", r, options.command(r.scenario, r.seed)) for r in sw.failures
        ]
        corpus_failing = len(found)
        found += [_Found(f, variant) for f in sweep_found]
        failing = corpus_failing + sw.failing
        report = RunReport(
            sw,
            options,
            tuple(sweep_found),
            _seed_span(sw, start),
            expected_paths=tuple(expected_paths(scs)),
        )
        suites += report_suites(report)
        suites.append(Suite("mfm-sim.coverage", (_coverage_case(report, require_coverage),)))

    if found:
        _triage(
            found,
            max(len(found), failing),
            no_shrink=no_shrink or interrupted is not None,  # asked to stop: no more work
            issue_path=issue_path,
            save_dir=save_failures,
            commit=commit,
            start=start,
        )
    if junit and write_output(junit, to_xml(suites, name="mfm-sim-gate"), "--junit"):
        click.echo(f"junit: {junit}")
    if harness_error is None:
        outputs = _GitHubOutputs(annotations, step_summary, html_dir, issues_dir)
        outputs.write(found, suites, max(len(found), failing), commit, start)
    if harness_error is not None:
        click.echo(f"HARNESS ERROR (not an engine violation): {harness_error}")
        return EXIT_HARNESS
    if interrupted is not None and not found:
        click.echo("gate: INTERRUPTED (what ran passed; the JUnit is marked partial)")
        return exit_status(interrupted)
    if any(c.failed for s in suites for c in s.cases):
        click.echo("gate: FAILED")
        return EXIT_VIOLATION
    click.echo("gate: ok")
    return 0
