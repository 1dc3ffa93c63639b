"""`mfm-sim check-determinism`: the same seed in different processes and hash seeds gives the
same digest, and no state leaks from one simulation into the next."""

from __future__ import annotations

import click

from mfm_sim.cli.options import (
    RANGE_OPT,
    SEEDS_OPT,
    bad,
    count_option,
    parse_scenarios,
    parse_seeds,
    scenario_option,
)
from mfm_sim.cli.status import EXIT_VIOLATION

__all__ = ["DEFAULT_SEEDS", "MAX_SEEDS", "check_determinism_cmd"]

DEFAULT_SEEDS = 20  # seeds checked when neither --seeds nor --seed-range is given
# Each process is handed the seed list whole (and runs every seed): more is bad input, not a
# list that eats the memory.
MAX_SEEDS = 100_000


@click.command("check-determinism")
@scenario_option("default", "A scenario name, a comma-separated list, `default` or `all`.")
@SEEDS_OPT
@RANGE_OPT
@count_option(
    "--processes",
    2,
    "Processes (each with its own PYTHONHASHSEED) that must agree.",
    minimum=2,
)
def check_determinism_cmd(
    scenario: str, seeds: int | None, seed_range: str | None, processes: int
) -> int:
    """Same seed, different processes and hash seeds: same digest. Also checks for state
    leaking between simulations (seeds A, B, A in one process)."""
    from mfm_sim.explore.determinism import check_determinism, leak_check
    from mfm_sim.explore.sweep import seed_count

    scs = parse_scenarios(scenario)
    seed_seq, desc = parse_seeds(seeds, seed_range, DEFAULT_SEEDS)
    if seed_seq.count > MAX_SEEDS:
        bad(
            "--seed-range" if seed_range else "--seeds",
            f"seeds {desc} are {seed_seq.count}; check-determinism checks at most {MAX_SEEDS}",
        )
    report = check_determinism(scs, seed_seq, processes=processes)
    click.echo(report.describe())
    leaks_ok = True
    if seed_count(seed_seq) >= 2:
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
