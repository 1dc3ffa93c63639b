"""The `mfm-sim` command line (click + rich).

Exit status: 0 all good; 1 an invariant was violated (or the determinism check failed);
2 bad input (one `mfm-sim: error: ...` line on stderr); 3 the harness itself crashed (a bug
in mfm-sim, never reported as an engine violation); 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from mfm_sim.errors import InvalidScenario
from mfm_sim.faults.kinds import ALL_KINDS, FAULTS, KIND_GROUPS, FaultKind, parse_kinds
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario, UnknownScenario, get_scenario, resolve_names
from mfm_sim.run.schedule import Schedule, ScheduleError
from mfm_sim.run.simulate import simulate
from mfm_sim.selfcheck.variants import VARIANTS, UnknownVariant
from mfm_sim.world.rng import parse_seed

__all__ = ["EXIT_BAD_INPUT", "EXIT_HARNESS", "EXIT_VIOLATION", "cli", "main"]

EXIT_VIOLATION = 1
EXIT_BAD_INPUT = 2
EXIT_HARNESS = 3
DEFAULT_SEEDS = 1000


class BadInput(click.UsageError):
    """Input the user must fix; reported as one line, exit status 2."""


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _err(line: str) -> None:
    click.echo(line, err=True)


class _Cli(click.Group):
    """A group whose errors are one line each, with the exit statuses documented above."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args, prog_name or "mfm-sim", complete_var, standalone_mode=False, **extra
            )
            code = rv if isinstance(rv, int) else 0
        except click.exceptions.Abort:
            _err("mfm-sim: interrupted")
            code = 130
        except click.ClickException as exc:
            no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())
            if no_args and isinstance(exc, no_args):
                # `mfm-sim` alone: the help, as click does, with click's usage exit status.
                click.echo(exc.format_message(), err=True)
                code = EXIT_BAD_INPUT
                if standalone_mode:
                    sys.exit(code)
                return code
            msg = _one_line(exc.format_message())
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click.UsageError) and ctx is not None and "--help" not in msg:
                msg += f" (see '{ctx.command_path} --help')"
            _err(f"mfm-sim: error: {msg}")
            code = EXIT_BAD_INPUT
        except (ScheduleError, UnknownScenario, UnknownVariant, InvalidScenario) as exc:
            _err(f"mfm-sim: error: {_one_line(str(exc))}")
            code = EXIT_BAD_INPUT
        except Exception as exc:
            _harness_failure(exc)
            code = EXIT_HARNESS
        if standalone_mode:
            sys.exit(code)
        return code


def _harness_failure(exc: BaseException) -> None:
    what = f"{type(exc).__name__}: {_one_line(str(exc))}"
    _err(
        "mfm-sim: harness bug (a crash of the simulator itself, not an engine violation): "
        f"{what}; please report it with the command line"
        + ("" if os.environ.get("MFM_SIM_TRACEBACK") else " (MFM_SIM_TRACEBACK=1 shows where)")
    )
    if os.environ.get("MFM_SIM_TRACEBACK"):
        traceback.print_exception(exc, file=sys.stderr)


# ------------------------------------------------------------------------------ parsing


def _bad(param: str, message: str) -> NoReturn:
    raise BadInput(f"{param}: {message}")


def _scenarios(name: str, param: str = "--scenario") -> list[Scenario]:
    try:
        found = resolve_names(name)
    except UnknownScenario as exc:
        _bad(param, str(exc))
    out: list[Scenario] = []
    for sc in found:
        if sc.name not in {s.name for s in out}:
            out.append(sc)
    if not out:
        _bad(param, f"{name!r} names no scenarios")
    return out


def _seed(text: str, param: str = "SEED") -> int:
    try:
        return parse_seed(text)
    except ValueError as exc:
        _bad(param, str(exc))


def _seed_range(text: str) -> range:
    head, sep, tail = text.partition("..")
    if not sep:
        _bad("--seed-range", f"{text!r} is not of the form A..B (for example 0..999)")
    a = _seed(head, "--seed-range")
    b = _seed(tail, "--seed-range")
    if b < a:
        _bad("--seed-range", f"{text!r} is empty: the end must not be below the start")
    return range(a, b + 1)


def _seeds(seeds: int | None, seed_range: str | None, default: int) -> tuple[range, str]:
    if seeds is not None and seed_range is not None:
        raise BadInput("--seeds and --seed-range cannot be used together: give one of them")
    if seed_range is not None:
        r = _seed_range(seed_range)
        return r, f"{r.start}..{r.stop - 1}"
    n = default if seeds is None else seeds
    return range(n), f"0..{n - 1}"


def _faults(text: str | None) -> tuple[FaultKind, ...] | None:
    if text is None:
        return None
    try:
        kinds = parse_kinds(text)
    except ValueError as exc:
        _bad("--faults", str(exc))
    # Every kind is the default: keep replay commands short.
    return None if kinds == ALL_KINDS else kinds


def _writable(path: str | None, param: str) -> None:
    """Refuse an output file that cannot be written, before any work is done."""
    if path is None:
        return
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        _bad(param, f"{path} is a directory: give a file name")
    if not parent.is_dir():
        _bad(param, f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        _bad(param, f"cannot write {path}: permission denied")


def _write(path: str, data: str | bytes, param: str) -> None:
    try:
        if isinstance(data, bytes):
            Path(path).write_bytes(data)
        else:
            Path(path).write_text(data)
    except OSError as exc:
        _bad(param, f"cannot write {path}: {exc.strerror or exc}")


def _variant(name: str | None) -> str | None:
    if name is not None and name not in VARIANTS:
        known = ", ".join(sorted(VARIANTS)) or "none"
        _bad("--engine-variant", f"unknown engine variant {name!r}; known: {known}")
    return name


def _stdout() -> Console:
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 100)


_SEEDS_OPT = click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=None,
    help=f"Run seeds 0..N-1 [default: {DEFAULT_SEEDS}].",
)
_RANGE_OPT = click.option(
    "--seed-range", metavar="A..B", default=None, help="Run seeds A to B (inclusive)."
)
_VARIANT_OPT = click.option(
    "--engine-variant",
    "variant",
    default=None,
    hidden=True,
    help="Run a deliberately broken engine (see `mfm-sim list`).",
)
_FAULTS_OPT = click.option(
    "--faults",
    metavar="KINDS",
    default=None,
    help="Comma-separated fault kinds to allow (or `all`, `none`, or `lying-log`: the lies "
    "about the event log and the crashes that make the engine resume) [default: all].",
)
_SWARM_OPT = click.option(
    "--swarm/--no-swarm",
    default=True,
    show_default=True,
    help="Each seed enables a random subset of fault kinds and rates.",
)
_UNRESTRICTED_OPT = click.option(
    "--unrestricted",
    is_flag=True,
    help="Faults never stop (only safety invariants are judged, not liveness).",
)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mfm-sim", prog_name="mfm-sim")
def cli() -> None:
    """Deterministic simulation testing of the mfm execution engine."""


def main(argv: Sequence[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="mfm-sim")


# ------------------------------------------------------------------------------ run


class _Progress:
    """A rich progress bar on stderr; plain lines when stderr is not a terminal or in CI."""

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.plain = not sys.stderr.isatty() or bool(os.environ.get("CI"))
        self.next_pct = 10
        self._bar: Any = None
        self._task: Any = None
        self.label = label
        if not self.plain:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failing]} failing"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=True,
            )
            self._task = self._bar.add_task(label, total=total, failing=0)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, done: int, total: int, failing: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, failing=failing)
            return
        pct = 100 * done // max(1, total)
        if pct >= self.next_pct or done == total:
            _err(f"{self.label}: {done}/{total} schedules ({pct}%), {failing} failing")
            self.next_pct = (pct // 10 + 1) * 10


@cli.command()
@click.option(
    "--scenario",
    default="default",
    show_default=True,
    help="A scenario name, a comma-separated list, `default` (the default mix) or `all`.",
)
@_SEEDS_OPT
@_RANGE_OPT
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (results are the same for any count).",
)
@_FAULTS_OPT
@_SWARM_OPT
@_UNRESTRICTED_OPT
@click.option(
    "--time-budget",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="S",
    help="Stop dispatching new seeds after S wall-clock seconds.",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a JUnit XML report to FILE.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a machine-readable summary to FILE.",
)
@click.option(
    "--shard",
    metavar="I/N",
    default=None,
    help="Run only the I-th of N interleaved shards of the seeds (1-based).",
)
@click.option(
    "--failures-dir",
    type=click.Path(file_okay=False),
    default=os.path.join(".mfm-sim", "failures"),
    show_default=True,
    help="The failure database: failing schedules are saved here and replayed first.",
)
@click.option(
    "--prune", is_flag=True, help="Delete failure-database schedules that no longer fail."
)
@_VARIANT_OPT
def run(
    scenario: str,
    seeds: int | None,
    seed_range: str | None,
    jobs: int,
    faults: str | None,
    swarm: bool,
    unrestricted: bool,
    time_budget: float | None,
    junit: str | None,
    json_path: str | None,
    shard: str | None,
    failures_dir: str,
    prune: bool,
    variant: str | None,
) -> int:
    """Sweep seeds over scenarios; exit 1 on any invariant violation."""
    from mfm_sim.explore.faildb import FailureDB
    from mfm_sim.explore.sweep import MAX_FAILURES, parse_shard, tune_collector
    from mfm_sim.explore.sweep import shard as take_shard
    from mfm_sim.explore.sweep import sweep as run_sweep
    from mfm_sim.report.junit import junit_xml
    from mfm_sim.report.summary import (
        Failure,
        ReplayOptions,
        RunReport,
        print_failures,
        summary_table,
        to_json,
    )

    scs = _scenarios(scenario)
    seed_seq, seeds_desc = _seeds(seeds, seed_range, DEFAULT_SEEDS)
    if shard is not None:
        try:
            i, n = parse_shard(shard)
        except ValueError as exc:
            _bad("--shard", str(exc))
        seed_seq = take_shard(seed_seq, i, n)  # type: ignore[assignment]
        if len(seed_seq) == 0:
            _bad("--shard", f"shard {i}/{n} of seeds {seeds_desc} is empty: use more seeds")
        seeds_desc = f"shard {i}/{n} of {seeds_desc}"
    kinds = _faults(faults)
    variant = _variant(variant)
    _writable(json_path, "--json")
    _writable(junit, "--junit")
    options = ReplayOptions(variant, kinds, swarm, not unrestricted)
    names = [s.name for s in scs]

    # 1. The failure database first: schedules that once failed.
    db = FailureDB(failures_dir)
    entries = db.entries()
    for path, why in db.errors:
        _err(f"mfm-sim: warning: skipping unreadable failure-database file {path}: {why}")
    replayed: list[tuple[Any, SimResult]] = []
    skipped = []
    db_failures: list[Failure] = []
    for entry in entries:
        sched = entry.schedule
        if sched is None:
            continue
        if sched.scenario not in names or entry.variant != variant:
            skipped.append(entry)
            continue
        result = simulate(
            get_scenario(sched.scenario),
            sched.seed,
            schedule=sched,
            variant=variant,
            keep_trace=False,
        )
        replayed.append((entry, result))
        if result.violations:
            db_failures.append(
                Failure(
                    "failure-db",
                    result,
                    options.command(sched.scenario, sched.seed, str(entry.path)),
                    str(entry.path),
                )
            )
    fixed = [e for e, r in replayed if not r.violations]
    if fixed:
        for e in fixed:
            _err(f"mfm-sim: fixed: {e.path} no longer fails" + (" (pruned)" if prune else ""))
    pruned = db.remove(fixed) if prune else 0

    # 2. The sweep.
    tune_collector()  # this process is the harness's own (workers tune theirs too)
    total = len(seed_seq) * len(scs)
    with _Progress(total, "sweep") as progress:
        result_sw = run_sweep(
            scs,
            seed_seq,
            jobs=jobs,
            faults=kinds,
            swarm=swarm,
            recoverable=not unrestricted,
            variant=variant,
            time_budget=time_budget,
            progress=progress,
        )

    # 3. Save what failed, so the next run replays it first.
    sweep_failures: list[Failure] = []
    save_ok = True
    for r in result_sw.failures[:MAX_FAILURES]:
        saved: str | None = None
        if save_ok:
            try:
                saved = str(db.save(r, variant=variant))
            except OSError as exc:
                save_ok = False
                _err(f"mfm-sim: warning: cannot save failing schedules to {failures_dir}: {exc}")
        sweep_failures.append(Failure("sweep", r, options.command(r.scenario, r.seed), saved))
    # A seed that failed before fails again in the sweep with the very same schedule: list once.
    known = {(f.result.scenario, f.result.seed, f.result.digest) for f in db_failures}
    fresh = [
        f
        for f in sweep_failures
        if (f.result.scenario, f.result.seed, f.result.digest) not in known
    ]
    duplicates = len(sweep_failures) - len(fresh)

    expected: tuple[str, ...] | None = None
    if result_sw.coverage is not None:
        try:
            from mfm_sim.explore.coverage import expected_paths
        except ImportError:
            expected = None
        else:
            expected = tuple(expected_paths(scs))

    report = RunReport(
        sweep=result_sw,
        options=options,
        failures=tuple(db_failures + fresh),
        seeds=seeds_desc,
        db_replayed=tuple(replayed),
        db_skipped=tuple(skipped),
        db_errors=tuple((str(p), w) for p, w in db.errors),
        db_pruned=pruned,
        expected_paths=expected,
        duplicates=duplicates,
    )
    if json_path:
        _write(json_path, json.dumps(to_json(report), indent=2) + "\n", "--json")
    if junit:
        _write(junit, junit_xml(report), "--junit")

    console = _stdout()
    console.print(summary_table(report))
    if report.failing:
        click.echo("")
        print_failures(report.failures, report.failing, click.echo)
        click.echo(
            f"FAILED: {report.failing} failing schedules "
            f"({result_sw.failing} in the sweep, {report.db_failing} from the failure database"
            + (f", {duplicates} found by both" if duplicates else "")
            + ")"
        )
        return EXIT_VIOLATION
    click.echo(f"ok: {result_sw.schedules} schedules, no violations")
    return 0


# ------------------------------------------------------------------------------ replay


def _print_result(result: SimResult, *, label: str = "replay") -> None:
    from mfm_sim.report.summary import human_ns, replay_key

    st = result.stats
    verdict = (
        f"FAIL ({len(result.violations)} violations)"
        if result.violations
        else "PASS (no violations)"
    )
    phase = result.final_phase.value if result.final_phase is not None else "unfinished"
    faults = ", ".join(f"{k}={n}" for k, n in st.faults_by_kind) or "none"
    click.echo(f"{label}: {result.scenario} seed {result.seed}: {verdict}")
    click.echo(f"  replay key: {replay_key(result.seed)}")
    click.echo(f"  digest: {result.digest}")
    click.echo(f"  final phase: {phase}")
    click.echo(
        f"  faults: {len(result.schedule.faults)} ({faults}); crashes {st.crashes}, resumes "
        f"{st.resumes}, incarnations {st.incarnations}, fault points {st.store_calls}, "
        f"virtual time {human_ns(st.virtual_ns)}, trace entries {st.trace_entries}"
    )
    for v in result.violations:
        run_id = v.run_id[:8] if v.run_id else "-"
        seqs = ",".join(map(str, v.seqs)) if v.seqs else "-"
        click.echo(f"  invariant {v.invariant}: run {run_id} events seq {seqs}: {v.message}")


@cli.command()
@click.argument("seed", required=False)
@click.option("--scenario", default=None, help="The scenario the seed ran in.")
@click.option(
    "--schedule",
    "schedule_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Replay this schedule file bit for bit (seed and scenario come from it).",
)
@click.option("--timeline", is_flag=True, help="Print the timeline of the schedule.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the timeline as a standalone HTML page.",
)
@click.option(
    "--shrink",
    "do_shrink",
    is_flag=True,
    help="Shrink the schedule to a minimal one that breaks the same invariant.",
)
@click.option(
    "--emit-test",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a pytest regression test for the (shrunk) schedule.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where --shrink writes <scenario>-<seed>.min.json.",
)
@_FAULTS_OPT
@_SWARM_OPT
@_UNRESTRICTED_OPT
@_VARIANT_OPT
def replay(
    seed: str | None,
    scenario: str | None,
    schedule_file: str | None,
    timeline: bool,
    html_path: str | None,
    do_shrink: bool,
    emit_test: str | None,
    out_dir: str,
    faults: str | None,
    swarm: bool,
    unrestricted: bool,
    variant: str | None,
) -> int:
    """Re-run one schedule, by SEED or from a schedule file; exit 1 if it violates an invariant."""
    from mfm_sim.report.summary import package_version

    variant = _variant(variant)
    kinds = _faults(faults)
    _writable(html_path, "--html")
    _writable(emit_test, "--emit-test")
    seed_value = _seed(seed) if seed is not None else None
    schedule: Schedule | None = None
    if schedule_file is not None:
        try:
            schedule = Schedule.load(schedule_file)
        except ScheduleError as exc:
            msg = str(exc)
            _bad("--schedule", msg if schedule_file in msg else f"{schedule_file}: {msg}")
        if seed_value is not None and seed_value != schedule.seed:
            _bad("SEED", f"{seed_value} contradicts the schedule file's seed {schedule.seed}")
        if scenario is not None and scenario != schedule.scenario:
            _bad(
                "--scenario",
                f"{scenario!r} contradicts the schedule file's scenario {schedule.scenario!r}",
            )
        scenario, seed_value = schedule.scenario, schedule.seed
    if seed_value is None:
        raise BadInput("give the SEED to replay (or --schedule FILE)")
    if scenario is None:
        raise BadInput("--scenario NAME is required with a SEED (the scenario it failed in)")
    try:
        sc = get_scenario(scenario)
    except UnknownScenario as exc:
        _bad("--scenario", str(exc))

    result = simulate(
        sc,
        seed_value,
        faults=kinds,
        schedule=schedule,
        swarm=swarm,
        recoverable=not unrestricted,
        variant=variant,
    )
    _print_result(result)

    shown, shown_schedule, shrunk = result, result.schedule, False
    if do_shrink:
        if not result.violations:
            click.echo("shrink: nothing to shrink, the schedule breaks no invariant")
        else:
            try:
                from mfm_sim.explore.shrink import shrink
            except ImportError:
                raise BadInput(
                    "--shrink is not available in this build (no mfm_sim.explore.shrink)"
                ) from None
            sh = shrink(sc, result.schedule, result.violations[0].invariant, variant=variant)
            desc = getattr(sh, "describe", None)
            click.echo(f"shrink: {desc() if callable(desc) else f'{sh.runs} runs'}")
            path = Path(out_dir) / f"{sc.name}-{seed_value}.min.json"
            try:
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                sh.schedule.dump(path)
            except OSError as exc:
                _bad("--out-dir", f"cannot write {path}: {exc.strerror or exc}")
            click.echo(
                f"shrink: minimal schedule ({len(sh.schedule.faults)} faults) written to {path}"
            )
            from mfm_sim.report.summary import ReplayOptions

            click.echo(
                "shrink: replay it with: "
                + ReplayOptions(variant).command(sc.name, seed_value, str(path))
            )
            shown, shown_schedule, shrunk = sh.result, sh.schedule, True
            if not shown.trace:
                shown = simulate(sc, seed_value, schedule=sh.schedule, variant=variant)
            _print_result(shown, label="shrunk")

    if timeline:
        from mfm_sim.report.timeline import render

        title = f"timeline of {sc.name} seed {seed_value}" + (" (shrunk)" if shrunk else "")
        _stdout().print(render(shown, title=title))
    if html_path:
        from mfm_sim.report.timeline import render_html

        _write(html_path, render_html(shown), "--html")
        click.echo(f"timeline written to {html_path}")
    if emit_test:
        from mfm_sim.report.regression import regression_test

        source = regression_test(
            shown_schedule, shown, version=package_version(), variant=variant, shrunk=shrunk
        )
        _write(emit_test, source, "--emit-test")
        click.echo(f"regression test written to {emit_test}")
    return EXIT_VIOLATION if result.violations else 0


# ------------------------------------------------------------------------------ explore


@cli.command()
@click.option("--scenario", required=True, help="The scenario (or a comma-separated list).")
@click.option(
    "--crash-points",
    is_flag=True,
    help="Crash at every store call of the fault-free run (and of its recovery).",
)
@click.option(
    "--seed",
    "seed_text",
    default="0",
    show_default=True,
    help="The seed whose knobs the scenario is built with.",
)
@click.option(
    "--double/--single",
    default=True,
    show_default=True,
    help="Also crash again during the first recovery (nested crashes).",
)
@click.option(
    "--failures-dir",
    type=click.Path(file_okay=False),
    default=os.path.join(".mfm-sim", "failures"),
    show_default=True,
    help="Where failing crash-point schedules are saved.",
)
@_VARIANT_OPT
def explore(
    scenario: str,
    crash_points: bool,
    seed_text: str,
    double: bool,
    failures_dir: str,
    variant: str | None,
) -> int:
    """Systematic exploration: every crash point, once each; exit 1 on any violation."""
    if not crash_points:
        raise BadInput("choose what to explore: --crash-points")
    scs = _scenarios(scenario)
    seed = _seed(seed_text, "--seed")
    variant = _variant(variant)
    try:
        from mfm_sim.explore.crash_points import crash_points as enumerate_points
    except ImportError:
        raise BadInput("explore is not available in this build") from None
    from mfm_sim.explore.faildb import FailureDB
    from mfm_sim.report.summary import MAX_PRINTED, ReplayOptions

    db = FailureDB(failures_dir)
    options = ReplayOptions(variant)
    failing = 0
    for sc in scs:
        res = enumerate_points(sc, seed, double=double, variant=variant)
        desc = getattr(res, "describe", None)
        click.echo(desc() if callable(desc) else f"{sc.name} seed {seed}: {res.points} points")
        table = Table(title=f"crash points of {sc.name} seed {seed}", title_justify="left")
        table.add_column("crash kind")
        table.add_column("points", justify="right")
        for kind, n in sorted(res.by_kind.items()):
            table.add_row(kind, str(n))
        table.add_row("total", str(res.points), style="bold")
        _stdout().print(table)
        for k, r in enumerate(res.failures):
            failing += 1
            if k >= MAX_PRINTED:
                continue
            path = str(db.save(r, variant=variant, suffix=f"cp{k}"))
            click.echo(
                f"FAIL {sc.name} seed {seed} crash-point schedule {k}: "
                f"{', '.join(f'{f.kind.value}@step{f.step}' for f in r.schedule.faults)}"
            )
            for v in r.violations:
                click.echo(f"  {v.describe()}")
            click.echo(f"  replay: {options.command(sc.name, seed, path)}")
        if len(res.failures) > MAX_PRINTED:
            click.echo(f"... and {len(res.failures) - MAX_PRINTED} more failing crash points")
    if failing:
        click.echo(f"FAILED: {failing} failing crash-point schedules")
        return EXIT_VIOLATION
    click.echo("ok: no violations at any crash point")
    return 0


# ------------------------------------------------------------------------------ determinism


@cli.command("check-determinism")
@click.option(
    "--scenario",
    default="default",
    show_default=True,
    help="A scenario name, a comma-separated list, `default` or `all`.",
)
@_SEEDS_OPT
@_RANGE_OPT
@click.option(
    "--processes",
    type=click.IntRange(min=2),
    default=2,
    show_default=True,
    help="Processes (each with its own PYTHONHASHSEED) that must agree.",
)
def check_determinism_cmd(
    scenario: str, seeds: int | None, seed_range: str | None, processes: int
) -> int:
    """Same seed, different processes and hash seeds: same digest. Also checks for state
    leaking between simulations (seeds A, B, A in one process)."""
    scs = _scenarios(scenario)
    seed_seq, desc = _seeds(seeds, seed_range, 20)
    try:
        from mfm_sim.explore.determinism import check_determinism, leak_check
    except ImportError:
        raise BadInput("check-determinism is not available in this build") from None
    report = check_determinism(scs, seed_seq, processes=processes)
    describe = getattr(report, "describe", None)
    if callable(describe):
        click.echo(describe())
    else:
        click.echo(
            f"checked {report.checked} schedules (seeds {desc}): "
            + ("deterministic" if report.ok else "DIVERGED")
        )
        if report.divergence is not None:
            click.echo(report.divergence.describe())
    leaks_ok = True
    if len(seed_seq) >= 2:
        a, b = seed_seq[0], seed_seq[1]
        for sc in scs:
            leak = leak_check(sc, a, b)
            if not leak.ok:
                leaks_ok = False
                click.echo(leak.describe())
        click.echo(
            f"leak check (seeds {a}, {b}, {a} in one process, {len(scs)} scenarios): "
            + ("no leak" if leaks_ok else "LEAK")
        )
    if not (report.ok and leaks_ok):
        click.echo("FAILED: the simulation is not deterministic")
        return EXIT_VIOLATION
    click.echo("ok: deterministic")
    return 0


# ------------------------------------------------------------------------------ list


@cli.command("list")
def list_cmd() -> int:
    """Scenarios, fault kinds, invariants and engine variants."""
    from mfm_sim.invariants import INVARIANTS
    from mfm_sim.run.scenario import all_scenarios

    console = _stdout()
    t = Table(title="scenarios (`default` is the mix marked *)", title_justify="left")
    t.add_column("scenario", no_wrap=True)
    t.add_column("default", justify="center")
    t.add_column("faults", justify="right")
    t.add_column("description")
    for sc in all_scenarios():
        t.add_row(sc.name, "*" if sc.in_default else "", str(len(sc.faults)), sc.description)
    console.print(t)
    t = Table(title="fault kinds", title_justify="left")
    t.add_column("kind", no_wrap=True)
    t.add_column("meaning")
    for kind in FaultKind:
        t.add_row(kind.value, FAULTS[kind].meaning)
    for group, kinds in KIND_GROUPS.items():  # names `--faults` also takes
        t.add_row(f"{group} (group)", ", ".join(k.value for k in kinds))
    console.print(t)
    t = Table(title="invariants", title_justify="left")
    t.add_column("#", justify="right")
    t.add_column("invariant", no_wrap=True)
    t.add_column("checks")
    for name, number, text in INVARIANTS:
        t.add_row(str(number), name, text)
    console.print(t)
    t = Table(
        title="engine variants (deliberately broken engines, for --engine-variant)",
        title_justify="left",
    )
    t.add_column("variant", no_wrap=True)
    t.add_column("bug")
    for name in sorted(VARIANTS):
        t.add_row(name, VARIANTS[name].description)
    console.print(t)
    return 0


# ------------------------------------------------------------------------------ bench


@cli.command()
@click.option("--quick", is_flag=True, help="Small sizes (a smoke run of every figure).")
@click.option(
    "--seeds",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="Schedules for the per-core throughput figure.",
)
@click.option(
    "--sweep-seeds",
    type=click.IntRange(min=10),
    default=10_000,
    show_default=True,
    help="Schedules of the timed parallel sweep.",
)
@click.option(
    "--memory-seeds",
    type=click.IntRange(min=10),
    default=100_000,
    show_default=True,
    help="Schedules of the sweep whose peak memory is measured.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes for the sweeps (default: cores).",
)
@click.option(
    "--bugs",
    "bug_mode",
    is_flag=True,
    help="Instead: seeds until each engine variant is first detected.",
)
@click.option("--bug-limit", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option(
    "--sweeps",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Disjoint sweeps per variant for --bugs (the median is reported).",
)
@click.option("--json", "json_path", default=None, help="Also write the figures as JSON.")
def bench(
    quick: bool,
    seeds: int,
    sweep_seeds: int,
    memory_seeds: int,
    jobs: int | None,
    bug_mode: bool,
    bug_limit: int,
    sweeps: int,
    json_path: str | None,
) -> int:
    """Throughput, overhead, virtual-time speed-up, sweep time and memory, side by side."""
    from mfm_sim.run.scenario import all_scenarios
    from mfm_sim.selfcheck import bench as bench_mod

    _writable(json_path, "--json")
    if bug_mode:
        mix = all_scenarios()
        rows = bench_mod.bugs(sorted(VARIANTS), mix, limit=bug_limit, sweeps=sweeps)
        t = Table(
            title=f"bug-finding power (limit {bug_limit} seeds, {sweeps} sweeps each)",
            title_justify="left",
        )
        for col in ("variant", "median seeds", "caught", "invariants"):
            t.add_column(col)
        for row in rows:
            t.add_row(
                row["variant"],
                str(row["median_seeds"]),
                row["caught_in"],
                ", ".join(f"{k} x{v}" for k, v in row["invariants"].items()),
            )
        _stdout().print(t)
        if json_path:
            _write(json_path, json.dumps({"bugs": rows}, indent=2, sort_keys=True), "--json")
        missed = [r["variant"] for r in rows if not r["caught"]]
        if missed:
            click.echo(f"not caught within {bug_limit} seeds: {', '.join(missed)}")
            return EXIT_VIOLATION
        return 0
    figures = bench_mod.run_bench(
        seeds=seeds, sweep_seeds=sweep_seeds, memory_seeds=memory_seeds, jobs=jobs, quick=quick
    )
    click.echo(bench_mod.main_text(figures))
    if json_path:
        _write(json_path, json.dumps([f.to_json() for f in figures], indent=2), "--json")
    return 0


from mfm_sim.cli.gate import gate  # noqa: E402  (gate.py imports this module's helpers lazily)

cli.add_command(gate)
