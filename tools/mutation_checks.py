"""Supplementary oracles used by the mutation sweep (and tests/engine/test_mutation_gaps.py).

They close holes in the 13 built-in invariants found by mutation testing (docs/mutation.md),
without touching `mfm_sim/`: each is a pure function of a `SimResult` kept with
`keep_observation=True`.

* ``honest_errors``: under honest faults only (crashes, transient/ambiguous errors, latency),
  every `start`/`resume` that raised must have raised a *storage* error. A context, plan or
  state error from the engine's own bookkeeping is a bug even if later resumes "recover"
  it: the built-in crash-transparency/model checks excuse a FAILED run whose attempts were
  used up by `orphan_attempt_recovered` failures, and they cannot tell an orphan left by a
  simulated crash from one left by the engine raising on its own.
* ``log_contract``: every envelope the engine appended carries an integer timestamp; every
  `StateFailed` names its error with a lower-snake-case code, an `ErrorCategory` and a
  non-empty message; a `handler_exception` failure's message starts with the name of the
  exception type the handler raised (``ValueError: ...``).
* ``clean_schedule``: a schedule in which no fault fired and no incarnation crashed finishes
  in its first incarnation (no error, no crash, no orphan recovery) with the model's status
  when there is a model.
"""

from __future__ import annotations

import re
from typing import Any

from engine.errors import ErrorCategory
from engine.events import StateFailed
from mfm_sim.observation import Outcome

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# "<ExceptionType>: <message>", naming the handler's exception (never `NoneType`).
_HANDLER_MSG = re.compile(r"^(?!NoneType:)[A-Z][A-Za-z0-9_]*: ")


def extra_violations(result: Any) -> list[str]:
    obs = result.observation
    if obs is None:
        raise ValueError("extra_violations needs simulate(..., keep_observation=True)")
    out: list[str] = []
    for view in obs.runs.values():
        for env in view.stream:
            if not isinstance(env.ts_millis, int) or env.ts_millis < 0:
                out.append(f"log_contract: seq {env.seq} has timestamp {env.ts_millis!r}")
            ev = env.event
            if isinstance(ev, StateFailed):
                err = ev.error
                if not (isinstance(err.code, str) and _CODE.match(err.code)):
                    out.append(f"log_contract: seq {env.seq} error code {err.code!r}")
                if not isinstance(err.category, ErrorCategory):
                    out.append(f"log_contract: seq {env.seq} error category {err.category!r}")
                if not (isinstance(err.message, str) and err.message):
                    out.append(f"log_contract: seq {env.seq} error message {err.message!r}")
                elif err.code == "handler_exception" and not _HANDLER_MSG.match(err.message):
                    out.append(f"log_contract: seq {env.seq} handler_exception {err.message!r}")
    if obs.honest:
        for inc in obs.incarnations:
            if inc.outcome is Outcome.ERROR and inc.error_kind != "storage":
                out.append(
                    f"honest_errors: incarnation {inc.number} ({inc.call}) raised a "
                    f"{inc.error_kind} error {inc.error_code!r} under honest faults only"
                )
    crashed = any(i.outcome is Outcome.CRASH for i in obs.incarnations)
    if not obs.faults and not crashed:
        calls = [i for i in obs.incarnations if i.call != "idempotent_resume"]
        if len(calls) != 1 or calls[0].outcome is not Outcome.RESULT:
            out.append(
                "clean_schedule: no fault fired but the run took "
                f"{[(i.call, i.outcome.value, i.error_code) for i in calls]}"
            )
        for view in obs.runs.values():
            for env in view.stream:
                ev = env.event
                if isinstance(ev, StateFailed) and ev.error.code == "orphan_attempt_recovered":
                    out.append(f"clean_schedule: orphan recovery at seq {env.seq} without a fault")
        if obs.model is not None and obs.final_phase is not obs.model.phase:
            out.append(
                f"clean_schedule: final phase {obs.final_phase} but the model says "
                f"{obs.model.phase}"
            )
    return out
