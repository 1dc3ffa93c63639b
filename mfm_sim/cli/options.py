"""What the commands share: option declarations, input parsers and output checks.

Every parser turns bad input into `BadInput`, which the group reports as one line with exit
status 2 (`mfm_sim.cli.main`).
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from mfm_sim.explore.atomic_file import write_atomic
from mfm_sim.explore.faildb import DEFAULT_DIR
from mfm_sim.explore.seeds import SEED_SPACE, SeedSpan
from mfm_sim.faults.kinds import ALL_KINDS, FaultKind, parse_kinds
from mfm_sim.run.replay_target import REAL_ENGINE
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
    "check_dir",
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
    "stderr_console",
    "stdout_console",
    "time_budget_option",
    "warn",
    "writable_dir",
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


def parse_seed_range(text: str) -> SeedSpan:
    """`A..B`, both ends included (never materialised: `0..2**64-1` is legal)."""
    head, sep, tail = text.partition("..")
    if not sep:
        bad("--seed-range", f"{text!r} is not of the form A..B (for example 0..999)")
    a = parse_seed_arg(head, "--seed-range")
    b = parse_seed_arg(tail, "--seed-range")
    if b < a:
        bad("--seed-range", f"{text!r} is empty: the end must not be below the start")
    return SeedSpan(range(a, b + 1))


def parse_seeds(seeds: int | None, seed_range: str | None, default: int) -> tuple[SeedSpan, str]:
    """The seeds of `--seeds`/`--seed-range` (at most one of them) and how to show them."""
    if seeds is not None and seed_range is not None:
        raise BadInput("--seeds and --seed-range cannot be used together: give one of them")
    if seed_range is not None:
        r = parse_seed_range(seed_range)
        return r, f"{r.seeds.start}..{r.seeds.stop - 1}"
    n = default if seeds is None else seeds
    return SeedSpan(range(n)), f"0..{n - 1}"


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
    """A registered engine variant's name, or None for the real engine (`real`, or none
    given)."""
    if name == REAL_ENGINE:
        return None
    if name is not None and name not in VARIANTS:
        known = ", ".join([REAL_ENGINE, *sorted(VARIANTS)])
        bad("--engine-variant", f"unknown engine variant {name!r}; known: {known}")
    return name


def parse_store(text: str) -> str:
    """A durable store's name (`memory`, `sqlite`, `jsonl`), optionally with one of its
    flaws (`sqlite:synchronous_off`); `sqlite` needs the extra installed."""
    from mfm_sim.run.store_names import parse_store as split

    try:
        name, _ = split(text)
    except ValueError as exc:
        bad("--store", str(exc))
    if name in ("sqlite", "mix") and importlib.util.find_spec("apsw") is None:
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


def check_dir(path: str | None, param: str) -> None:
    """Refuse a directory that can never be: one under a file (it is created later, when
    there is something to write; permissions are left to that write, which warns)."""
    if path is None:
        return
    here = Path(path)
    while not here.exists() and here != here.parent:
        here = here.parent  # the nearest part that exists
    if not here.is_dir():
        bad(param, f"cannot use {path} as a directory: {here} is a file")


def writable_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: `check_dir` on the option's value, before any work is done."""
    check_dir(value, (param.opts or [param.name or "DIR"])[0])
    return value


def write_output(path: str, data: str | bytes, param: str) -> bool:
    """Write the output file of `param` whole or not at all (`write_atomic`). A failure (a full
    disk, say) is one warning line on stderr and False: the command still prints its verdict
    and exits with the verdict's status."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        warn(f"{param}: cannot write {path}: {exc.strerror or exc}; nothing was written there")
        return False
    return True


def warn(line: str) -> None:
    """One warning line on stderr."""
    click.echo(f"mfm-sim: warning: {line}", err=True)


def stdout_console() -> Console:
    """A rich console on stdout, 100 columns wide when stdout is not a terminal."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 100)


def stderr_console() -> Console:
    """The same on stderr (where the human output goes when stdout carries `--json -`)."""
    return Console(file=sys.stderr, width=None if sys.stderr.isatty() else 100)


# ------------------------------------------------------------------------------ options


SEEDS_OPT = click.option(
    "--seeds",
    type=click.IntRange(min=1, max=SEED_SPACE),  # seeds 0..N-1 are u64
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
    "store on the simulated disk, or `mix` (each seed draws one of the three).",
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
        callback=writable_dir,
        default=DEFAULT_DIR,
        show_default=True,
        help=help_text,
    )


class _Seconds(click.ParamType):
    """A finite positive number of seconds (not nan, inf, 0 or below)."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a finite positive number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} is not a finite positive number of seconds", param, ctx)
        return seconds


def time_budget_option(help_text: str) -> Callable[[F], F]:
    """`--time-budget S`: the same meaning in every command (`mfm_sim.explore.sweep.sweep`):
    no chunk of seeds is started after S wall-clock seconds, and the running ones finish."""
    return click.option("--time-budget", type=_Seconds(), default=None, metavar="S", help=help_text)


def file_option(*decls: str, help_text: str) -> Callable[[F], F]:
    """An optional file name (not a directory) to read or write."""
    return click.option(*decls, type=click.Path(dir_okay=False), default=None, help=help_text)
