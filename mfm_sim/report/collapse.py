"""One line per distinct violation: a schedule's violations that differ only in their
incarnation number (one per crash-and-resume cycle) are shown once, with a count."""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from mfm_sim.invariants.violation import Violation

__all__ = ["Collapsed", "collapse"]

_INCARNATION = re.compile(r"\bincarnation (\d+)\b")


@attrs.frozen
class Collapsed:
    """A violation standing for `count` violations that differ only in `incarnations`."""

    first: Violation
    count: int = 1
    incarnations: tuple[int, ...] = ()

    def suffix(self) -> str:
        """` (x20, incarnations 2-36)`, or nothing for a violation seen once."""
        if self.count == 1:
            return ""
        if not self.incarnations:
            return f" (x{self.count})"
        lo, hi = self.incarnations[0], self.incarnations[-1]
        return f" (x{self.count}, incarnations {lo}-{hi})"

    def describe(self) -> str:
        return self.first.describe() + self.suffix()

    def line(self) -> str:
        """The printed line: `  invariant X: run 1a2b3c4d events seq 4,5: message (x3, ...)`."""
        v = self.first
        run = v.run_id[:8] if v.run_id else "-"
        seqs = ",".join(map(str, v.seqs)) if v.seqs else "-"
        return f"  invariant {v.invariant}: run {run} events seq {seqs}: {v.message}{self.suffix()}"


def _key(v: Violation) -> tuple[str, str | None, tuple[int, ...], str]:
    return (v.invariant, v.run_id, tuple(v.seqs), _INCARNATION.sub("incarnation N", v.message))


def collapse(violations: Sequence[Violation]) -> list[Collapsed]:
    """The violations in their first-seen order, repeats folded into their first."""
    groups: dict[tuple[str, str | None, tuple[int, ...], str], list[Violation]] = {}
    for v in violations:
        groups.setdefault(_key(v), []).append(v)
    out = []
    for vs in groups.values():
        numbers = sorted(
            int(m.group(1)) for v in vs if (m := _INCARNATION.search(v.message)) is not None
        )
        out.append(Collapsed(vs[0], len(vs), tuple(numbers) if len(vs) > 1 else ()))
    return out
