"""The ordered trace of a schedule and its SHA-256 digest, built incrementally."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

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


def _entered(e: StateEntered) -> str:
    return f"StateEntered {e.state_id} attempt={e.attempt} base={e.base_snapshot_id[:8]}"


def _completed(e: StateCompleted) -> str:
    return f"StateCompleted {e.state_id} snapshot={e.context_snapshot_id[:8]}"


def _failed(e: StateFailed) -> str:
    return f"StateFailed {e.state_id} {e.error.code} retryable={e.error.retryable}"


def _run_completed(e: RunCompleted) -> str:
    return f"RunCompleted {e.status.value} final={(e.final_snapshot_id or '-')[:8]}"


def _run_started(e: RunStarted) -> str:
    return f"RunStarted {e.op_id} manifest={e.manifest_id[:8]} initial={e.initial_snapshot_id[:8]}"


def _domain(e: DomainEvent) -> str:
    if isinstance(e.payload, dict) and "key" in e.payload:
        return f"{e.name} {e.payload['key']}"
    return e.name


# Dispatch on the exact type: this runs for every appended event of every schedule.
_DESCRIBE: dict[type, Callable[[Any], str]] = {
    StateEntered: _entered,
    StateCompleted: _completed,
    StateFailed: _failed,
    RunCompleted: _run_completed,
    RunStarted: _run_started,
    DomainEvent: _domain,
}


def describe_event(env: EventEnvelope) -> str:
    e = env.event
    describe = _DESCRIBE.get(type(e))
    if describe is None:  # a subclass: fall back to the isinstance order
        describe = next(f for t, f in _DESCRIBE.items() if isinstance(e, t))
    return describe(e)


# Lines are hashed in batches: one sha256 update per line would cost more than the line.
_FLUSH_AT = 256


class Trace:
    """Entries are (virtual ns, incarnation, kind, detail). Kept only when asked; hashed always.

    The digest is the SHA-256 of every line ``"{ns}|{incarnation}|{kind}|{detail}\n"`` in
    order; lines are buffered and hashed together, which gives the same digest.
    """

    __slots__ = ("_clock", "_hash", "_lines", "_run_prefix", "count", "entries", "keep")

    def __init__(self, clock: object, *, keep: bool = True) -> None:
        self._clock = clock
        self._hash = hashlib.sha256()
        self._lines: list[str] = []
        self._run_prefix: dict[uuid.UUID, str] = {}
        self.keep = keep
        self.entries: list[tuple[int, int, str, str]] = []
        self.count = 0

    def add(self, incarnation: int, kind: str, detail: str) -> None:
        now = self._clock.now_ns  # type: ignore[attr-defined]
        lines = self._lines
        lines.append(f"{now}|{incarnation}|{kind}|{detail}\n")
        if len(lines) >= _FLUSH_AT:
            self._flush()
        self.count += 1
        if self.keep:
            self.entries.append((now, incarnation, kind, detail))

    def _flush(self) -> None:
        self._hash.update("".join(self._lines).encode())
        self._lines.clear()

    def store(self, incarnation: int, site: str, detail: str) -> None:
        self.add(incarnation, "store", f"{site} {detail}")

    def event(self, incarnation: int, env: EventEnvelope) -> None:
        run_id = env.run_id
        prefix = self._run_prefix.get(run_id)
        if prefix is None:
            prefix = self._run_prefix[run_id] = str(run_id)[:8]
        self.add(incarnation, "event", f"{prefix}#{env.seq} {describe_event(env)}")

    def fault(self, fault: Fault) -> None:
        self.add(
            fault.incarnation,
            "fault",
            f"step={fault.step} {fault.kind.value} at {fault.site} arg={fault.arg}",
        )

    @property
    def digest(self) -> str:
        if self._lines:
            self._flush()
        return self._hash.hexdigest()


def format_entry(entry: tuple[int, int, str, str]) -> str:
    ns, inc, kind, detail = entry
    return f"{ns / 1e9:12.3f}s  i{inc:<2} {kind:<8} {detail}"
