"""Invariant 1, log well-formed: seqs contiguous from 1, one RunStarted first, one run id."""

from __future__ import annotations

from mfm_sim.invariants.derive import STARTED, Out, each_run, event_kind
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_log_well_formed"]


def check_log_well_formed(obs: Observation) -> list[Violation]:
    """Seqs contiguous from 1; exactly one RunStarted, first; every envelope has the run's id."""
    out = Out(INVARIANT.name, obs)
    for log in each_run(obs):
        if not log.rows:
            continue  # nothing of this run became durable
        rid = log.run_id
        prev = 0
        foreign: list[int] = []
        starts: list[int] = []
        for code, env, _ in log.rows:
            seq = env.seq
            if seq != prev + 1:
                if seq <= prev:
                    out.add(rid, (prev, seq), f"seq {seq} follows seq {prev}: not increasing")
                elif prev == 0:
                    out.add(rid, (seq,), f"the log starts at seq {seq}, not 1")
                else:
                    out.add(rid, (prev, seq), f"gap: seqs {prev + 1}..{seq - 1} are missing")
            prev = seq
            if env.run_id is not rid and env.run_id != rid:  # `is` first: UUID eq is slow
                foreign.append(seq)
            if code == STARTED:
                starts.append(seq)
        code, first, _ = log.rows[0]
        if code != STARTED:
            where = f"RunStarted at seq {starts[0]}" if starts else "no RunStarted at all"
            out.add(
                rid,
                (first.seq, *starts[:1]),
                f"the first event is {event_kind(first)}, not RunStarted ({where})",
            )
        if len(starts) > 1:
            out.add(rid, starts, f"{len(starts)} RunStarted events; exactly one is allowed")
        if foreign:
            out.add(rid, foreign, f"{len(foreign)} envelope(s) carry another run id than {rid}")
    return out.items


INVARIANT = Invariant(
    "log_well_formed",
    1,
    "seqs contiguous from 1, one RunStarted first, one run id",
    check_log_well_formed,
)
