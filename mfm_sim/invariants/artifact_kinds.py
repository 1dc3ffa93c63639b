"""Promise: a snapshot is stored as a CONTEXT_SNAPSHOT, a fact payload as a FACT_PAYLOAD, a
manifest as a MANIFEST (ENGINE.md, "One attempt" 5: "store it as a canonical CONTEXT_SNAPSHOT";
"Facts": "stored as FACT_PAYLOAD"; "Child runs": the child's manifest "is stored canonically",
and a manifest's kind is MANIFEST, as the operator stores the main run's).

The durable store records the kind each artifact id was first put with
(`Observation.artifact_kinds`; empty for a store that keeps none). Every snapshot id the log
names (a run's initial snapshot, a completed state's, a failure's, the final one) must have been
put as `context_snapshot`, every payload id a `fact_recorded` names as `fact_payload`, and every
manifest id a `RunStarted` names (a child's, which the engine stores) as `manifest`. The
store is content-addressed and keeps the first put's kind, so the same bytes put as another of
the engine's JSON kinds first (a payload that is also a snapshot's JSON, possibly put by a
recording that was rolled back and so named nowhere) may carry that kind: a JSON kind of
ENGINE.md's (`manifest`, `context_snapshot`, `fact_payload`) other than the one wanted is
accepted, anything else (none, `output`, `other`) is not. An id put by no one the store saw
(a recorded log the harness wrote straight into it) is not judged.
"""

from __future__ import annotations

from collections.abc import Mapping

from mfm_sim.invariants.derive import COMPLETED, FACT, FAILED, FINISHED, STARTED, Out, derive
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "MANIFEST", "PAYLOAD", "SNAPSHOT", "check_artifact_kinds"]

SNAPSHOT = "context_snapshot"
PAYLOAD = "fact_payload"
MANIFEST = "manifest"
_JSON_KINDS = frozenset({SNAPSHOT, PAYLOAD, MANIFEST})


def _named(obs: Observation) -> dict[str, tuple[set[str], int, object]]:
    """id -> (the kinds ENGINE.md gives it, the seq of its first naming, its run id)."""
    named: dict[str, tuple[set[str], int, object]] = {}

    def named_as(artifact_id: object, kind: str, seq: int, run_id: object) -> None:
        if isinstance(artifact_id, str):
            named.setdefault(artifact_id, (set(), seq, run_id))[0].add(kind)

    # Each run's stream as `derive` classified it, in the mapping's order.
    for run_id, log in derive(obs).by_key:
        for code, env, event in log.rows:
            if code == STARTED:
                named_as(event.initial_snapshot_id, SNAPSHOT, env.seq, run_id)
                artifact_id, kind = event.manifest_id, MANIFEST
            elif code == COMPLETED:
                artifact_id, kind = event.context_snapshot_id, SNAPSHOT
            elif code == FAILED:
                artifact_id, kind = event.failure_snapshot_id, SNAPSHOT
            elif code == FINISHED:
                artifact_id, kind = event.final_snapshot_id, SNAPSHOT
            elif code == FACT and isinstance(event.payload, Mapping):
                artifact_id, kind = event.payload.get("payload_id"), PAYLOAD
            else:
                continue
            named_as(artifact_id, kind, env.seq, run_id)
    return named


def check_artifact_kinds(obs: Observation) -> list[Violation]:
    """Each snapshot and fact payload the log names was put with its kind."""
    out = Out(INVARIANT.name, obs)
    kinds = obs.artifact_kinds
    if not kinds:
        return out.items
    for artifact_id, (wanted, seq, run_id) in _named(obs).items():
        got = kinds.get(artifact_id)
        if got is None or got in wanted or got in _JSON_KINDS:
            continue
        out.add(
            run_id,  # type: ignore[arg-type]
            (seq,),
            f"artifact {artifact_id[:12]} is named as {' or '.join(sorted(wanted))} but was "
            f"stored as {got}",
        )
    return out.items


INVARIANT = Invariant(
    "artifact_kinds",
    None,
    "a snapshot is stored as a CONTEXT_SNAPSHOT, a fact payload as a FACT_PAYLOAD, a manifest as "
    "a MANIFEST",
    check_artifact_kinds,
)
