"""Invariant 15, durability (real stores): an acknowledged append survives a crash when the disk
honoured its syncs.

An append the store acknowledged (the call returned, so its events were recorded as made
durable) must be in the log the schedule left, at its seq and unchanged, whatever crashes came
after; and an append the store was asked for and never returned from (the machine died inside
it) left all of its events in that log or none, never the first half of a batch (ENGINE.md,
"Stores": `append` is atomic). The memory stores are the model and cannot break either, so only
a real store on the simulated disk is judged. When the disk lied (a lost sync, a misdirected
write, a bit flip) a loss is the disk's: invariant 11 judges what the engine did with it, and no
loss is blamed here.
"""

from __future__ import annotations

import uuid

from mfm_sim.faults.kinds import DISK_KINDS, LYING_KINDS, FaultKind
from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["DISK_LIES", "INVARIANT", "check_durability", "disk_lied", "disk_lost_data"]

DISK_LIES: frozenset[FaultKind] = frozenset(DISK_KINDS) & LYING_KINDS


def disk_lied(obs: Observation) -> bool:
    """A fault of the schedule made the disk lie about what it persisted."""
    return any(f.kind in DISK_LIES for f in obs.faults)


def _losses(obs: Observation) -> list[tuple[uuid.UUID, int, str]]:
    """(run, seq, message) of every acknowledged event missing from the final log or changed."""
    out = []
    by_seq = {rid: {env.seq: env for env in view.stream} for rid, view in obs.runs.items()}
    first_acked: dict[tuple[uuid.UUID, int], int] = {}
    for inc in obs.incarnations:
        acked = {(rid, env.seq): env for _, _, _, rid, envs in inc.appends for env in envs}
        for rid, seq in inc.appended:
            now = by_seq.get(rid, {}).get(seq)
            earlier = first_acked.setdefault((rid, seq), inc.number)
            if earlier != inc.number:
                # A seq the store acknowledged once was free to append at again: the store
                # had lost it in between, whatever the final log shows.
                out.append(
                    (
                        rid,
                        seq,
                        f"event {seq}, acknowledged to incarnation {earlier}, was gone from "
                        f"the {obs.durable_store} store when incarnation {inc.number} appended "
                        "it again, though the disk honoured every sync",
                    )
                )
                continue
            if now is None:
                how = "is gone from"
            elif (rid, seq) in acked and acked[rid, seq] != now:
                how = "reads back changed from"
            else:
                continue
            out.append(
                (
                    rid,
                    seq,
                    f"event {seq}, acknowledged to incarnation {inc.number}, {how} the "
                    f"{obs.durable_store} store though the disk honoured every sync",
                )
            )
    return out


def disk_lost_data(obs: Observation) -> bool:
    """The disk lied and it cost data the engine relied on: an acknowledged event lost or
    changed, an acknowledged artifact unreadable, or the store refusing what it read. What the
    engine then did is the disk's doing (invariant 11's label), never the engine's: no engine
    can tell a log rolled back by a lost sync from one that never went further."""
    if obs.durable_store == "memory" or not disk_lied(obs):
        return False
    refused = any(inc.error_kind == "storage" for inc in obs.incarnations)
    return refused or bool(obs.lost_artifacts) or bool(_losses(obs))


def check_durability(obs: Observation) -> list[Violation]:
    """Every acknowledged event is in the final log, at its seq, as it was appended."""
    out = Out(INVARIANT.name, obs)
    if obs.durable_store == "memory" or disk_lied(obs):
        return out.items
    for rid, seq, message in _losses(obs):
        out.add(rid, (seq,), message)
    _all_or_nothing(obs, out)
    return out.items


def _span(seqs: list[int]) -> str:
    return f"{seqs[0]}..{seqs[-1]}" if len(seqs) > 1 else str(seqs[0])


def _all_or_nothing(obs: Observation, out: Out) -> None:
    """An append a real store was asked for and did not return from left all of its events
    in the final log or none."""
    by_seq = {rid: {env.seq: env for env in view.stream} for rid, view in obs.runs.items()}
    for attempt in obs.store_appends:
        if attempt.returned or not attempt.envelopes:
            continue
        stream = by_seq.get(attempt.run_id, {})
        # Timestamps make a batch's envelopes its own: another attempt at the same seqs
        # (after a crash the clock has moved) never equals it.
        landed = [env.seq for env in attempt.envelopes if stream.get(env.seq) == env]
        if landed and len(landed) < len(attempt.envelopes):
            seqs = [env.seq for env in attempt.envelopes]
            out.add(
                attempt.run_id,
                landed,
                f"an append of seqs {_span(seqs)} that never returned left only seqs"
                f" {_span(landed)} in the {obs.durable_store} log: an append is all or nothing",
            )


INVARIANT = Invariant(
    "durability",
    15,
    "real stores: an acknowledged append survives a crash when the disk honoured its syncs;"
    " an unacknowledged one is all or nothing",
    check_durability,
)
