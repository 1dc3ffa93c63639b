"""What a run's stream says about it: start, checkpoint, completions, failures, orphan, end."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import attrs
from mfm_engine.envelopes import EnvelopeError, OrphanAttempt, analyze_kernel_events
from mfm_engine.errors import invalid_plan
from mfm_engine.events import (
    EventEnvelope,
    RunCompleted,
    RunStarted,
    StateCompleted,
    StateEntered,
    StateFailed,
    check_event_ids,
)


@attrs.frozen
class FailureRecord:
    attempt: int
    base_snapshot_id: str
    retryable: bool


@attrs.frozen
class RunHistory:
    started: RunStarted
    completed_states: frozenset[str]
    last_checkpoint: str
    orphan_attempt: OrphanAttempt | None
    last_failure_by_state: dict[str, FailureRecord]
    last_attempt_by_state: dict[str, int]
    run_completed: RunCompleted | None
    state_ids: tuple[str, ...]

    def next_attempt(self, state_id: str) -> int:
        last = self.last_attempt_by_state.get(state_id)
        return 0 if last is None else last + 1


def read_run_history(run_id: uuid.UUID, stream: Sequence[EventEnvelope]) -> RunHistory:
    """What a whole stream says, refusing one that is not a run's: broken attempt envelopes, a
    gap or repeat in its seqs, another run's event, an invalid id, no `RunStarted`."""
    try:
        analysis = analyze_kernel_events(stream)
    except EnvelopeError as exc:
        # seed/runtime.rs: one fixed refusal (its ErrorInfo) for every envelope error; the
        # reason (kind, seq) stays readable as the refusal's `__cause__`.
        raise invalid_plan(
            "invalid_attempt_envelopes", "invalid attempt envelopes in event stream"
        ) from exc

    started: RunStarted | None = None
    completed: set[str] = set()
    checkpoint: str | None = None
    open_attempt: StateEntered | None = None
    failures: dict[str, FailureRecord] = {}
    last_attempts: dict[str, int] = {}
    run_completed: RunCompleted | None = None
    seen: dict[str, None] = {}

    for env in stream:
        if env.run_id is not run_id and env.run_id != run_id:  # `is` first: UUID eq is slow
            raise invalid_plan("run_id_mismatch", "event stream run_id mismatch")
        event = env.event
        check_event_ids(event)
        if isinstance(event, RunStarted):
            if started is None:
                started = event
                checkpoint = event.initial_snapshot_id
        elif isinstance(event, StateEntered):
            open_attempt = event
            last_attempts[event.state_id] = event.attempt
            seen[event.state_id] = None
        elif isinstance(event, StateCompleted):
            completed.add(event.state_id)
            checkpoint = event.context_snapshot_id
            open_attempt = None
        elif isinstance(event, StateFailed):
            # The envelope walk above refused a terminal with no open attempt on this stream.
            assert open_attempt is not None
            failures[event.state_id] = FailureRecord(
                open_attempt.attempt, open_attempt.base_snapshot_id, event.error.retryable
            )
            open_attempt = None
        elif isinstance(event, RunCompleted):
            run_completed = event

    if started is None or checkpoint is None:
        raise invalid_plan("missing_run_started", "missing RunStarted kernel event")
    return RunHistory(
        started=started,
        completed_states=frozenset(completed),
        last_checkpoint=checkpoint,
        orphan_attempt=analysis.orphan_attempt,
        last_failure_by_state=failures,
        last_attempt_by_state=last_attempts,
        run_completed=run_completed,
        state_ids=tuple(seen),
    )
