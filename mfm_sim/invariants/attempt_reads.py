"""Promise: a retry starts from its base snapshot with the failed attempt's writes gone, and
reads see the attempt's own staged writes and deletes first (ENGINE.md, "One attempt", 3 and 5).

For every handler invocation the journal matched to an attempt in the durable log, each
context read must return what the base snapshot named by that attempt's `StateEntered`, with
the invocation's own earlier writes and deletes applied, holds. A write that leaked from a
failed attempt, or a context loaded from anything but the base, shows as a read that
disagrees.
"""

from __future__ import annotations

from mfm_sim.invariants.attempt_spans import decoded, matched
from mfm_sim.invariants.context_model import replay_entry
from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_attempt_reads"]


def check_attempt_reads(obs: Observation) -> list[Violation]:
    """Every journaled read saw the attempt's base snapshot under its own staged overlay."""
    out = Out(INVARIANT.name, obs)
    if not obs.handler_journal:
        return out.items
    for (run_id, state, attempt), entries, span in matched(obs):
        base_id = span.entered.event.base_snapshot_id
        base = decoded(obs, base_id)
        if not isinstance(base, dict):
            continue  # lost or corrupt: hash integrity and detection judge that
        for entry in entries:
            _, wrong = replay_entry(obs, base_id, base, entry)
            for line in wrong[:3]:
                out.add(run_id, (span.entered.seq,), f"{state} attempt {attempt}: {line}")
    return out.items


INVARIANT = Invariant(
    "attempt_reads",
    None,
    "a handler reads its attempt's base snapshot under its own staged writes and deletes "
    "(a retry never sees the failed attempt's writes)",
    check_attempt_reads,
)
