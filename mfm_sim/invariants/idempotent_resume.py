"""Invariant 8, idempotent resume: resuming a finished run appends nothing and returns the
same result."""

from __future__ import annotations

import uuid

from mfm_engine.events import RunCompleted, RunPhase

from mfm_sim.invariants.derive import TERMINAL_PHASES, Out, main_log
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.spec.phases import PHASE_OF
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation, Outcome

__all__ = ["INVARIANT", "check_idempotent_resume"]


def check_idempotent_resume(obs: Observation) -> list[Violation]:
    """An `idempotent_resume` incarnation returns a result, appends nothing, and returns what
    the last terminal result before it returned (or, lacking one, what the log records)."""
    out = Out(INVARIANT.name, obs)
    rid = obs.main_run_id
    main = main_log(obs)
    rc = main.finish if main is not None else None
    logged: tuple[RunPhase, str | None] | None = None
    if rc is not None:
        assert isinstance(rc.event, RunCompleted)
        logged = (PHASE_OF[rc.event.status], rc.event.final_snapshot_id)
    rc_seqs = (rc.seq,) if rc is not None else ()
    previous: tuple[RunPhase, str | None] | None = None
    for inc in obs.incarnations:
        if inc.call == "idempotent_resume":
            if inc.outcome is not Outcome.RESULT:
                code = f" ({inc.error_code})" if inc.error_code else ""
                out.add(
                    rid,
                    rc_seqs,
                    f"incarnation {inc.number}: resuming a finished run ended in "
                    f"{inc.outcome.value}{code}",
                )
            if inc.appended:
                by_run: dict[uuid.UUID, list[int]] = {}
                for run_id, seq in inc.appended:
                    by_run.setdefault(run_id, []).append(seq)
                for run_id in sorted(by_run, key=str):
                    seqs = by_run[run_id]
                    out.add(
                        run_id,
                        seqs,
                        f"incarnation {inc.number}: resuming a finished run appended "
                        f"{len(seqs)} event(s)",
                    )
            expected = previous if previous is not None else logged
            if inc.outcome is Outcome.RESULT and expected is not None:
                got = (inc.phase, inc.final_snapshot_id)
                if got != expected:
                    phase = inc.phase.value if inc.phase else None
                    out.add(
                        rid,
                        rc_seqs,
                        f"incarnation {inc.number}: resume returned "
                        f"{phase} / {inc.final_snapshot_id}, "
                        f"before it {expected[0].value} / {expected[1]}",
                    )
        if inc.outcome is Outcome.RESULT and inc.phase in TERMINAL_PHASES:
            previous = (inc.phase, inc.final_snapshot_id)
    return out.items


INVARIANT = Invariant(
    "idempotent_resume",
    8,
    "resuming a finished run appends nothing and returns the same result",
    check_idempotent_resume,
)
