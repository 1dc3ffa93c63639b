"""Facts as ENGINE.md ("Facts: live IO and replay") records them: the derived keys of
`now_millis` and `random_bytes`, and how `fact_recorded` events bind keys to payloads (first
binding per key; a malformed or conflicting record is an error)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping

import attrs
from mfm_engine.events import FACT_RECORDED, DomainEvent, EventEnvelope

__all__ = [
    "DERIVED_KINDS",
    "Bindings",
    "DerivedKey",
    "bind",
    "derived_key",
    "is_artifact_id",
    "parse_derived_key",
]

DERIVED_KINDS: tuple[str, ...] = ("now_millis", "random_bytes")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DERIVED = re.compile(
    r"mfm:(now_millis|random_bytes)\|run:([^|]+)\|state:([^|]+)\|attempt:(0|[1-9][0-9]*)"
    r"\|ord:(0|[1-9][0-9]*)"
)


@attrs.frozen
class DerivedKey:
    """The parts of a derived fact key; `ordinal` counts from 0 per attempt, shared by kinds."""

    kind: str
    run_id: str
    state_id: str
    attempt: int
    ordinal: int


def derived_key(kind: str, run_id: uuid.UUID, state_id: str, attempt: int, ordinal: int) -> str:
    """`mfm:{kind}|run:{run_id}|state:{state_id}|attempt:{n}|ord:{k}`."""
    return f"mfm:{kind}|run:{run_id}|state:{state_id}|attempt:{attempt}|ord:{ordinal}"


def parse_derived_key(key: str) -> DerivedKey | None:
    """The parts of a derived key, or None for any other key (a handler's own)."""
    m = _DERIVED.fullmatch(key)
    if m is None:
        return None
    return DerivedKey(m[1], m[2], m[3], int(m[4]), int(m[5]))


def is_artifact_id(value: object) -> bool:
    """Lowercase hex SHA-256, 64 characters, nothing else."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


@attrs.frozen
class Bindings:
    """What a stream's fact records bind. `problem` is the first refusal a reader owes:
    ("fact_recorded_malformed", seq) or ("fact_recorded_conflict", seq), else None; the
    bindings are those made before it."""

    bound: Mapping[str, str]  # key -> payload id, the first binding
    seqs: Mapping[str, int]  # key -> seq of the record that bound it
    problem: tuple[str, int] | None


def bind(stream: Iterable[EventEnvelope]) -> Bindings:
    """Read `fact_recorded` records in seq order: a record binds its key unless bound; the
    same payload again is fine, another is a conflict; a record without a string key and an
    artifact-id payload_id is malformed. Other events are ignored."""
    bound: dict[str, str] = {}
    seqs: dict[str, int] = {}
    for env in stream:
        event = env.event
        if not isinstance(event, DomainEvent) or event.name != FACT_RECORDED:
            continue
        payload = event.payload
        key = payload.get("key") if isinstance(payload, Mapping) else None
        payload_id = payload.get("payload_id") if isinstance(payload, Mapping) else None
        if not isinstance(key, str) or not is_artifact_id(payload_id):
            return Bindings(bound, seqs, ("fact_recorded_malformed", env.seq))
        assert isinstance(payload_id, str)
        first = bound.get(key)
        if first is None:
            bound[key] = payload_id
            seqs[key] = env.seq
        elif first != payload_id:
            return Bindings(bound, seqs, ("fact_recorded_conflict", env.seq))
    return Bindings(bound, seqs, None)
