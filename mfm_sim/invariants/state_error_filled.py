"""State error filled: a handler's `StateError` without a state id gets its attempt's.

ENGINE.md "One attempt" 5: on an error the engine fills the error's state id, then redacts and
persists it. A handler that raised a `StateError` naming no state sees, once the engine has
recorded that attempt's `StateFailed` with the error's code (not an orphan's recovery), the
attempt's state in it (the journal keeps the raised
error: `HandlerAttempt.error_state_ids`). One that named a state keeps it.
"""

from __future__ import annotations

import uuid

from mfm_engine.events import StateEntered, StateFailed

from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_state_error_filled"]


def _failed_attempts(obs: Observation, run_id: uuid.UUID) -> dict[tuple[str, int], tuple[int, str]]:
    """(state, attempt) -> (seq, code) of the StateFailed that closed it, in the run's log."""
    view = obs.runs.get(run_id)
    out: dict[tuple[str, int], tuple[int, str]] = {}
    if view is None:
        return out
    entered: StateEntered | None = None
    for env in view.stream:
        event = env.event
        if isinstance(event, StateEntered):
            entered = event
        elif isinstance(event, StateFailed) and entered is not None:
            out[(entered.state_id, entered.attempt)] = (env.seq, event.error.code)
            entered = None
    return out


def check_state_error_filled(obs: Observation) -> list[Violation]:
    """One violation per recorded failure whose raised StateError was left without a state."""
    out = Out(INVARIANT.name, obs)
    failed: dict[uuid.UUID, dict[tuple[str, int], tuple[int, str]]] = {}
    for h in obs.handler_journal:
        ids = h.error_state_ids
        if ids is None or h.run_id is None or h.attempt is None:
            continue
        runs = failed.get(h.run_id)
        if runs is None:
            runs = failed[h.run_id] = _failed_attempts(obs, h.run_id)
        closed = runs.get((h.state_id, h.attempt))
        if closed is None or f"error:{closed[1]}" != h.ended:
            # Not recorded as this error's failure (the failpoint or a crash stopped the
            # attempt first, and resume closed it as an orphan): nothing was promised yet.
            continue
        seq = closed[0]
        raised, now = ids
        want = h.state_id if raised is None else raised
        if now != want:
            out.add(
                h.run_id,
                (seq,),
                f"the StateError {h.state_id} attempt {h.attempt} raised with state id "
                f"{raised!r} was left with {now!r}, not {want!r}",
            )
    return out.items


INVARIANT = Invariant(
    "state_error_filled",
    None,
    "a handler's StateError with no state id is given its attempt's state",
    check_state_error_filled,
)
