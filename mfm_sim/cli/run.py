"""`mfm-sim run`: the failure database, then a seed sweep over scenarios; exit 1 on any
invariant violation."""

from __future__ import annotations

import json

import click

from mfm_sim.cli.cluster import DASK_OPT, sweep_executor
from mfm_sim.cli.options import (
    DEFAULT_SEEDS,
    FAULTS_OPT,
    RANGE_OPT,
    SEEDS_OPT,
    STORE_OPT,
    SWARM_OPT,
    UNRESTRICTED_OPT,
    VARIANT_OPT,
    bad,
    check_writable,
    count_option,
    failures_dir_option,
    file_option,
    parse_faults,
    parse_scenarios,
    parse_seeds,
    parse_store,
    parse_variant,
    scenario_option,
    stderr_console,
    stdout_console,
    time_budget_option,
    warn,
    write_output,
)
from mfm_sim.cli.status import EXIT_HARNESS, EXIT_VIOLATION

__all__ = ["run"]

MAX_UNRUN_LINES = 5  # chunks of seeds not run listed on the terminal (all of them in --json)


@click.command()
@scenario_option(
    "default",
    "A scenario name, a comma-separated list, `default` (the default mix) or `all`.",
)
@SEEDS_OPT
@RANGE_OPT
@count_option("--jobs", 1, "Worker processes (results are the same for any count).")
@DASK_OPT
@FAULTS_OPT
@SWARM_OPT
@UNRESTRICTED_OPT
@time_budget_option("Start no new chunk of seeds after S wall-clock seconds (finite, > 0).")
@click.option(
    "--maxfail",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Stop dispatching new seeds after N failing schedules (what was found is kept).",
)
@click.option("-x", "--exitfirst", is_flag=True, help="Stop after the first failing schedule.")
@click.option(
    "-q", "--quiet", is_flag=True, help="Only the one-line recap of each group and the verdict."
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Every failing schedule in full, not one per group."
)
@file_option("--junit", help_text="Write a JUnit XML report to FILE.")
@file_option(
    "--json",
    "json_path",
    help_text="Write a machine-readable summary to FILE (`-`: to stdout, the rest to stderr).",
)
@click.option(
    "--shard",
    metavar="I/N",
    default=None,
    help="Run only the I-th of N interleaved shards of the seeds (1-based).",
)
@failures_dir_option("The failure database: failing schedules are saved here and replayed first.")
@click.option(
    "--prune", is_flag=True, help="Delete failure-database schedules that no longer fail."
)
@VARIANT_OPT
@STORE_OPT
def run(
    scenario: str,
    seeds: int | None,
    seed_range: str | None,
    jobs: int,
    dask: str | None,
    faults: str | None,
    swarm: bool,
    unrestricted: bool,
    time_budget: float | None,
    maxfail: int | None,
    exitfirst: bool,
    quiet: bool,
    verbose: bool,
    junit: str | None,
    json_path: str | None,
    shard: str | None,
    failures_dir: str,
    prune: bool,
    variant: str | None,
    store: str,
) -> int:
    """Sweep seeds over scenarios; exit 1 on any invariant violation."""
    from mfm_sim.explore.coverage import expected_paths
    from mfm_sim.explore.faildb import FailureDB
    from mfm_sim.explore.interrupt import exit_status
    from mfm_sim.explore.rerun import rerun_entries, save_failures
    from mfm_sim.explore.sweep import MAX_FAILURES, parse_shard, seed_count, tune_collector
    from mfm_sim.explore.sweep import shard as take_shard
    from mfm_sim.explore.sweep import sweep as run_sweep
    from mfm_sim.report.groups import group_failures, print_groups, recap_lines, verdict_line
    from mfm_sim.report.junit import junit_xml
    from mfm_sim.report.progress import Progress
    from mfm_sim.report.summary import (
        Failure,
        ReplayOptions,
        RunReport,
        summary_table,
        to_json,
    )

    scs = parse_scenarios(scenario)
    seed_seq, seeds_desc = parse_seeds(seeds, seed_range, DEFAULT_SEEDS)
    if shard is not None:
        try:
            i, n = parse_shard(shard)
        except ValueError as exc:
            bad("--shard", str(exc))
        seed_seq = take_shard(seed_seq, i, n)  # type: ignore[assignment]
        if seed_count(seed_seq) == 0:
            bad("--shard", f"shard {i}/{n} of seeds {seeds_desc} is empty: use more seeds")
        seeds_desc = f"shard {i}/{n} of {seeds_desc}"
    kinds = parse_faults(faults)
    variant = parse_variant(variant)
    if quiet and verbose:
        bad("-q", "-q and -v cannot be used together: give one of them")
    json_stdout = json_path == "-"  # then stdout carries the JSON alone
    check_writable(None if json_stdout else json_path, "--json")
    check_writable(junit, "--junit")
    store = parse_store(store)
    options = ReplayOptions(variant, kinds, swarm, not unrestricted, store)
    executor, jobs = sweep_executor(dask, jobs, scs)  # open until the command ends

    # 1. The failure database first: schedules that once failed.
    db = FailureDB(failures_dir)
    entries = db.entries(quarantine=True)  # a corrupt file warns once, never blocks a run
    for path, why in db.errors:
        warn(f"skipping unreadable failure-database file {path}: {why}")
    rerun = rerun_entries(entries, [s.name for s in scs], variant)
    db_failures = [
        Failure(
            "failure-db",
            r,
            options.command(r.scenario, r.seed, str(e.path)),
            str(e.path),
        )
        for e, r in rerun.failing
    ]
    for e in rerun.fixed:
        _note(f"fixed: {e.path} no longer fails" + (" (pruned)" if prune else ""))
    pruned = db.remove(rerun.fixed) if prune else 0

    # 2. The sweep.
    tune_collector()  # this process is the harness's own (workers tune theirs too)
    with Progress(seed_count(seed_seq) * len(scs), "sweep") as progress:
        result_sw = run_sweep(
            scs,
            seed_seq,
            jobs=jobs,
            faults=kinds,
            swarm=swarm,
            recoverable=not unrestricted,
            variant=variant,
            store=store,
            time_budget=time_budget,
            progress=progress,
            max_failing=1 if exitfirst else maxfail,
            stop_signals=True,  # a signal ends the sweep; what it found is saved and reported
            executor=executor,
        )

    # 3. Save what failed, so the next run replays it first.
    kept = result_sw.failures[:MAX_FAILURES]
    saved = save_failures(db, kept, variant)
    if saved.error is not None:
        warn(f"cannot save failing schedules to {failures_dir}: {saved.error}")
    sweep_failures = [
        Failure("sweep", r, options.command(r.scenario, r.seed), path)
        for r, path in zip(kept, saved.paths, strict=True)
    ]
    fresh = [f for f in sweep_failures if not rerun.already_failed(f.result)]
    duplicates = len(sweep_failures) - len(fresh)

    report = RunReport(
        sweep=result_sw,
        options=options,
        failures=tuple(db_failures + fresh),
        seeds=seeds_desc,
        db_replayed=rerun.replayed,
        db_skipped=rerun.skipped,
        db_errors=tuple((str(p), w) for p, w in db.errors),
        db_pruned=pruned,
        expected_paths=None if result_sw.coverage is None else tuple(expected_paths(scs)),
        duplicates=duplicates,
        seeds_asked=seed_seq.count,
    )
    groups = group_failures(report.failures)
    data = json.dumps(to_json(report, groups), indent=2) + "\n"
    if json_stdout:
        click.echo(data, nl=False)
    elif json_path:
        write_output(json_path, data, "--json")
    if junit:
        write_output(junit, junit_xml(report, groups), "--junit")

    # The failures first, grouped; the table, the recap and the verdict last, where the eye
    # lands.
    def echo(line: str) -> None:
        click.echo(line, err=json_stdout)

    if not quiet:
        print_groups(groups, echo, verbose=verbose)
        console = stderr_console() if json_stdout else stdout_console()
        console.print(summary_table(report))
    if result_sw.partial is not None:
        echo(
            f"PARTIAL: {result_sw.partial}; {result_sw.seeds_run} of "
            f"{result_sw.seeds_planned} seeds run; what was found is saved and reported"
        )
        for u in result_sw.unrun[:MAX_UNRUN_LINES]:
            echo(f"  not run ({u.reason}): seeds {', '.join(map(str, u.seeds))}")
        if len(result_sw.unrun) > MAX_UNRUN_LINES:
            echo(f"  ... and {len(result_sw.unrun) - MAX_UNRUN_LINES} more chunks (--json)")
    if report.failing:
        if not quiet:
            echo(
                f"{report.failing} failing schedules: {result_sw.failing} in the sweep, "
                f"{report.db_failing} from the failure database"
                + (f", {duplicates} found by both" if duplicates else "")
            )
        for line in recap_lines(groups):
            echo(line)
        echo(verdict_line(report.failing, groups, len(report.failures)))
        return EXIT_VIOLATION
    if result_sw.interrupted is not None:
        return exit_status(result_sw.interrupted)
    if result_sw.partial is not None:  # seeds lost to dying workers: no verdict on them
        return EXIT_HARNESS
    budget = f" (the time budget stopped it after {result_sw.seeds_run} seeds)"
    echo(
        f"ok: {result_sw.schedules} schedules, no violations"
        + (budget if result_sw.budget_exhausted else "")
    )
    return 0


def _note(line: str) -> None:
    click.echo(f"mfm-sim: {line}", err=True)
