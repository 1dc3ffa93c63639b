"""What a lying event store returns for a read of a run's whole stream (the lying-log kinds).

Each lie is one the engine can and must refuse from the stream alone (ENGINE.md: a stream's
seqs run 1, 2, 3... without gap or repeat, every record is the run's own, a fact key is bound
once): a repeated seq, a skipped seq, seqs out of order, another run's id, a fact key bound
to two payloads. The durable log is never touched; only what the read returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import attrs
from mfm_engine.events import FACT_RECORDED, DomainEvent, EventEnvelope

from mfm_sim.faults.history_rewrites import rewrite
from mfm_sim.faults.kinds import FaultKind

__all__ = ["lie", "other_payload_id", "other_run_id"]

K = FaultKind

LIE_KEY = "sim.lying_log"  # the key of a made-up binding, when the stream has no fact


def _fact_positions(stream: Sequence[EventEnvelope]) -> list[int]:
    return [
        i
        for i, env in enumerate(stream)
        if isinstance(env.event, DomainEvent)
        and env.event.name == FACT_RECORDED
        and isinstance(env.event.payload, dict)
    ]


def other_payload_id(payload_id: object) -> str:
    """Another well-formed artifact id (64 hex digits) than `payload_id`."""
    text = payload_id if isinstance(payload_id, str) and len(payload_id) == 64 else "0" * 64
    return ("1" if text[0] != "1" else "2") + text[1:]


def other_run_id(run_id: uuid.UUID) -> uuid.UUID:
    """A run id that is not `run_id` (its lowest bit flipped)."""
    return uuid.UUID(int=run_id.int ^ 1)


def _conflicting(stream: list[EventEnvelope], arg: int) -> list[EventEnvelope]:
    """A fact record appended after the last: an already bound key, another payload."""
    last = stream[-1]
    facts = _fact_positions(stream)
    if facts:
        source = stream[facts[arg % len(facts)]]
        event = source.event
        assert isinstance(event, DomainEvent)
        payload = dict(event.payload)
        payload["payload_id"] = other_payload_id(payload.get("payload_id"))
        lied = attrs.evolve(event, payload=payload)
        return [*stream, attrs.evolve(last, seq=last.seq + 1, event=lied)]
    # No fact to contradict: two made-up records bind one key to two payloads.
    first = other_payload_id(None)
    made_up = [
        attrs.evolve(
            last,
            seq=last.seq + 1 + n,
            event=DomainEvent(FACT_RECORDED, {"key": LIE_KEY, "payload_id": payload_id}),
        )
        for n, payload_id in enumerate((first, other_payload_id(first)))
    ]
    return [*stream, *made_up]


def lie(kind: FaultKind, arg: int, stream: Sequence[EventEnvelope]) -> list[EventEnvelope]:
    """The records a lying store returns for the non-empty whole `stream`, lying as `kind`
    with argument `arg` (a record's position, drawn for the stream's length)."""
    out = list(stream)
    i = min(arg, len(out) - 1)
    if kind is K.LIE_DUPLICATE_FACT:
        facts = _fact_positions(out)
        at = facts[arg % len(facts)] if facts else i
        out.insert(at + 1, out[at])  # the same record twice: a seq repeats
    elif kind is K.LIE_CONFLICTING_FACT:
        out = _conflicting(out, arg)
    elif kind is K.LIE_SEQ_GAP:
        if i < len(out) - 1:
            del out[i]  # a record missing: the next one's seq skips
        else:
            out[i] = attrs.evolve(out[i], seq=out[i].seq + 1)
    elif kind is K.LIE_REORDERED_RANGE:
        j = max(1, i)
        out[j - 1], out[j] = out[j], out[j - 1]
    elif kind is K.LIE_FOREIGN_RECORD:
        out[i] = attrs.evolve(out[i], run_id=other_run_id(out[i].run_id))
    elif kind is K.LIE_REWRITTEN_HISTORY:
        out = rewrite(arg, out)
    else:
        raise ValueError(f"{kind.value} is not a lie about the log")
    return out
