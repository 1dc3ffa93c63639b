"""A recorded log an operator brings: the run's `RunStarted` and facts recorded before any
attempt, written into the durable stores before the first incarnation, which then resumes it.

ENGINE.md's replay mode ("Facts: live IO and replay") answers only from recorded facts, and
its original test 12 replays "a stream with `RunStarted` and a `fact_recorded` for k". A run
started by `start` has no fact before its first attempt, so without this a replay-mode run
can only ever miss; a live-mode resume likewise finds a derived fact of the attempt it is
about to run only in a history someone else recorded. The log may also hold child runs its
process started but never recorded a spawn for (it died in between): ENGINE.md's child id,
uuid5(parent run id, spawn key), with a `RunStarted` of the manifest they were spawned with.
Like the operator's manifest, these writes are the setup of the schedule, not under test: no
fault point, no step.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs
from mfm_engine.events import (
    FACT_RECORDED,
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    RunStatus,
)
from mfm_engine.stores import Stores

from mfm_sim.invariants.spec.canonical import artifact_id, canonical_bytes

__all__ = ["RUN", "SeededHistory", "seed_history"]

RUN = "{run}"  # stands for the run id in a fact key (the id is drawn when the run is seeded)


@attrs.frozen
class SeededHistory:
    """Facts bound before the run's first attempt: (key, payload), in log order; `{run}` in a
    key is replaced by the run's id (derived keys name their run)."""

    facts: tuple[tuple[str, Any], ...]
    # (spawn key, manifest JSON, initial context) of each child run the log holds.
    children: tuple[tuple[str, Any, Any], ...] = ()
    # Spawn keys of those children the log holds as finished: `RunCompleted(CANCELLED)` with
    # no final snapshot (the event's snapshot id is optional), as an operator's cancel leaves.
    finished: tuple[str, ...] = ()

    def fact_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.facts)


def _put(stores: Stores, value: Any) -> str:
    data = canonical_bytes(value)
    aid = artifact_id(data)
    stores.artifacts.data[aid] = data  # type: ignore[attr-defined]
    return aid


def seed_history(
    stores: Stores,
    run_id: uuid.UUID,
    op_id: str,
    manifest_id: str,
    initial: Mapping[str, Any],
    history: SeededHistory,
    ts_millis: int,
) -> None:
    """Write `history` as run `run_id`'s log (its initial snapshot and fact payloads as
    canonical artifacts) straight into the durable in-memory stores."""
    events: list[Any] = [RunStarted(op_id, manifest_id, _put(stores, dict(initial)))]
    for key, payload in history.facts:
        bound = key.replace(RUN, str(run_id))
        record = {"key": bound, "payload_id": _put(stores, payload), "meta": {}}
        events.append(DomainEvent(FACT_RECORDED, record))
    _stream(stores, run_id, events, ts_millis)
    for key, manifest, child_initial in history.children:
        child = uuid.uuid5(run_id, key)
        started = RunStarted(manifest["op_id"], _put(stores, manifest), _put(stores, child_initial))
        cancelled = [RunCompleted(RunStatus.CANCELLED, None)] if key in history.finished else []
        _stream(stores, child, [started, *cancelled], ts_millis)


def _stream(stores: Stores, run_id: uuid.UUID, events: list[Any], ts_millis: int) -> None:
    stores.events.streams[run_id] = [  # type: ignore[attr-defined]
        EventEnvelope(run_id, seq, event, ts_millis) for seq, event in enumerate(events, start=1)
    ]
