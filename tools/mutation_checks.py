"""Supplementary oracles used by the mutation sweep (and tests/engine/test_mutation_gaps.py).

They close holes in the 13 built-in invariants found by mutation testing (docs/mutation.md),
without touching `mfm_sim/`. `extra_violations(result)` holds those that are a pure function
of a `SimResult` kept with `keep_observation=True`:

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
* ``fact_keys`` (part of the log contract): a `fact_recorded` event is appended inside an
  open attempt, and a derived key (`io.now_millis()`, `io.random_bytes()`) names this run,
  the open attempt's state and its attempt number (ENGINE.md "Facts"). Nothing else in the
  sim reads those parts of the key, so an engine handing its IO the wrong identity went
  unnoticed.
* ``event_profile`` (part of the log contract): under the MINIMAL profile a run's log holds
  no domain event but `fact_recorded` (ENGINE.md "Events"); the built-in steps emit
  `step_done`, so a recorder that ignores the profile shows here.

`sweep_violations(result)` is what the mutation sweep runs: the oracles above on every
schedule, plus two that re-run something and so only run on the first seeds of a scenario:

* ``api_contract`` (`tools/api_contract.py`): the engine driven directly with inputs derived
  from the seed's scenario instance: exact refusals, every `RunResult` return path, what the
  engine hands the attempt (failpoints, entropy, profile, IO identity), resume timing and
  plan-ordering cost.
* ``determinism``: the same schedule simulated again has the same trace digest. An engine
  that reaches for the OS (its own entropy, clock or ids instead of the sim's) breaks it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mfm_engine.config import EventProfile
from mfm_engine.errors import ErrorCategory
from mfm_engine.events import (
    FACT_RECORDED,
    DomainEvent,
    EventEnvelope,
    StateCompleted,
    StateEntered,
    StateFailed,
)

from mfm_sim.run.observation import Outcome

API_SEEDS = 2  # seeds per scenario that also get the engine-API oracle (a few ms each)
DETERMINISM_SEEDS = 1  # seeds per scenario simulated twice

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# ENGINE.md: `mfm:{kind}|run:{run_id}|state:{state_id}|attempt:{n}|ord:{k}`.
_DERIVED = re.compile(
    r"^mfm:(?P<kind>now_millis|random_bytes)\|run:(?P<run>[^|]*)\|state:(?P<state>[^|]*)"
    r"\|attempt:(?P<attempt>[^|]*)\|ord:(?P<ord>[0-9]+)$"
)
# "<ExceptionType>: <message>", naming the handler's exception (never `NoneType`).
_HANDLER_MSG = re.compile(r"^(?!NoneType:)[A-Z][A-Za-z0-9_]*: ")


def extra_violations(result: Any) -> list[str]:
    obs = result.observation
    if obs is None:
        raise ValueError("extra_violations needs simulate(..., keep_observation=True)")
    out: list[str] = []
    for view in obs.runs.values():
        out.extend(fact_key_problems(view.run_id, view.stream))
        cfg = view.run_config
        if cfg is not None and cfg.event_profile is EventProfile.MINIMAL:
            kept = [
                f"{e.event.name}@{e.seq}"
                for e in view.stream
                if isinstance(e.event, DomainEvent) and e.event.name != FACT_RECORDED
            ]
            if kept:
                out.append(f"event_profile: MINIMAL run {view.run_id} logged {kept[:3]}")
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


def fact_key_problems(run_id: Any, stream: Sequence[EventEnvelope]) -> list[str]:
    """`fact_recorded` events outside an attempt, or with a derived key naming another run,
    state or attempt than the attempt that recorded it."""
    out: list[str] = []
    open_attempt: StateEntered | None = None
    for env in stream:
        ev = env.event
        if isinstance(ev, StateEntered):
            open_attempt = ev
        elif isinstance(ev, (StateCompleted, StateFailed)):
            open_attempt = None
        elif isinstance(ev, DomainEvent) and ev.name == FACT_RECORDED:
            key = ev.payload.get("key") if isinstance(ev.payload, dict) else None
            if open_attempt is None:
                out.append(f"fact_keys: seq {env.seq} records {key!r} outside an attempt")
                continue
            if not (isinstance(key, str) and key.startswith("mfm:")):
                continue
            m = _DERIVED.match(key)
            want = (str(run_id), open_attempt.state_id, str(open_attempt.attempt))
            if m is None or (m["run"], m["state"], m["attempt"]) != want:
                out.append(
                    f"fact_keys: seq {env.seq} derived key {key!r} in attempt "
                    f"{open_attempt.attempt} of {open_attempt.state_id} of run {run_id}"
                )
    return out


def determinism_violations(result: Any) -> list[str]:
    """The schedule simulated again (as the sweep does) must leave the same trace digest."""
    from mfm_sim import get_scenario, simulate

    again = simulate(get_scenario(result.scenario), result.seed, keep_trace=False)
    if again.digest != result.digest:
        return [
            f"determinism: {result.scenario} seed {result.seed} digest {result.digest[:12]} "
            f"then {again.digest[:12]}"
        ]
    return []


def sweep_violations(result: Any) -> list[str]:
    """Every supplementary oracle the mutation sweep runs on `result` (see the module doc).

    `result` must come from `simulate(scenario, seed, keep_trace=False,
    keep_observation=True)` with no other arguments: the determinism check re-runs it so.
    """
    from tools.api_contract import api_violations

    out = extra_violations(result)
    if result.seed < API_SEEDS:
        out += api_violations(result.scenario, result.seed)
    if result.seed < DETERMINISM_SEEDS:
        out += determinism_violations(result)
    return out
