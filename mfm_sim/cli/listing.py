"""`mfm-sim list`: the scenarios, fault kinds, invariants and engine variants there are."""

from __future__ import annotations

import click
from rich.table import Table

from mfm_sim.cli.options import stdout_console
from mfm_sim.faults.kinds import FAULTS, KIND_GROUPS, FaultKind
from mfm_sim.selfcheck.variants import VARIANTS

__all__ = ["list_cmd"]


@click.command("list")
def list_cmd() -> int:
    """Scenarios, fault kinds, invariants and engine variants."""
    from mfm_sim.invariants import INVARIANTS
    from mfm_sim.run.scenario import all_scenarios

    console = stdout_console()
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
