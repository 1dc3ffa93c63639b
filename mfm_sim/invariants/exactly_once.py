"""Invariant 2, exactly-once completion: at most one StateCompleted per state (one per plan
state if the run completed); at most one RunCompleted, last; the result is the logged one."""

from __future__ import annotations

from mfm_engine.events import EventEnvelope, RunCompleted, RunStatus

from mfm_sim.invariants.derive import (
    COMPLETED,
    FINISHED,
    TERMINAL_PHASES,
    Out,
    each_run,
    event_kind,
)
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.spec.phases import PHASE_OF
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_exactly_once"]


def check_exactly_once(obs: Observation) -> list[Violation]:
    """At most one StateCompleted per state, one per plan state if the run completed; one
    RunCompleted, last; and the main run's returned result is the one its log records."""
    out = Out(INVARIANT.name, obs)
    for log in each_run(obs):
        rid = log.run_id
        stream = log.stream
        completed_at: dict[str, int] = {}
        finishes: list[EventEnvelope] = []
        for code, env, ev in log.kernel:
            if code == COMPLETED:
                first = completed_at.get(ev.state_id)
                if first is not None:
                    out.add(
                        rid,
                        (first, env.seq),
                        f"{ev.state_id} completed twice (seqs {first} and {env.seq})",
                    )
                else:
                    completed_at[ev.state_id] = env.seq
            elif code == FINISHED:
                finishes.append(env)
        if len(finishes) > 1:
            out.add(
                rid,
                [e.seq for e in finishes],
                f"{len(finishes)} RunCompleted events; at most one is allowed",
            )
        if finishes and finishes[0] is not stream[-1]:
            last = stream[-1]
            out.add(
                rid,
                (finishes[0].seq, last.seq),
                f"RunCompleted at seq {finishes[0].seq} is not the last event "
                f"({event_kind(last)} at seq {last.seq})",
            )
        done = next((e for e in finishes if e.event.status is RunStatus.COMPLETED), None)  # type: ignore[union-attr]
        if done is not None and log.plan is not None:
            missing = [n.id for n in log.plan.graph.states if n.id not in completed_at]
            if missing:
                out.add(
                    rid,
                    (done.seq,),
                    f"run completed but plan state(s) never completed: {', '.join(missing)}",
                )
        if rid == obs.main_run_id and obs.final_phase in TERMINAL_PHASES:
            phase = obs.final_phase._value_  # type: ignore[union-attr]
            if not finishes:
                out.add(
                    rid,
                    (stream[-1].seq,) if stream else (),
                    f"the engine returned {phase} but the log holds no RunCompleted",
                )
            else:
                rc = finishes[0].event
                assert isinstance(rc, RunCompleted)
                logged = PHASE_OF[rc.status]
                if logged is not obs.final_phase or rc.final_snapshot_id != obs.final_snapshot_id:
                    out.add(
                        rid,
                        (finishes[0].seq,),
                        f"the engine returned {phase} / {obs.final_snapshot_id} "
                        f"but the log records "
                        f"{logged.value} / {rc.final_snapshot_id}",
                    )
    return out.items


INVARIANT = Invariant(
    "exactly_once",
    2,
    "at most one StateCompleted per state, all of them if completed; one RunCompleted, last",
    check_exactly_once,
)
