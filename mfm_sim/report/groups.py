"""Failing schedules grouped by signature, so that one bug is one group, whatever the seed.

A signature is an invariant and its message with what differs from seed to seed normalised
away: run ids, numbers, state names, payloads. A failing schedule usually breaks several
invariants (the bug, then its consequences), so each failure has several signatures; the
groups are a greedy cover: the signature shared by the most failures first, then among the
rest, and so on. One bug then shows as the symptom all its failures share, not one group per
combination of consequences. Deterministic: ties go to the smaller signature.

The rule works on plain data (`signatures_of`, `cover`), so a report merged from JSON
(`mfm_sim.report.merge`) groups its failures exactly as the sweep that wrote them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import attrs
import click

from mfm_sim.report.summary import MAX_PRINTED, Failure, failure_lines
from mfm_sim.run.result import SimResult

__all__ = [
    "NO_SIGNATURE",
    "Cost",
    "FailureGroup",
    "cost",
    "cover",
    "group_failures",
    "normalise",
    "print_groups",
    "recap_lines",
    "signature",
    "signatures_of",
    "verdict_line",
]

MAX_SEEDS_LISTED = 20  # other seeds named per group; the rest are counted
MAX_RECAPPED = 20  # groups recapped one line each at the end of a run

# Payloads first (they hold anything), then hex ids (they may contain digits), state names
# (`chain.s1.run`, `pay.charge.alice`), and any remaining number.
_PAYLOAD = re.compile(r"\{.*\}|\[.*\]")
_HEX_ID = re.compile(r"\b[0-9a-f]{8,}(?:-[0-9a-f]{4,})*\b")
_STATE = re.compile(r"\b[A-Za-z_][\w-]*(?:\.[\w-]+)+\b")
_NUMBER = re.compile(r"\d+")

Signature = tuple[str, str]  # (invariant, normalised message)
Cost = tuple[int, int, int]  # (virtual ns, store calls, seed): smaller is quicker to replay
NO_SIGNATURE: Signature = ("(none)", "no violations")  # what a failure without any groups by


def normalise(message: str) -> str:
    """`message` with its run ids, payloads, state names and numbers replaced by placeholders."""
    text = _PAYLOAD.sub("{...}", message)
    text = _HEX_ID.sub("<id>", text)
    text = _STATE.sub("<state>", text)
    return _NUMBER.sub("N", text)


def signatures_of(violations: Iterable[tuple[str, str]]) -> tuple[Signature, ...]:
    """The sorted, de-duplicated signatures of (invariant, message) pairs."""
    return tuple(sorted({(invariant, normalise(message)) for invariant, message in violations}))


def signature(result: SimResult) -> tuple[Signature, ...]:
    """The sorted, de-duplicated signatures of `result`'s violations."""
    return signatures_of((v.invariant, v.message) for v in result.violations)


def cost(virtual_ns: int, store_calls: int, seed: int) -> Cost:
    """How a group orders its failures: the quickest to read and replay first (least virtual
    time, fewest store calls, smallest seed)."""
    return (virtual_ns, store_calls, seed)


def _cost(f: Failure) -> Cost:
    st = f.result.stats
    return cost(st.virtual_ns, st.store_calls, f.result.seed)


def cover(
    signatures: Sequence[tuple[Signature, ...]], costs: Sequence[Cost]
) -> list[tuple[Signature, list[int]]]:
    """The greedy cover (see the module's docstring) of items with these signatures (empty:
    `NO_SIGNATURE`): (signature, the indices of its members, cheapest first) per group, the
    largest group first. Ties between members keep their order."""
    sigs = [s or (NO_SIGNATURE,) for s in signatures]
    remaining = list(range(len(sigs)))
    groups: list[tuple[Signature, list[int]]] = []
    while remaining:
        counts = Counter(s for i in remaining for s in sigs[i])
        best = min(counts, key=lambda s: (-counts[s], s))
        members = [i for i in remaining if best in sigs[i]]
        remaining = [i for i in remaining if best not in sigs[i]]
        groups.append((best, sorted(members, key=lambda i: costs[i])))
    return groups


@attrs.frozen
class FailureGroup:
    """Failures sharing one signature; `failures[0]` is the fastest, smallest one."""

    signature: Signature
    failures: tuple[Failure, ...]

    @property
    def name(self) -> str:
        """The invariant the group breaks."""
        return self.signature[0]

    @property
    def title(self) -> str:
        """`invariant: normalised message`: stable across seeds (a JUnit case name)."""
        return f"{self.signature[0]}: {self.signature[1]}"

    @property
    def count(self) -> int:
        return len(self.failures)

    @property
    def first(self) -> Failure:
        return self.failures[0]


def group_failures(failures: Sequence[Failure]) -> list[FailureGroup]:
    """Groups by greedy cover (see the module's docstring), the largest first, each ordered
    fastest first."""
    groups = cover([signature(f.result) for f in failures], [_cost(f) for f in failures])
    return [FailureGroup(sig, tuple(failures[i] for i in members)) for sig, members in groups]


def print_groups(
    groups: Sequence[FailureGroup], echo: Callable[[str], object], *, verbose: bool = False
) -> None:
    """Each group once: its fastest failure in full, then the count and the other seeds;
    `verbose`: every failure of every group in full."""
    shown = groups if verbose else groups[:MAX_PRINTED]
    for i, g in enumerate(shown, 1):
        echo(f"GROUP {i}/{len(groups)}: {g.title} ({g.count} failing schedules)")
        for f in g.failures if verbose else g.failures[:1]:
            for line in failure_lines(f):
                echo(line)
        others = [f"{f.result.scenario}:{f.result.seed}" for f in g.failures[1:]]
        if others and not verbose:
            listed = ", ".join(others[:MAX_SEEDS_LISTED])
            more = len(others) - MAX_SEEDS_LISTED
            echo(f"  also failing: {listed}" + (f" and {more} more" if more > 0 else ""))
        echo("")
    if len(groups) > len(shown):
        echo(f"... and {len(groups) - len(shown)} more groups (see -v or --json FILE)")


def recap_lines(groups: Sequence[FailureGroup], *, color: bool = True) -> list[str]:
    """One line per group, for the end of a run: count, signature and the replay command of
    its fastest failure (red where the terminal shows colour)."""
    out = []
    for g in groups[:MAX_RECAPPED]:
        line = f"  {g.count:>4} x {g.title}  ->  {g.first.replay}"
        out.append(click.style(line, fg="red") if color else line)
    if len(groups) > MAX_RECAPPED:
        out.append(f"  ... and {len(groups) - MAX_RECAPPED} more groups")
    return out


def verdict_line(failing: int, groups: Sequence[FailureGroup], kept: int) -> str:
    """`FAILED: 63 failing schedules in 2 groups: attempt_envelopes (61), liveness (2)`."""
    named = ", ".join(f"{g.name} ({g.count})" for g in groups)
    n = len(groups)
    line = f"FAILED: {failing} failing schedules in {n} group{'s' if n != 1 else ''}: {named}"
    if kept < failing:
        line += f" (grouped: the {kept} kept)"
    return line
