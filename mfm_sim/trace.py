"""The ordered trace of a schedule and its SHA-256 digest, built incrementally."""

from __future__ import annotations

import hashlib

from engine.events import (
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from mfm_sim.observation import Fault


def describe_event(env: EventEnvelope) -> str:
    e = env.event
    if isinstance(e, StateEntered):
        return f"StateEntered {e.state_id} attempt={e.attempt} base={e.base_snapshot_id[:8]}"
    if isinstance(e, StateCompleted):
        return f"StateCompleted {e.state_id} snapshot={e.context_snapshot_id[:8]}"
    if isinstance(e, StateFailed):
        return f"StateFailed {e.state_id} {e.error.code} retryable={e.error.retryable}"
    if isinstance(e, RunCompleted):
        return f"RunCompleted {e.status.value} final={(e.final_snapshot_id or '-')[:8]}"
    if isinstance(e, RunStarted):
        return (
            f"RunStarted {e.op_id} manifest={e.manifest_id[:8]} initial={e.initial_snapshot_id[:8]}"
        )
    assert isinstance(e, DomainEvent)
    if isinstance(e.payload, dict) and "key" in e.payload:
        return f"{e.name} {e.payload['key']}"
    return e.name


class Trace:
    """Entries are (virtual ns, incarnation, kind, detail). Kept only when asked; hashed always."""

    __slots__ = ("_clock", "_hash", "count", "entries", "keep")

    def __init__(self, clock: object, *, keep: bool = True) -> None:
        self._clock = clock
        self._hash = hashlib.sha256()
        self.keep = keep
        self.entries: list[tuple[int, int, str, str]] = []
        self.count = 0

    def add(self, incarnation: int, kind: str, detail: str) -> None:
        now = self._clock.now_ns  # type: ignore[attr-defined]
        self._hash.update(f"{now}|{incarnation}|{kind}|{detail}\n".encode())
        self.count += 1
        if self.keep:
            self.entries.append((now, incarnation, kind, detail))

    def store(self, incarnation: int, site: str, detail: str) -> None:
        self.add(incarnation, "store", f"{site} {detail}")

    def event(self, incarnation: int, env: EventEnvelope) -> None:
        self.add(incarnation, "event", f"{str(env.run_id)[:8]}#{env.seq} {describe_event(env)}")

    def fault(self, fault: Fault) -> None:
        self.add(
            fault.incarnation,
            "fault",
            f"step={fault.step} {fault.kind.value} at {fault.site} arg={fault.arg}",
        )

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()


def format_entry(entry: tuple[int, int, str, str]) -> str:
    ns, inc, kind, detail = entry
    return f"{ns / 1e9:12.3f}s  i{inc:<2} {kind:<8} {detail}"
