"""Invariant 15, durability (real stores): an acknowledged append survives a crash when the disk
honoured its syncs.

An append the store acknowledged (the call returned, so its events were recorded as made
durable) must be in the log the schedule left, at its seq and unchanged, whatever crashes came
after. The memory stores are the model and cannot lose one, so only a real store on the
simulated disk is judged. When the disk lied (a lost sync, a misdirected write, a bit flip) a
loss is the disk's: invariant 11 judges what the engine did with it, and no loss is blamed here.
"""

from __future__ import annotations

from mfm_sim.faults.kinds import DISK_KINDS, LYING_KINDS, FaultKind
from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["DISK_LIES", "INVARIANT", "check_durability", "disk_lied"]

DISK_LIES: frozenset[FaultKind] = frozenset(DISK_KINDS) & LYING_KINDS


def disk_lied(obs: Observation) -> bool:
    """A fault of the schedule made the disk lie about what it persisted."""
    return any(f.kind in DISK_LIES for f in obs.faults)


def check_durability(obs: Observation) -> list[Violation]:
    """Every acknowledged event is in the final log, at its seq, as it was appended."""
    out = Out(INVARIANT.name, obs)
    if obs.durable_store == "memory" or disk_lied(obs):
        return out.items
    by_seq = {rid: {env.seq: env for env in view.stream} for rid, view in obs.runs.items()}
    for inc in obs.incarnations:
        acked = {(rid, env.seq): env for _, _, _, rid, envs in inc.appends for env in envs}
        for rid, seq in inc.appended:
            now = by_seq.get(rid, {}).get(seq)
            if now is None:
                out.add(
                    rid,
                    (seq,),
                    f"event {seq}, acknowledged to incarnation {inc.number}, is gone from the "
                    f"{obs.durable_store} store though the disk honoured every sync",
                )
            elif (rid, seq) in acked and acked[rid, seq] != now:
                out.add(
                    rid,
                    (seq,),
                    f"event {seq}, acknowledged to incarnation {inc.number}, reads back changed "
                    f"from the {obs.durable_store} store",
                )
    return out.items


INVARIANT = Invariant(
    "durability",
    15,
    "real stores: an acknowledged append survives a crash when the disk honoured its syncs",
    check_durability,
)
