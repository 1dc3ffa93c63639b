"""What the commands share: option declarations, input parsers and output checks.

Every parser turns bad input into `BadInput`, which the group reports as one line with exit
status 2 (`mfm_sim.cli.main`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from mfm_sim.explore.faildb import DEFAULT_DIR
from mfm_sim.faults.kinds import ALL_KINDS, FaultKind, parse_kinds
from mfm_sim.run.scenario import Scenario, UnknownScenario, resolve_names
from mfm_sim.selfcheck.variants import VARIANTS
from mfm_sim.world.rng import parse_seed

__all__ = [
    "DEFAULT_SEEDS",
    "FAULTS_OPT",
    "RANGE_OPT",
    "SEEDS_OPT",
    "STORE_OPT",
    "SWARM_OPT",
    "UNRESTRICTED_OPT",
    "VARIANT_OPT",
    "BadInput",
    "bad",
    "check_writable",
    "count_option",
    "failures_dir_option",
    "file_option",
    "parse_faults",
    "parse_scenarios",
    "parse_seed_arg",
    "parse_seed_range",
    "parse_seeds",
    "parse_store",
    "parse_variant",
    "scenario_option",
    "stdout_console",
    "write_output",
]

DEFAULT_SEEDS = 1000

F = TypeVar("F", bound=Callable[..., Any])


class BadInput(click.UsageError):
    """Input the user must fix; reported as one line, exit status 2."""


def bad(param: str, message: str) -> NoReturn:
    """Refuse the value of `param` (an option or argument name) with `message`."""
    raise BadInput(f"{param}: {message}")


# ------------------------------------------------------------------------------ parsers


def parse_scenarios(name: str, param: str = "--scenario") -> list[Scenario]:
    """The scenarios `name` names (a name, a comma-separated list, `default`, `all`), each once."""
    try:
        found = resolve_names(name)
    except UnknownScenario as exc:
        bad(param, str(exc))
    out: list[Scenario] = []
    for sc in found:
        if sc.name not in {s.name for s in out}:
            out.append(sc)
    if not out:
        bad(param, f"{name!r} names no scenarios")
    return out


def parse_seed_arg(text: str, param: str = "SEED") -> int:
    """One seed, decimal or 0x hex."""
    try:
        return parse_seed(text)
    except ValueError as exc:
        bad(param, str(exc))


def parse_seed_range(text: str) -> range:
    """`A..B`, both ends included."""
    head, sep, tail = text.partition("..")
    if not sep:
        bad("--seed-range", f"{text!r} is not of the form A..B (for example 0..999)")
    a = parse_seed_arg(head, "--seed-range")
    b = parse_seed_arg(tail, "--seed-range")
    if b < a:
        bad("--seed-range", f"{text!r} is empty: the end must not be below the start")
    return range(a, b + 1)


def parse_seeds(seeds: int | None, seed_range: str | None, default: int) -> tuple[range, str]:
    """The seeds of `--seeds`/`--seed-range` (at most one of them) and how to show them."""
    if seeds is not None and seed_range is not None:
        raise BadInput("--seeds and --seed-range cannot be used together: give one of them")
    if seed_range is not None:
        r = parse_seed_range(seed_range)
        return r, f"{r.start}..{r.stop - 1}"
    n = default if seeds is None else seeds
    return range(n), f"0..{n - 1}"


def parse_faults(text: str | None) -> tuple[FaultKind, ...] | None:
    """The kinds `--faults` allows; None for every kind."""
    if text is None:
        return None
    try:
        kinds = parse_kinds(text)
    except ValueError as exc:
        bad("--faults", str(exc))
    # Every kind is the default: keep replay commands short.
    return None if kinds == ALL_KINDS else kinds


def parse_variant(name: str | None) -> str | None:
    """A registered engine variant's name, or None for the real engine."""
    if name is not None and name not in VARIANTS:
        known = ", ".join(sorted(VARIANTS)) or "none"
        bad("--engine-variant", f"unknown engine variant {name!r}; known: {known}")
    return name


def parse_store(text: str) -> str:
    """A durable store's name (`memory`, `sqlite`, `jsonl`), optionally with one of its
    flaws (`sqlite:synchronous_off`); `sqlite` needs the extra installed."""
    from mfm_sim.run.store_backend import parse_store as split

    try:
        name, _ = split(text)
    except ValueError as exc:
        bad("--store", str(exc))
    if name != "memory" and importlib.util.find_spec("mfm_sim.world.disk") is None:
        bad("--store", f"the {name} store needs the simulated disk (mfm_sim.world.disk)")
    if name == "sqlite" and importlib.util.find_spec("apsw") is None:
        bad("--store", "the sqlite store needs apsw: pip install 'mfm-sim[sqlite]'")
    return text.strip()


# ------------------------------------------------------------------------------ output


def check_writable(path: str | None, param: str) -> None:
    """Refuse an output file that cannot be written, before any work is done."""
    if path is None:
        return
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        bad(param, f"{path} is a directory: give a file name")
    if not parent.is_dir():
        bad(param, f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        bad(param, f"cannot write {path}: permission denied")


def write_output(path: str, data: str | bytes, param: str) -> None:
    """Write the output file of `param`; a failure is bad input, not a harness crash."""
    try:
        if isinstance(data, bytes):
            Path(path).write_bytes(data)
        else:
            Path(path).write_text(data)
    except OSError as exc:
        bad(param, f"cannot write {path}: {exc.strerror or exc}")


def stdout_console() -> Console:
    """A rich console on stdout, 100 columns wide when stdout is not a terminal."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 100)


# ------------------------------------------------------------------------------ options


SEEDS_OPT = click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=None,
    help=f"Run seeds 0..N-1 [default: {DEFAULT_SEEDS}].",
)
RANGE_OPT = click.option(
    "--seed-range", metavar="A..B", default=None, help="Run seeds A to B (inclusive)."
)
VARIANT_OPT = click.option(
    "--engine-variant",
    "variant",
    default=None,
    hidden=True,
    help="Run a deliberately broken engine (see `mfm-sim list`).",
)
STORE_OPT = click.option(
    "--store",
    metavar="STORE",
    default="memory",
    show_default=True,
    help="The durable store the engine runs on: `memory`, or the real `sqlite` or `jsonl` "
    "store on the simulated disk.",
)
FAULTS_OPT = click.option(
    "--faults",
    metavar="KINDS",
    default=None,
    help="Comma-separated fault kinds to allow (or `all`, `none`, or `lying-log`: the lies "
    "about the event log and the crashes that make the engine resume) [default: all].",
)
SWARM_OPT = click.option(
    "--swarm/--no-swarm",
    default=True,
    show_default=True,
    help="Each seed enables a random subset of fault kinds and rates.",
)
UNRESTRICTED_OPT = click.option(
    "--unrestricted",
    is_flag=True,
    help="Faults never stop (only safety invariants are judged, not liveness).",
)


def scenario_option(default: str, help_text: str) -> Callable[[F], F]:
    """`--scenario NAMES`, read with `parse_scenarios`."""
    return click.option("--scenario", default=default, show_default=True, help=help_text)


def count_option(
    name: str, default: int, help_text: str | None = None, *, minimum: int = 1
) -> Callable[[F], F]:
    """An integer option of at least `minimum` (processes, seeds, runs)."""
    return click.option(
        name,
        type=click.IntRange(min=minimum),
        default=default,
        show_default=True,
        help=help_text,
    )


def failures_dir_option(help_text: str) -> Callable[[F], F]:
    """`--failures-dir DIR`, the failure database (`mfm_sim.explore.faildb`)."""
    return click.option(
        "--failures-dir",
        type=click.Path(file_okay=False),
        default=DEFAULT_DIR,
        show_default=True,
        help=help_text,
    )


def file_option(*decls: str, help_text: str) -> Callable[[F], F]:
    """An optional file name (not a directory) to read or write."""
    return click.option(*decls, type=click.Path(dir_okay=False), default=None, help=help_text)
