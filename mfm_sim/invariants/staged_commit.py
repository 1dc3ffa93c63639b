"""Promise: a completed attempt's snapshot is its base with the handler's staged writes and
deletes applied (ENGINE.md, "One attempt", 3 and 5: "dump the staged context, store it").

For every handler invocation that returned, whose attempt the durable log closes with
`StateCompleted`, the snapshot that event names must equal the oracle's model of the staged
context: the base snapshot, then the invocation's writes and deletes in order. A delete that
never reaches the snapshot, or a write that does not, shows here.
"""

from __future__ import annotations

from mfm_sim.invariants.attempt_verdicts import attempt_verdicts
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_staged_commit"]


def check_staged_commit(obs: Observation) -> list[Violation]:
    """Every completed attempt's snapshot is its base with its staged writes and deletes.

    Judged in the one walk over matched attempts (`attempt_verdicts`).
    """
    return list(attempt_verdicts(obs)[1])


INVARIANT = Invariant(
    "staged_commit",
    None,
    "a completed attempt's snapshot is its base with its staged writes and deletes applied",
    check_staged_commit,
)
