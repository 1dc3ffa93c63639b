"""A clean schedule: no fault fired and no incarnation crashed, so nothing needed recovering.

Then the run finishes in its first incarnation: the `start` call returns a result (the
idempotent resume the runner adds afterwards is not counted), no log holds an
`orphan_attempt_recovered` failure (an orphan needs a crash, and there was none), and when
the scenario has a model the run ends in the model's phase. Finishing and the phase are
judged in recoverable mode only, as liveness is. An engine that raises, leaves an attempt
open or fails a run on its own shows here even when a later resume hides it.
"""

from __future__ import annotations

from mfm_engine.events import StateFailed

from mfm_sim.invariants.derive import FAILED, ORPHAN_CODE, Out, each_run, main_log
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation, Outcome

__all__ = ["INVARIANT", "check_clean_schedule"]

_AFTERWARDS = "idempotent_resume"  # the runner's check that a finished run stays finished


def _clean(obs: Observation) -> bool:
    return not obs.faults and all(i.outcome is not Outcome.CRASH for i in obs.incarnations)


def check_clean_schedule(obs: Observation) -> list[Violation]:
    """Nothing to say unless the schedule was clean; then one incarnation, no orphan, the
    model's phase."""
    out = Out(INVARIANT.name, obs)
    if not _clean(obs):
        return out.items
    rid = obs.main_run_id
    main = main_log(obs)
    head = (main.stream[-1].seq,) if main is not None and main.stream else ()
    calls = [i for i in obs.incarnations if i.call != _AFTERWARDS]
    # Finishing is liveness: unrestricted mode (`recoverable` False) judges safety only.
    if obs.recoverable and (len(calls) != 1 or calls[0].outcome is not Outcome.RESULT):
        took = [(i.call, i.outcome.value, i.error_code) for i in calls]
        out.add(rid, head, f"no fault fired but the run took {took}")
    for log in each_run(obs):
        for code, env, ev in log.failed:
            if code == FAILED and isinstance(ev, StateFailed) and ev.error.code == ORPHAN_CODE:
                out.add(log.run_id, (env.seq,), f"orphan recovery at seq {env.seq} without a fault")
    if obs.recoverable and obs.model is not None and obs.final_phase is not obs.model.phase:
        final = obs.final_phase.value if obs.final_phase else "no result"
        out.add(rid, head, f"final phase {final} but the model says {obs.model.phase.value}")
    return out.items


INVARIANT = Invariant(
    "clean_schedule",
    None,
    "with no fault and no crash, the run finishes in one incarnation, as the model says",
    check_clean_schedule,
)
