"""An operator mistake of the generated workload: the resume of a run another tool recorded,
whose log holds a `fact_recorded` record the engine must refuse as malformed.

ENGINE.md, "Facts" and "Later checks": `FactIndex.from_event_stream` reads every
`fact_recorded` record; one that is malformed is `fact_recorded_malformed`, a `StorageError`
CORRUPTION, with details `{"seq": N}`. A record is well formed when its payload is an object
`{key, payload_id, meta}` with a string key and an artifact id (ENGINE.md, "Events" and "Ids
and values"); so a payload that is no object at all (a list, a string, a number, null), or an
object whose key is not a string or whose payload id is no artifact id, is malformed. Resume
rebuilds the facts before it writes anything, so the refusal leaves the stores as they were
(judged with every operator mistake by `mfm_sim.invariants.operator_calls`; an
`AttributeError` or any other untyped escape is a violation there).
"""

from __future__ import annotations

import uuid
from typing import Any

from mfm_engine.config import RunManifest
from mfm_engine.events import FACT_RECORDED, DomainEvent

from mfm_sim.invariants.spec.canonical import canonical_bytes
from mfm_sim.run.operator import OperatorCall
from mfm_sim.world.rng import Rng

__all__ = ["MALFORMED_FACT", "MALFORMED_ODDS", "MALFORMED_PAYLOADS", "draw_malformed_fact"]

MALFORMED_FACT = "recorded_fact_malformed"
MALFORMED_ODDS = 0.3  # a seed's chance of the mistake
# The run that tool recorded: an id no run of the engine's id streams has.
MALFORMED_RUN = uuid.UUID("00000000-0000-4000-8000-0000000fac70")
_ID = "a" * 64  # a well-formed artifact id
# `fact_recorded` payloads that are not `{key: str, payload_id: artifact id, ...}`.
MALFORMED_PAYLOADS: tuple[Any, ...] = (
    ["k", _ID],
    "k",
    7,
    None,
    {"key": 7, "payload_id": _ID, "meta": {}},
    {"key": None, "payload_id": _ID, "meta": {}},
    {"key": "k", "payload_id": "not an id", "meta": {}},
    {"payload_id": _ID, "meta": {}},
)


def draw_malformed_fact(
    rng: Rng, manifest: RunManifest
) -> tuple[tuple[OperatorCall, ...], dict[str, tuple[str, str | None]]]:
    """With `MALFORMED_ODDS`, the resume of a log whose `RunStarted` names `manifest` (stored
    canonically) and whose next record is a malformed `fact_recorded`; and its refusal."""
    if not rng.chance(MALFORMED_ODDS):
        return (), {}
    payload = rng.choice(MALFORMED_PAYLOADS)
    call = OperatorCall(
        MALFORMED_FACT,
        "resume",
        run_id=MALFORMED_RUN,
        recorded_manifest=canonical_bytes(manifest.to_json()),
        recorded_events=(DomainEvent(FACT_RECORDED, payload),),
    )
    return (call,), {MALFORMED_FACT: ("storage", "fact_recorded_malformed")}
