"""When faults excuse a run's outcome, and how an outcome is compared with an expected one.

Shared by crash transparency (7), which compares with the fault-free run, and model
agreement (13), which compares with the scenario's model: both excuse a FAILED run whose
attempts crashes or injected failures used up.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from mfm_engine.events import RunPhase, RunStatus

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.derive import (
    ENTERED,
    FAILED,
    FINISHED,
    INJECTED_PREFIX,
    ORPHAN_CODE,
    Log,
    Out,
    derive,
    main_log,
)
from mfm_sim.invariants.spec.canonical import decode
from mfm_sim.run.observation import Observation, Outcome

__all__ = ["compare_outcome", "faults_consumed_attempts", "finished"]


def _interrupted_by_fault(obs: Observation, run_id: uuid.UUID, entered_seq: int | None) -> bool:
    """The attempt entered at `entered_seq` was left open by a crash, a storage fault or the
    engine's failpoint (the incarnation returned RUNNING in which a `stop_after_handler`
    fault fired).

    An attempt the engine abandoned by failing on its own (a non-storage error) is not
    excused: that orphan is the engine's doing, not the fault schedule's.
    """
    if entered_seq is None:
        return False
    where = obs.seq_step.get((run_id, entered_seq))
    if where is None:
        return True  # appended outside any recorded incarnation (synthetic logs)
    for inc in obs.incarnations:
        if inc.number == where[0]:
            return (
                inc.outcome is Outcome.CRASH
                or (inc.outcome is Outcome.ERROR and inc.error_kind == "storage")
                or (inc.phase is RunPhase.RUNNING and _stopped(obs, inc.number))
            )
    return True


def _stopped(obs: Observation, incarnation: int) -> bool:
    return any(
        f.kind is FaultKind.STOP_AFTER_HANDLER and f.incarnation == incarnation for f in obs.faults
    )


def _failing_state_excusable(obs: Observation, log: Log) -> bool:
    """The run ended FAILED at a state whose failures include a recovery from a crash (or
    storage fault) or an injected failure."""
    finish = log.finish
    if finish is None or finish.event.status is not RunStatus.FAILED:  # type: ignore[union-attr]
        return False
    failing: str | None = None
    excusable: dict[str, bool] = {}
    entered: dict[str, int] = {}
    for code, env, ev in log.rows:
        if code == ENTERED:
            entered[ev.state_id] = env.seq
        elif code == FAILED:
            error_code = ev.error.code
            if error_code.startswith(INJECTED_PREFIX) or (
                error_code == ORPHAN_CODE
                and _interrupted_by_fault(obs, log.run_id, entered.get(ev.state_id))
            ):
                excusable[ev.state_id] = True
            failing = ev.state_id
        elif code == FINISHED:
            if failing is None:
                return False
            return excusable.get(failing, False)
    return False


def faults_consumed_attempts(obs: Observation) -> bool:
    """Crashes or injected failures used up a state's attempts: the main run (or a child it
    awaited) ended FAILED because of them, so its outcome may differ from a fault-free one."""
    derived = derive(obs)
    if derived.consumed is None:  # asked by invariants 7 and 13 and the runner in turn
        main = derived.main
        derived.consumed = (
            obs.final_phase is RunPhase.FAILED
            and main is not None
            and _failing_state_excusable(obs, main)
        ) or any(log.is_child and _failing_state_excusable(obs, log) for log in derived.logs)
    return derived.consumed


def _final_snapshot(obs: Observation) -> tuple[bool, Any]:
    """(available, value) of the main run's final snapshot."""
    sid = obs.final_snapshot_id
    if sid is None:
        return True, None
    data = obs.pristine.get(sid)
    if data is None:
        data = obs.artifacts.get(sid)
    if data is None:
        return False, None
    try:
        return True, decode(data)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both
        return False, None


def compare_outcome(
    obs: Observation,
    out: Out,
    expected_phase: RunPhase,
    expected_snapshot: Mapping[str, Any] | None,
    against: str,
) -> None:
    rid = obs.main_run_id
    main = main_log(obs)
    rc = main.finish if main is not None else None
    seqs = (rc.seq,) if rc is not None else ()
    phase = obs.final_phase
    assert phase is not None
    if phase is not expected_phase:
        out.add(rid, seqs, f"final status {phase.value}, {against} says {expected_phase.value}")
        return
    if expected_snapshot is None:
        return
    available, value = _final_snapshot(obs)
    if not available and obs.final_snapshot_id in obs.lost_artifacts:
        return  # the store lost the bytes after acknowledging them: nothing to compare
    if not available:
        out.add(
            rid,
            seqs,
            f"final snapshot {(obs.final_snapshot_id or '')[:12]} is unreadable; "
            f"{against} has {_short(_plain(expected_snapshot))}",
        )
        return
    if value == expected_snapshot:
        return  # equal as they are, so equal as plain JSON too
    want = _plain(expected_snapshot)
    got = _plain(value)
    if got != want:
        if isinstance(got, dict) and isinstance(want, dict):
            keys = sorted(k for k in set(got) | set(want) if got.get(k, ...) != want.get(k, ...))
            detail = "; ".join(
                f"{k}: {_short(got.get(k, '<absent>'), 60)} "
                f"!= {_short(want.get(k, '<absent>'), 60)}"
                for k in keys[:5]
            )
        else:
            detail = f"{_short(got)} != {_short(want)}"
        out.add(rid, seqs, f"final snapshot differs from {against}: {detail}")


def finished(obs: Observation) -> bool:
    return obs.final_phase is not None and obs.final_phase is not RunPhase.RUNNING


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    """Mappings and sequences as dicts and lists: a model's tuples equal JSON lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
