"""Durable appends: an append the store acknowledged survives every crash, and one it did not
acknowledge is in the log whole or not at all, unless the disk lied.

An event store acknowledges an append by returning from it; from then on the batch is part of
the log (ENGINE.md, "Stores": `append` is atomic and returns the new head, and a store persists
what it holds). The in-memory store keeps that trivially; a store on a disk keeps it only if it
synced what it wrote before returning, wrote the batch in one transaction, and cut a torn tail
instead of writing after it. So: every batch an incarnation saw acknowledged is in the durable
log the schedule ended with, at its seqs, event for event. And every append a real store was
asked for (`Observation.store_appends`) that never returned left all of its events in that log
or none.

A disk that lies (a sync that persists nothing, a write that lands elsewhere, a bit flipped in
synced bytes) can lose an acknowledged append without any store bug: such a loss is the
disk's, and whether the engine then refused what it read is invariant 11's to judge
(`detected_not_silent`), never a violation here.
"""

from __future__ import annotations

import uuid

from mfm_sim.faults.kinds import FAULTS, FaultClass, FaultKind
from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_durable_appends", "lies_about_durable_log"]

# Lies that touch no durable log byte: a lying read of the log, an artifact's bytes.
_NOT_THE_LOG = frozenset({"events.read_range", "artifacts.put", "manifest.put"})


def lies_about_durable_log(kind: FaultKind) -> bool:
    """A lying fault that can change what the durable log holds (a lying disk's)."""
    spec = FAULTS[kind]
    return spec.fault_class is FaultClass.LYING and not set(spec.sites) <= _NOT_THE_LOG


def _span(seqs: list[int]) -> str:
    return f"{seqs[0]}..{seqs[-1]}" if len(seqs) > 1 else str(seqs[0])


def check_durable_appends(obs: Observation) -> list[Violation]:
    """Each acknowledged append's events are in the final durable log, unchanged."""
    out = Out(INVARIANT.name, obs)
    if any(lies_about_durable_log(f.kind) for f in obs.faults):
        return out.items
    for inc in obs.incarnations:
        missing: dict[uuid.UUID, list[int]] = {}
        for run_id, seq in inc.appended:
            view = obs.runs.get(run_id)
            if view is None or len(view.stream) < seq:
                missing.setdefault(run_id, []).append(seq)
        for run_id, seqs in missing.items():
            view = obs.runs.get(run_id)
            out.add(
                run_id,
                seqs,
                f"incarnation {inc.number}'s acknowledged appends of seqs {_span(seqs)} are gone"
                f" from the durable log (it ends at seq {len(view.stream) if view else 0}) though"
                " the disk honoured every sync",
            )
        for _, _, _, run_id, envelopes in inc.appends:
            view = obs.runs.get(run_id)
            stream = view.stream if view is not None else ()
            changed = [
                env.seq
                for env in envelopes
                if env.seq <= len(stream) and stream[env.seq - 1] != env
            ]
            if changed:
                out.add(
                    run_id,
                    changed,
                    f"incarnation {inc.number}'s acknowledged append holds other events at seqs"
                    f" {_span(changed)} in the durable log though the disk honoured every sync",
                )
    _all_or_nothing(obs, out)
    return out.items


def _all_or_nothing(obs: Observation, out: Out) -> None:
    """An append a real store was asked for and did not return from (the machine died inside
    it) left all of its events in the durable log or none: never the first half of a batch."""
    for attempt in obs.store_appends:
        if attempt.returned or not attempt.envelopes:
            continue
        view = obs.runs.get(attempt.run_id)
        stream = view.stream if view is not None else ()
        # Timestamps make a batch's envelopes its own: another attempt at the same seqs
        # (after a crash the clock has moved) never equals it.
        landed = [
            env.seq
            for env in attempt.envelopes
            if env.seq <= len(stream) and stream[env.seq - 1] == env
        ]
        if landed and len(landed) < len(attempt.envelopes):
            seqs = [env.seq for env in attempt.envelopes]
            out.add(
                attempt.run_id,
                landed,
                f"an append of seqs {_span(seqs)} that never returned left only seqs"
                f" {_span(landed)} in the durable log: an append is all or nothing",
            )


INVARIANT = Invariant(
    "durable_appends",
    None,
    "an acknowledged append survives a crash when the disk honoured its syncs",
    check_durable_appends,
)
