"""Promise: a completed attempt's snapshot is its base with the handler's staged writes and
deletes applied (ENGINE.md, "One attempt", 3 and 5: "dump the staged context, store it").

For every handler invocation that returned, whose attempt the durable log closes with
`StateCompleted`, the snapshot that event names must equal the oracle's model of the staged
context: the base snapshot, then the invocation's writes and deletes in order. A delete that
never reaches the snapshot, or a write that does not, shows here.
"""

from __future__ import annotations

from mfm_sim.invariants.attempt_spans import decoded, matched, strict_equal
from mfm_sim.invariants.context_model import replay_entry
from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_staged_commit"]


def check_staged_commit(obs: Observation) -> list[Violation]:
    """Every completed attempt's snapshot is its base with its staged writes and deletes."""
    out = Out(INVARIANT.name, obs)
    if not obs.handler_journal:
        return out.items
    for (run_id, state, attempt), entries, span in matched(obs):
        # One invocation that returned, and the log says its attempt completed: its snapshot.
        if not span.completed or len(entries) != 1 or entries[0].ended != "ok":
            continue
        assert span.terminal is not None
        base_id = span.entered.event.base_snapshot_id
        base = decoded(obs, base_id)
        snapshot = decoded(obs, span.terminal.event.context_snapshot_id)
        if not isinstance(base, dict) or not isinstance(snapshot, dict):
            continue  # lost or corrupt: hash integrity and detection judge that
        model, _ = replay_entry(obs, base_id, base, entries[0])
        if not strict_equal(model, snapshot):
            extra = sorted(set(snapshot) - set(model))
            missing = sorted(set(model) - set(snapshot))
            changed = sorted(
                k for k in set(model) & set(snapshot) if not strict_equal(model[k], snapshot[k])
            )
            out.add(
                run_id,
                (span.entered.seq, span.terminal.seq),
                f"{state} attempt {attempt}: the completed snapshot is not the base with the "
                f"attempt's staged writes and deletes (keys kept after delete or never written: "
                f"{extra}; writes missing: {missing}; values differing: {changed})",
            )
    return out.items


INVARIANT = Invariant(
    "staged_commit",
    None,
    "a completed attempt's snapshot is its base with its staged writes and deletes applied",
    check_staged_commit,
)
