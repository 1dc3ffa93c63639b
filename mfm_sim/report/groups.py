"""Failing schedules grouped by signature: the set of (invariant, message) pairs with run
ids, sequence numbers and other numbers stripped, so one bug is one group, whatever seed."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import attrs

from mfm_sim.report.summary import MAX_PRINTED, Failure, failure_lines
from mfm_sim.run.result import SimResult

__all__ = [
    "FailureGroup",
    "group_failures",
    "print_groups",
    "signature",
    "verdict_line",
]

MAX_SEEDS_LISTED = 20  # other seeds named per group; the rest are counted

# Hex ids first (they may contain digits), then any remaining number.
_HEX_ID = re.compile(r"\b[0-9a-f]{8,}\b")
_NUMBER = re.compile(r"\d+")

Signature = tuple[tuple[str, str], ...]


def _normalise(message: str) -> str:
    return _NUMBER.sub("N", _HEX_ID.sub("<id>", message))


def signature(result: SimResult) -> Signature:
    """The sorted, de-duplicated (invariant, normalised message) pairs of `result`."""
    return tuple(sorted({(v.invariant, _normalise(v.message)) for v in result.violations}))


def _cost(f: Failure) -> tuple[int, int, int]:
    # The quickest to read and replay: least virtual time, fewest store calls, smallest seed.
    st = f.result.stats
    return (st.virtual_ns, st.store_calls, f.result.seed)


@attrs.frozen
class FailureGroup:
    """Failures with one signature; `failures[0]` is the fastest, smallest one."""

    signature: Signature
    failures: tuple[Failure, ...]

    @property
    def name(self) -> str:
        """The group's invariants, in signature order: `attempt_envelopes+engine_contract`."""
        return "+".join(dict.fromkeys(inv for inv, _ in self.signature))

    @property
    def count(self) -> int:
        return len(self.failures)

    @property
    def first(self) -> Failure:
        return self.failures[0]


def group_failures(failures: Sequence[Failure]) -> list[FailureGroup]:
    """Groups, the largest first (ties: by name), each ordered fastest first."""
    by_sig: dict[Signature, list[Failure]] = {}
    for f in failures:
        by_sig.setdefault(signature(f.result), []).append(f)
    groups = [FailureGroup(sig, tuple(sorted(fs, key=_cost))) for sig, fs in by_sig.items()]
    return sorted(groups, key=lambda g: (-g.count, g.name, g.signature))


def print_groups(groups: Sequence[FailureGroup], echo: Callable[[str], object]) -> None:
    """Each group once: its fastest failure in full, then the count and the other seeds."""
    for i, g in enumerate(groups[:MAX_PRINTED], 1):
        echo(f"GROUP {i}/{len(groups)}: {g.name} ({g.count} failing schedules)")
        for line in failure_lines(g.first):
            echo(line)
        others = [f"{f.result.scenario}:{f.result.seed}" for f in g.failures[1:]]
        if others:
            shown = ", ".join(others[:MAX_SEEDS_LISTED])
            more = len(others) - MAX_SEEDS_LISTED
            echo(f"  also failing: {shown}" + (f" and {more} more" if more > 0 else ""))
        echo("")
    if len(groups) > MAX_PRINTED:
        echo(f"... and {len(groups) - MAX_PRINTED} more groups (see --json FILE)")


def verdict_line(failing: int, groups: Sequence[FailureGroup], kept: int) -> str:
    """`FAILED: 63 failing schedules in 2 groups: attempt_envelopes (61), liveness (2)`."""
    named = ", ".join(f"{g.name} ({g.count})" for g in groups)
    n = len(groups)
    line = f"FAILED: {failing} failing schedules in {n} group{'s' if n != 1 else ''}: {named}"
    if kept < failing:
        line += f" (grouped: the {kept} kept)"
    return line
