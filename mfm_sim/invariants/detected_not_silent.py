"""Invariant 11, detected, never silent: reads of lost or corrupt bytes, or of a lying log,
end in a clear refusal, never a result, and the task that read them appends nothing more. A
refusal `seed/runtime.rs` builds itself (`invalid_attempt_envelopes`, `run_id_mismatch`,
`missing_run_started`, `manifest_corrupt`, ...) carries its whole ErrorInfo
(`spec/original_errors.py`); an `invalid_attempt_envelopes` refusal chains the first break of
the stream the lie returned, at its seq (`spec/refusal_causes.py`)."""

from __future__ import annotations

import uuid

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.derive import INJECTED_PREFIX, Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.spec.envelopes import walk
from mfm_sim.invariants.spec.original_errors import raised_problem
from mfm_sim.invariants.spec.refusal_causes import envelope_cause_problem
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import BadRead, Incarnation, Observation, Outcome

__all__ = [
    "INVARIANT",
    "LOG_LIE_REFUSALS",
    "LOG_REFUSAL_CODES",
    "STORAGE_ERROR_CODES",
    "check_detected_not_silent",
]
K = FaultKind


STORAGE_ERROR_CODES = frozenset(
    {
        "not_found",
        "artifact_not_found",
        "manifest_not_found",
        "artifact_content_address_mismatch",
        "manifest_corrupt",
        "manifest_artifact_mismatch",  # start reads its manifest back before writing anything
    }
)
# ENGINE.md, "Later checks": resume refuses a history with a gap or a repeat in its seqs, or
# another run's record, before it rebuilds anything (`invalid_attempt_envelopes`; a lone
# record of another run, `run_id_mismatch`); a fact key bound to two payloads is
# `fact_recorded_conflict`. Each lie about the log must meet its refusal.
_ENVELOPES = frozenset({"invalid_attempt_envelopes"})
LOG_LIE_REFUSALS: dict[FaultKind, frozenset[str]] = {
    K.LIE_DUPLICATE_FACT: _ENVELOPES,
    K.LIE_CONFLICTING_FACT: frozenset({"fact_recorded_conflict"}),
    K.LIE_SEQ_GAP: _ENVELOPES,
    K.LIE_REORDERED_RANGE: _ENVELOPES,
    K.LIE_FOREIGN_RECORD: _ENVELOPES | {"run_id_mismatch"},
    # Well-numbered, so refused by the attempt envelopes, the missing RunStarted or one of
    # another op, or the malformed fact record (ENGINE.md, "Attempt envelopes", "Start and
    # resume", "Facts").
    K.LIE_REWRITTEN_HISTORY: _ENVELOPES
    | {"missing_run_started", "run_started_op_id_mismatch", "fact_recorded_malformed"},
}
LOG_REFUSAL_CODES = frozenset().union(*LOG_LIE_REFUSALS.values())
# Lies whose refusal is one code of their own (ENGINE.md, "Later checks": a store that
# returns another id for a put is `artifact_put_id_mismatch`).
_OWN_REFUSALS: dict[FaultKind, frozenset[str]] = {
    **LOG_LIE_REFUSALS,
    K.ARTIFACT_PUT_ID_MISMATCH: frozenset({"artifact_put_id_mismatch"}),
}


def _refusals(kinds: frozenset[FaultKind]) -> frozenset[str]:
    """The codes that refuse what was read: a storage error for bad bytes, each lie's own."""
    codes = frozenset().union(*(_OWN_REFUSALS.get(k, frozenset()) for k in kinds))
    return codes | STORAGE_ERROR_CODES if kinds - _OWN_REFUSALS.keys() else codes


def _records_read(obs: Observation, read: BadRead) -> int:
    """How many records the run's durable log held when `read` read it whole: those appended
    at an earlier step, and those no incarnation appended (a log written before the first)."""
    run_id = uuid.UUID(read.artifact_id[4:])
    view = obs.runs.get(run_id)
    if view is None:
        return 0
    steps = (obs.seq_step.get((run_id, env.seq)) for env in view.stream)
    return sum(1 for at in steps if at is None or at[1] < read.step)


def _foreign_among_others(obs: Observation, reads: tuple[BadRead, ...]) -> bool:
    """Every lie of the incarnation put another run's record among two or more records: the
    walk of the attempt envelopes sees two run ids (ENGINE.md "Attempt envelopes": another
    run id is an envelope error), so the refusal is `invalid_attempt_envelopes`. Only a lone
    record, with nothing to compare it with, reaches resume's own `run_id_mismatch`."""
    return all(
        b.kind is K.LIE_FOREIGN_RECORD and b.artifact_id.startswith("log:") for b in reads
    ) and all(_records_read(obs, b) >= 2 for b in reads)


def _break_problem(inc: Incarnation) -> str:
    """What is wrong with the reason the envelope refusal of `inc` chains: the first break of
    the first lying read (by step) whose stream, as the lie returned it, has one. That read is
    the one the engine refused (it stops at its first refusal); a lie whose stream walks clean
    predicts no break (its refusal, if any, is another code)."""
    for read in sorted(inc.bad_reads, key=lambda b: b.step):
        if read.returned and walk(read.returned).problem is not None:
            return envelope_cause_problem(inc.raised, read.returned)
    return ""


def check_detected_not_silent(obs: Observation) -> list[Violation]:
    """An incarnation that read dropped or corrupted bytes, or a lying log, ends in the error
    that refuses it (or crashed), never in a result, and appends nothing after that read.
    Deadlock and runaway are liveness's."""
    out = Out(INVARIANT.name, obs)
    rid = obs.main_run_id
    for inc in obs.incarnations:
        if not inc.bad_reads:
            continue
        first = min(inc.bad_reads, key=lambda b: (b.step, b.artifact_id))
        source = first.artifact_id
        if source.startswith("log:"):
            source = f"log of run {source[4:12]}"
        else:
            source = f"artifact {source[:12]}"
        what = f"{first.kind.value} {source} read at step {first.step}"
        if inc.outcome is Outcome.RESULT:
            phase = inc.phase.value if inc.phase else None
            out.add(
                rid,
                (),
                f"incarnation {inc.number} returned {phase} after reading bad bytes ({what})",
            )
        elif inc.outcome is Outcome.ERROR:
            code = inc.error_code or ""
            refusals = _refusals(frozenset(b.kind for b in inc.bad_reads))
            if _foreign_among_others(obs, inc.bad_reads):
                refusals = _ENVELOPES
            if code not in refusals and not code.startswith(INJECTED_PREFIX):
                out.add(
                    rid,
                    (),
                    f"incarnation {inc.number} failed with {code or 'no code'!s}, "
                    f"not the refusal of what it read ({what})",
                )
            # A refusal the seed builds itself: its whole ErrorInfo, not the code alone, is
            # what an operator reads (ENGINE.md "Start and resume").
            elif differs := raised_problem(inc.raised):
                out.add(rid, (), f"incarnation {inc.number}'s refusal {differs} ({what})")
            elif code == "invalid_attempt_envelopes" and (why := _break_problem(inc)):
                out.add(rid, (), f"incarnation {inc.number}'s refusal {why} ({what})")
        # Runs of one process (a parent and its children) run in separate tasks; a task that
        # read bad bytes must stop, but another task may go on until the error reaches it.
        late: dict[uuid.UUID, list[int]] = {}
        for run_id, seq in inc.appended:
            where = obs.seq_step.get((run_id, seq))
            if where is None or where[0] != inc.number:
                continue
            task = obs.seq_task.get((run_id, seq), "")
            if any(
                where[1] > b.step and (not b.task or not task or b.task == task)
                for b in inc.bad_reads
            ):
                late.setdefault(run_id, []).append(seq)
        for run_id in sorted(late, key=str):
            out.add(
                run_id,
                late[run_id],
                f"incarnation {inc.number} appended {len(late[run_id])} event(s) "
                f"after reading bad bytes ({what})",
            )
    return out.items


INVARIANT = Invariant(
    "detected_not_silent",
    11,
    "reads of lost or corrupt bytes or of a lying log end in a refusal, never a result",
    check_detected_not_silent,
)
