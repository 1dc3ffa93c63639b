"""`mfm-sim explore`: systematic exploration, every crash point once; exit 1 on any violation."""

from __future__ import annotations

import click
from rich.table import Table

from mfm_sim.cli.options import (
    STORE_OPT,
    VARIANT_OPT,
    BadInput,
    failures_dir_option,
    parse_scenarios,
    parse_seed_arg,
    parse_store,
    parse_variant,
    stdout_console,
)
from mfm_sim.cli.status import EXIT_VIOLATION

__all__ = ["explore"]


@click.command()
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
@failures_dir_option("Where failing crash-point schedules are saved.")
@VARIANT_OPT
@STORE_OPT
def explore(
    scenario: str,
    crash_points: bool,
    seed_text: str,
    double: bool,
    failures_dir: str,
    variant: str | None,
    store: str,
) -> int:
    """Systematic exploration: every crash point, once each; exit 1 on any violation."""
    if not crash_points:
        raise BadInput("choose what to explore: --crash-points")
    scs = parse_scenarios(scenario)
    seed = parse_seed_arg(seed_text, "--seed")
    variant = parse_variant(variant)
    store = parse_store(store)
    if store == "mix":
        raise BadInput("--store: crash points run one store; give memory, sqlite or jsonl")
    from mfm_sim.explore.crash_points import crash_points as enumerate_points
    from mfm_sim.explore.faildb import FailureDB
    from mfm_sim.report.collapse import collapse
    from mfm_sim.report.summary import MAX_PRINTED, ReplayOptions

    db = FailureDB(failures_dir)
    options = ReplayOptions(variant)
    failing = 0
    for sc in scs:
        res = enumerate_points(sc, seed, double=double, variant=variant, store=store)
        click.echo(res.describe())
        table = Table(title=f"crash points of {sc.name} seed {seed}", title_justify="left")
        table.add_column("crash kind")
        table.add_column("points", justify="right")
        for kind, n in sorted(res.by_kind.items()):
            table.add_row(kind, str(n))
        table.add_row("total", str(res.points), style="bold")
        stdout_console().print(table)
        for k, r in enumerate(res.failures):
            failing += 1
            if k >= MAX_PRINTED:
                continue
            path = str(db.save(r, variant=variant, suffix=f"cp{k}"))
            click.echo(
                f"FAIL {sc.name} seed {seed} crash-point schedule {k}: "
                f"{', '.join(f'{f.kind.value}@step{f.step}' for f in r.schedule.faults)}"
            )
            for c in collapse(r.violations):  # repeats per resume folded, with a count
                click.echo(f"  {c.describe()}")
            click.echo(f"  replay: {options.command(sc.name, seed, path)}")
        if len(res.failures) > MAX_PRINTED:
            click.echo(f"... and {len(res.failures) - MAX_PRINTED} more failing crash points")
    if failing:
        click.echo(f"FAILED: {failing} failing crash-point schedules")
        return EXIT_VIOLATION
    click.echo("ok: no violations at any crash point")
    return 0
