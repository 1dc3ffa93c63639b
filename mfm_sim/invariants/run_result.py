"""Run results: what `start` and `resume` return names the run, its phase and its snapshot.

ENGINE.md: `start` takes the run's id from the engine's id source; a `RunResult` is the run's
`(run_id, phase, final_snapshot_id)`: a finished run's phase and final snapshot are its
`RunCompleted`'s (status COMPLETED or FAILED, the phase of the same name), and a run the
failpoint stopped returns RUNNING with "final_snapshot_id = current checkpoint" ("One
attempt" 4: the last `StateCompleted`'s snapshot, else `RunStarted`'s initial one, of what
was durable when the call returned).
"""

from __future__ import annotations

import uuid

from mfm_engine.events import RunCompleted, RunPhase, RunStarted, StateCompleted

from mfm_sim.invariants.derive import Out, main_log
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Incarnation, Observation, Outcome

__all__ = ["INVARIANT", "check_run_result"]

_PHASE = {"COMPLETED": RunPhase.COMPLETED, "FAILED": RunPhase.FAILED}


def _durable_by(obs: Observation, run_id: uuid.UUID, number: int) -> tuple[str | None, object]:
    """(checkpoint, RunCompleted or None) of the run's log as incarnation `number` left it."""
    view = obs.runs.get(run_id)
    checkpoint: str | None = None
    done: object = None
    if view is None:
        return checkpoint, done
    for env in view.stream:
        where = obs.seq_step.get((run_id, env.seq))
        if where is not None and where[0] > number:
            break  # appended by a later incarnation
        event = env.event
        if isinstance(event, RunStarted) and checkpoint is None:
            checkpoint = event.initial_snapshot_id
        elif isinstance(event, StateCompleted):
            checkpoint = event.context_snapshot_id
        elif isinstance(event, RunCompleted) and done is None:
            done = event
    return checkpoint, done


def _completed_by(obs: Observation, number: int) -> object:
    """The main run's RunCompleted if incarnation `number` or an earlier one appended it (or a
    recorded log brought it), else None: `_durable_by`'s second half without the walk of every
    record's step, since a run's records are appended by its incarnations in order."""
    log = main_log(obs)
    finish = log.finish if log is not None else None
    if finish is None:
        return None  # no RunCompleted in the log, nor a subclass of one
    if type(finish.event) is not RunCompleted:
        # The log's first finish is a subclass: the first of exactly this type is judged.
        finish = next((env for env in log.stream if type(env.event) is RunCompleted), None)  # type: ignore[union-attr]
        if finish is None:
            return None
    where = obs.seq_step.get((obs.main_run_id, finish.seq))
    return finish.event if where is None or where[0] <= number else None


def _judge(obs: Observation, inc: Incarnation, out: Out) -> None:
    rid = obs.main_run_id
    where = f"incarnation {inc.number} ({inc.call})"
    if inc.result_run_id != rid:
        out.add(rid, (), f"{where} returned a result for run {inc.result_run_id}, not {rid}")
    if rid is None:
        return
    if inc.phase is not RunPhase.RUNNING:
        done = _completed_by(obs, inc.number)
    else:
        checkpoint, done = _durable_by(obs, rid, inc.number)
        if inc.final_snapshot_id != checkpoint:
            out.add(
                rid,
                (),
                f"{where} returned RUNNING with snapshot {inc.final_snapshot_id}, not the "
                f"checkpoint {checkpoint}",
            )
        return
    if not isinstance(done, RunCompleted):
        out.add(rid, (), f"{where} returned {inc.phase} with no RunCompleted in the log")
        return
    want = _PHASE.get(done.status.name)
    if inc.phase is not want or inc.final_snapshot_id != done.final_snapshot_id:
        out.add(
            rid,
            (),
            f"{where} returned ({inc.phase}, {inc.final_snapshot_id}); the log's RunCompleted "
            f"says ({want}, {done.final_snapshot_id})",
        )


def check_run_result(obs: Observation) -> list[Violation]:
    """One violation per result that names another run, phase or snapshot than the log's,
    and one if the main run's id is not one its id source handed out."""
    out = Out(INVARIANT.name, obs)
    rid = obs.main_run_id
    if obs.issued_run_ids is not None and rid is not None and rid not in obs.issued_run_ids:
        out.add(rid, (), f"run {rid} was not taken from the engine's id source")
    for inc in obs.incarnations:
        if inc.outcome is Outcome.RESULT:
            _judge(obs, inc, out)
    return out.items


INVARIANT = Invariant(
    "run_result",
    None,
    "start and resume return the run's own id, phase and snapshot; ids come from the id source",
    check_run_result,
)
