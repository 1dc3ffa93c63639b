"""`Violation`: one broken invariant, as every check, report and gate sees it."""

from __future__ import annotations

import attrs

__all__ = ["Violation"]


@attrs.frozen
class Violation:
    """One broken invariant: which, in which run, at which events (seqs), and the seed."""

    invariant: str
    run_id: str | None
    seqs: tuple[int, ...]
    message: str
    seed: int

    def describe(self) -> str:
        run = self.run_id[:8] if self.run_id else "-"
        seqs = ",".join(map(str, self.seqs)) if self.seqs else "-"
        return f"[{self.invariant}] seed={self.seed} run={run} seqs={seqs}: {self.message}"
