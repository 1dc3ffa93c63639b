"""Promise: a retry starts from its base snapshot with the failed attempt's writes gone, and
reads see the attempt's own staged writes and deletes first (ENGINE.md, "One attempt", 3 and 5).

For every handler invocation the journal matched to an attempt in the durable log, each
context read must return what the base snapshot named by that attempt's `StateEntered`, with
the invocation's own earlier writes and deletes applied, holds. A write that leaked from a
failed attempt, or a context loaded from anything but the base, shows as a read that
disagrees.
"""

from __future__ import annotations

from mfm_sim.invariants.attempt_verdicts import attempt_verdicts
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_attempt_reads"]


def check_attempt_reads(obs: Observation) -> list[Violation]:
    """Every journaled read saw the attempt's base snapshot under its own staged overlay.

    Judged in the one walk over matched attempts (`attempt_verdicts`).
    """
    return list(attempt_verdicts(obs)[0])


INVARIANT = Invariant(
    "attempt_reads",
    None,
    "a handler reads its attempt's base snapshot under its own staged writes and deletes "
    "(a retry never sees the failed attempt's writes)",
    check_attempt_reads,
)
