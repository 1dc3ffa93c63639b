"""The ordered trace of a schedule and its SHA-256 digest, built incrementally."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from mfm_engine.events import (
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    StateCompleted,
    StateEntered,
    StateFailed,
)

from mfm_sim.faults.kinds import Fault
from mfm_sim.world.clock import VirtualClock

__all__ = [
    "Trace",
    "describe_event",
    "format_entry",
]


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


def _payload_key(e: DomainEvent) -> str:
    """What a domain event's line shows after its name: " <payload key>", or nothing."""
    if isinstance(e.payload, dict) and "key" in e.payload:
        return f" {e.payload['key']}"
    return ""


def _domain(e: DomainEvent) -> str:
    return f"{e.name}{_payload_key(e)}"


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


# A record is (ns, incarnation, kind, detail): detail is the text, or what it is made from,
# formatted only when a line is needed: an append call's envelopes (kind "event", one line
# each) or (line function, *args).
_Record = tuple[int, int, str, object]

# Beyond this many pending records they are formatted and hashed, so a very long schedule
# holds a bounded backlog (a typical one has a few dozen and never formats them at all).
_BACKLOG = 4096


def _artifact_line(site: str, artifact_id: str) -> str:
    return f"{site} {artifact_id[:12]}"


def _fault_detail(fault: Fault) -> str:
    return f"step={fault.step} {fault.kind.value} at {fault.site} arg={fault.arg}"


class Trace:
    """Entries are (virtual ns, incarnation, kind, detail). Kept only when asked; hashed always.

    The digest is the SHA-256 of every line ``"{ns}|{incarnation}|{kind}|{detail}\n"`` in
    order. Lines are built lazily: a record keeps the (immutable) envelope or fault, and is
    formatted when the digest or the entries are read, so a sweep that never reads the
    digest of a passing schedule never pays for its text.
    """

    __slots__ = (
        "_clock",
        "_entries",
        "_extra",
        "_final",
        "_hash",
        "_lines",
        "_pending",
        "_run_prefix",
        "keep",
    )

    def __init__(self, clock: VirtualClock, *, keep: bool = True) -> None:
        self._clock = clock
        self._hash: Any = hashlib.sha256()
        self._final: str | None = None  # the digest of an unpickled (read-only) trace
        self._pending: list[_Record] = []
        self._lines = 0  # lines settled so far
        # Lines the pending records hold beyond one each (an append call's record holds one
        # line per event), so `count` needs no walk over them.
        self._extra = 0
        self._entries: list[tuple[int, int, str, str]] = []
        self._run_prefix: dict[uuid.UUID, str] = {}
        self.keep = keep

    # The record methods run for every store call of every schedule, so each appends its
    # record itself, and reads the clock's slot rather than its property (one call less).

    def add(self, incarnation: int, kind: str, detail: str) -> None:
        pending = self._pending
        pending.append((self._clock._now_ns, incarnation, kind, detail))
        if len(pending) >= _BACKLOG:
            self._settle()

    def later(self, incarnation: int, kind: str, line: Callable[..., str], *args: object) -> None:
        """A line `line(*args)` builds when the trace is settled (args must not change)."""
        pending = self._pending
        pending.append((self._clock._now_ns, incarnation, kind, (line, *args)))
        if len(pending) >= _BACKLOG:
            self._settle()

    def store(self, incarnation: int, site: str, detail: str) -> None:
        self.add(incarnation, "store", f"{site} {detail}")

    def artifact(self, incarnation: int, site: str, artifact_id: str) -> None:
        """A store line naming an artifact: `store("artifacts.get", id[:12])`, built lazily."""
        pending = self._pending
        line = (_artifact_line, site, artifact_id)
        pending.append((self._clock._now_ns, incarnation, "store", line))
        if len(pending) >= _BACKLOG:
            self._settle()

    def event(self, incarnation: int, env: EventEnvelope) -> None:
        self.events(incarnation, (env,))

    def events(self, incarnation: int, envelopes: tuple[EventEnvelope, ...]) -> None:
        """One append call's events: a single record, one line per event when formatted."""
        for env in envelopes:
            if type(env.event) is DomainEvent:
                # A domain payload is a handler's dict, which it could still change: the one
                # thing its line shows, the payload's key, is taken now, so a line never
                # depends on when the trace is read.
                detail: list[object] = []
                for each in envelopes:
                    ev = each.event
                    detail.append((each, _payload_key(ev)) if type(ev) is DomainEvent else each)
                envelopes = tuple(detail)  # type: ignore[assignment]
                break
        pending = self._pending
        pending.append((self._clock._now_ns, incarnation, "event", envelopes))
        self._extra += len(envelopes) - 1
        if len(pending) >= _BACKLOG:
            self._settle()

    def fault(self, fault: Fault) -> None:
        pending = self._pending
        pending.append((self._clock._now_ns, fault.incarnation, "fault", (_fault_detail, fault)))
        if len(pending) >= _BACKLOG:
            self._settle()

    @property
    def count(self) -> int:
        """How many lines the trace has (settled or not)."""
        return self._lines + len(self._pending) + self._extra

    def _prefix(self, env: EventEnvelope) -> str:
        run_id = env.run_id
        prefix = self._run_prefix.get(run_id)
        if prefix is None:
            prefix = self._run_prefix[run_id] = str(run_id)[:8]
        return f"{prefix}#{env.seq}"

    def _describe(self, env: EventEnvelope) -> str:
        return f"{self._prefix(env)} {describe_event(env)}"

    def _settle(self) -> None:
        """Format the pending records, hash their lines, and keep them if asked."""
        pending = self._pending
        if not pending:
            return
        lines = []
        kept = self._entries if self.keep else None
        for now, incarnation, kind, detail in pending:
            if type(detail) is not str:
                if kind == "event":  # one append call's events
                    for env in detail:  # type: ignore[attr-defined]
                        if type(env) is tuple:  # a domain event and its payload key as appended
                            env, key = env
                            text = f"{self._prefix(env)} {env.event.name}{key}"
                        else:
                            text = self._describe(env)
                        lines.append(f"{now}|{incarnation}|event|{text}\n")
                        if kept is not None:
                            kept.append((now, incarnation, kind, text))
                    continue
                detail = detail[0](*detail[1:])  # type: ignore[index]  # (line, *args)
            lines.append(f"{now}|{incarnation}|{kind}|{detail}\n")
            if kept is not None:
                kept.append((now, incarnation, kind, detail))
        self._hash.update("".join(lines).encode())
        self._lines += len(lines)
        pending.clear()
        self._extra = 0

    def __getstate__(self) -> dict[str, object]:
        # Pickled (a failing schedule leaving a worker process) as its digest and text: a
        # hash object cannot be pickled, and an unpickled trace is only ever read.
        return {"digest": self.digest, "entries": self.entries, "count": self.count}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._clock = None
        self._hash = None
        self._pending = []
        self._entries = state["entries"]  # type: ignore[assignment]
        self._run_prefix = {}
        self._final = state["digest"]  # type: ignore[assignment]
        self._lines = state["count"]  # type: ignore[assignment]
        self._extra = 0
        self.keep = bool(self._entries)

    @property
    def entries(self) -> list[tuple[int, int, str, str]]:
        self._settle()
        return self._entries

    @property
    def digest(self) -> str:
        if self._final is not None:
            return self._final
        self._settle()
        return str(self._hash.hexdigest())


def format_entry(entry: tuple[int, int, str, str]) -> str:
    ns, inc, kind, detail = entry
    return f"{ns / 1e9:12.3f}s  i{inc:<2} {kind:<8} {detail}"
