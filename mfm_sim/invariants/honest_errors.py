"""Honest errors: under honest faults only, a call that raised raised a storage error.

Crashes, transient and ambiguous errors and latency reach the engine through its stores and
transports; a transport error is a state failure the engine logs, never a raised one. So
when every fault of a schedule was honest, the only error a `start` or `resume` may raise is
a storage error. A context, plan or state error from the engine's own bookkeeping is a bug
even when a later resume "recovers" it: crash transparency and the model excuse a FAILED
run whose attempts were used up by `orphan_attempt_recovered` failures, and cannot tell an
orphan a simulated crash left from one the engine left by raising on its own.

A dishonest fault excuses only the incarnations it can reach. A lost or corrupted write (or
any other fault that leaves something behind) excuses its incarnation and every later one;
a lie told to one call and stored nowhere (a lying read of the log, a put answered with
another id) excuses only the incarnation it was told to, since the engine must refuse it
before appending anything (invariant 11 judges that). An incarnation no such fault reached
saw honest faults alone, and is judged as in an honest schedule.
"""

from __future__ import annotations

from mfm_sim.faults.kinds import HONEST_KINDS, LOG_LIE_KINDS, FaultKind
from mfm_sim.invariants.derive import Out, main_log
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation, Outcome

__all__ = ["INVARIANT", "check_honest_errors"]

STORAGE = "storage"  # `RunError` kind STORAGE, as the runner records `error_kind`
# Lies told to one call, after which nothing stored is false. Tuples in kind order: tested by
# identity, without Enum's Python-level `__hash__`.
TOLD_ONCE = (*LOG_LIE_KINDS, FaultKind.ARTIFACT_PUT_ID_MISMATCH)
_HONEST = tuple(k for k in FaultKind if k in HONEST_KINDS)


def check_honest_errors(obs: Observation) -> list[Violation]:
    """One violation per incarnation that raised a non-storage error under honest faults."""
    out = Out(INVARIANT.name, obs)
    told: set[int] = set()  # the incarnations a lie was told to
    lasting: int | None = None  # the step of the first dishonest fault that stays
    for f in () if obs.honest else obs.faults:  # an honest schedule: nothing to excuse
        if f.kind in _HONEST:
            continue
        if f.kind in TOLD_ONCE:
            told.add(f.incarnation)
        elif lasting is None or f.step < lasting:
            lasting = f.step
    when = "under honest faults only" if lasting is None and not told else "that no lie reached"
    main = main_log(obs)
    head = (main.stream[-1].seq,) if main is not None and main.stream else ()
    for inc in obs.incarnations:
        if lasting is not None and inc.last_step >= lasting:
            break  # this incarnation, and every later one, may have met what it left
        if inc.number in told:
            continue
        if inc.outcome is Outcome.ERROR and inc.error_kind != STORAGE:
            out.add(
                obs.main_run_id,
                head,
                f"incarnation {inc.number} ({inc.call}) raised a {inc.error_kind} error "
                f"{inc.error_code!r} {when}",
            )
    return out.items


INVARIANT = Invariant(
    "honest_errors",
    None,
    "under honest faults only, start and resume raise nothing but storage errors",
    check_honest_errors,
)
