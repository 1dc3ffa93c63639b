"""`mfm-sim replay`: re-run one schedule, by seed or from a schedule file; optionally shrink
it, show its timeline and write it out as a regression test."""

from __future__ import annotations

from pathlib import Path

import click

from mfm_sim.cli.options import (
    FAULTS_OPT,
    STORE_OPT,
    SWARM_OPT,
    UNRESTRICTED_OPT,
    VARIANT_OPT,
    BadInput,
    bad,
    check_writable,
    file_option,
    parse_faults,
    parse_seed_arg,
    parse_store,
    parse_variant,
    stdout_console,
    writable_dir,
    write_output,
)
from mfm_sim.cli.status import EXIT_VIOLATION
from mfm_sim.report.replay import result_lines
from mfm_sim.run.replay_target import Target
from mfm_sim.run.result import SimResult
from mfm_sim.run.scenario import Scenario, UnknownScenario, get_scenario
from mfm_sim.run.schedule import Schedule, ScheduleFile
from mfm_sim.run.simulate import simulate
from mfm_sim.selfcheck.variants import VARIANTS

__all__ = ["replay"]

# The option or argument that gave each part of a replay target.
_PARAM = {"schedule": "--schedule", "seed": "SEED", "scenario": "--scenario"}


@click.command()
@click.argument("seed", required=False)
@click.option("--scenario", default=None, help="The scenario the seed ran in.")
@file_option(
    "--schedule",
    "schedule_file",
    help_text="Replay this schedule file bit for bit (seed and scenario come from it).",
)
@click.option("--timeline", is_flag=True, help="Print the timeline of the schedule.")
@file_option("--html", "html_path", help_text="Write the timeline as a standalone HTML page.")
@click.option(
    "--shrink",
    "do_shrink",
    is_flag=True,
    help="Shrink the schedule to a minimal one that breaks the same invariant.",
)
@file_option("--emit-test", help_text="Write a pytest regression test for the (shrunk) schedule.")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    callback=writable_dir,
    default=".",
    show_default=True,
    help="Where --shrink writes <scenario>-<seed>.min.json.",
)
@FAULTS_OPT
@SWARM_OPT
@UNRESTRICTED_OPT
@VARIANT_OPT
@STORE_OPT
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
    store: str,
) -> int:
    """Re-run one schedule, by SEED or from a schedule file; exit 1 if it violates an invariant."""
    from mfm_sim.report.summary import ReplayOptions, package_version
    from mfm_sim.run.replay_target import REAL_ENGINE, TargetError, target_for

    given_variant = variant
    variant = parse_variant(variant)
    store = parse_store(store)
    kinds = parse_faults(faults)
    check_writable(html_path, "--html")
    check_writable(emit_test, "--emit-test")
    seed_value = parse_seed_arg(seed) if seed is not None else None
    schedule: Schedule | None = None
    target: Target | None = None
    if schedule_file is not None:
        try:
            target = target_for(
                schedule_file, seed_value, scenario, variant or (given_variant and REAL_ENGINE)
            )
        except TargetError as exc:
            bad(_PARAM[exc.part], str(exc))
        schedule = target.file.schedule
        scenario, seed_value = schedule.scenario, schedule.seed
        if target.file.variant is not None and target.file.variant not in VARIANTS:
            recorded = target.file.variant
            bad("--schedule", f"{schedule_file} records unknown engine variant {recorded!r}")
        variant = target.variant
        if target.overridden:
            click.echo(
                f"note: {schedule_file} was recorded on {_engine(target.file.variant)}; "
                f"replaying on {_engine(variant)} as --engine-variant asks "
                "(the recorded digest is not compared)"
            )
        if store not in ("memory", schedule.store):
            bad("--store", f"{store!r} contradicts the schedule file's store {schedule.store!r}")
    if seed_value is None:
        raise BadInput("give the SEED to replay (or --schedule FILE)")
    if scenario is None:
        raise BadInput("--scenario NAME is required with a SEED (the scenario it failed in)")
    try:
        sc = get_scenario(scenario)
    except UnknownScenario as exc:
        bad("--scenario", str(exc))

    result = simulate(
        sc,
        seed_value,
        faults=kinds,
        schedule=schedule,
        swarm=swarm,
        recoverable=not unrestricted,
        variant=variant,
        store=store,
    )
    _echo_lines(result_lines(result))
    mismatch = target is not None and not _digest_agrees(target, result)

    shown, shown_schedule, shrunk = result, result.schedule, False
    shrunk_path: str | None = None
    if do_shrink:
        if not result.violations:
            click.echo("shrink: nothing to shrink, the schedule breaks no invariant")
        else:
            shown, shown_schedule, shrunk_path = _shrink(sc, result, variant, out_dir)
            shrunk = True
            _echo_lines(result_lines(shown, label="shrunk"))

    if timeline:
        from mfm_sim.report.timeline import render

        title = f"timeline of {sc.name} seed {seed_value}" + (" (shrunk)" if shrunk else "")
        stdout_console().print(render(shown, title=title))
    if html_path:
        from mfm_sim.report.summary import ReplayOptions
        from mfm_sim.report.timeline_html import page_for

        # The page names the command that reproduces what it shows (the shrunk file if shrunk).
        shown_file = str(Path(out_dir) / f"{sc.name}-{seed_value}.min.json") if shrunk else None
        options = ReplayOptions(variant, kinds, swarm, not unrestricted)
        command = options.command(sc.name, seed_value, shown_file or schedule_file)
        write_output(html_path, page_for(shown, variant=variant, replay=command), "--html")
        click.echo(f"timeline written to {html_path}")
    if emit_test:
        from mfm_sim.report.regression import regression_test

        options = ReplayOptions(variant, kinds, swarm, not unrestricted)
        if shrunk_path is not None:
            command = options.command(sc.name, seed_value, shrunk_path)
        elif target is not None and schedule_file is not None:
            command = options.command(sc.name, seed_value, schedule_file, target.file.variant)
        else:
            command = options.command(sc.name, seed_value)
        source = regression_test(
            shown_schedule,
            shown,
            version=package_version(),
            variant=variant,
            shrunk=shrunk,
            replay=command,
        )
        write_output(emit_test, source, "--emit-test")
        click.echo(f"regression test written to {emit_test}")
    return EXIT_VIOLATION if result.violations or mismatch else 0


def _engine(variant: str | None) -> str:
    return "the real engine" if variant is None else f"engine variant {variant}"


def _digest_agrees(target: Target, result: SimResult) -> bool:
    """Say whether the replay reproduced the digest the file recorded (one line); False only
    on a mismatch."""
    recorded = target.file.digest
    if recorded is None or target.overridden:
        return True
    if recorded == result.digest:
        click.echo("  recorded digest: reproduced")
        return True
    click.echo(
        f"DIGEST MISMATCH: the file recorded {recorded}, the replay gave {result.digest}: "
        "this schedule does not reproduce here (another mfm-sim or Python version, or a "
        "nondeterminism bug)"
    )
    return False


def _shrink(
    sc: Scenario, result: SimResult, variant: str | None, out_dir: str
) -> tuple[SimResult, Schedule, str]:
    """Shrink the failing `result`, write the minimal schedule to `out_dir`, and return the
    shrunk run (with its trace, for the timeline), schedule and file."""
    from mfm_sim.explore.shrink import shrink
    from mfm_sim.report.summary import ReplayOptions

    sh = shrink(sc, result.schedule, result.violations[0].invariant, variant=variant)
    click.echo(f"shrink: {sh.describe()}")
    path = Path(out_dir) / f"{sc.name}-{result.seed}.min.json"
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        first = sh.result.violations[0].invariant if sh.result.violations else None
        ScheduleFile(sh.schedule, variant, first, sh.result.digest).dump(path)
    except OSError as exc:
        bad("--out-dir", f"cannot write {path}: {exc.strerror or exc}")
    click.echo(f"shrink: minimal schedule ({len(sh.schedule.faults)} faults) written to {path}")
    click.echo(
        "shrink: replay it with: " + ReplayOptions(variant).command(sc.name, result.seed, str(path))
    )
    shown = sh.result
    if not shown.trace:
        shown = simulate(sc, result.seed, schedule=sh.schedule, variant=variant)
    return shown, sh.schedule, str(path)


def _echo_lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)
