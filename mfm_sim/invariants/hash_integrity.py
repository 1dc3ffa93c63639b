"""Invariant 6, hash integrity: cited artifacts exist and hash to their ids on the bytes as
written; the manifest id is its canonical hash; bases are the last checkpoint."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from mfm_engine.events import EventEnvelope

from mfm_sim.invariants.derive import (
    COMPLETED,
    ENTERED,
    FACT,
    FAILED,
    FINISHED,
    STARTED,
    Out,
    each_run,
    event_kind,
)
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.spec.canonical import artifact_id as hash_of
from mfm_sim.invariants.spec.canonical import decode, json_artifact_id
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_hash_integrity"]


class _ArtifactJudge:
    """Verifies artifact ids against the bytes as written, hashing each id at most once."""

    def __init__(self, obs: Observation) -> None:
        self._obs = obs
        self._verdicts: dict[str, str | None] = {}
        self._manifests: dict[str, str | None] = {}

    def problem(self, artifact_id: str) -> str | None:
        if artifact_id in self._verdicts:
            return self._verdicts[artifact_id]
        obs = self._obs
        verdict: str | None = None
        if artifact_id not in obs.lost_artifacts:  # lost by the store: excused
            data = obs.pristine.get(artifact_id)
            if data is None:
                verdict = "does not exist"
            elif not obs.content_addressed:
                actual = hash_of(data)
                if actual != artifact_id:
                    verdict = f"holds bytes hashing to {actual[:12]}"
        self._verdicts[artifact_id] = verdict
        return verdict

    def manifest_problem(self, manifest_id: str) -> str | None:
        if manifest_id in self._manifests:
            return self._manifests[manifest_id]
        verdict: str | None = None
        data = self._obs.pristine.get(manifest_id)
        # The operator's manifest is canonical by construction: the store keys bytes by their
        # hash, so whatever sits under its id is the bytes the harness encoded.
        trusted = manifest_id in self._obs.operator_manifests
        if data is not None and not trusted and manifest_id not in self._obs.lost_artifacts:
            try:
                canonical = json_artifact_id(decode(data))
            except ValueError as exc:  # not UTF-8 JSON, or NotCanonical
                verdict = f"manifest bytes are not canonical JSON ({type(exc).__name__})"
            else:
                if canonical != manifest_id:
                    verdict = (
                        f"manifest id is not the canonical hash of the manifest ({canonical[:12]})"
                    )
        self._manifests[manifest_id] = verdict
        return verdict


def check_hash_integrity(obs: Observation) -> list[Violation]:
    """Every artifact the log cites exists (unless the store lost it) and hashes to its id on
    the bytes as written; the manifest id is its canonical hash; each StateEntered's base and
    RunCompleted's final snapshot are the last checkpoint."""
    out = Out(INVARIANT.name, obs)
    judge = _ArtifactJudge(obs)

    def cite(rid: uuid.UUID, env: EventEnvelope, what: str, artifact_id: str | None) -> None:
        if artifact_id is None:
            return
        problem = judge.problem(artifact_id)
        if problem is not None:
            out.add(
                rid, (env.seq,), f"{what} {artifact_id[:12]} cited by {event_kind(env)} {problem}"
            )

    # When the store is content-addressed, an id present in it is sound (see _ArtifactJudge);
    # only ids missing from it need the judge.
    sound: Mapping[str, bytes] = obs.pristine if obs.content_addressed else {}
    for log in each_run(obs):
        rid = log.run_id
        checkpoint: str | None = None
        checkpoint_seq: int | None = None
        # Without facts, the rows judged here are all kernel rows (domain events cite nothing).
        for code, env, ev in log.rows if log.has_facts else log.kernel:
            if code == ENTERED:
                base = ev.base_snapshot_id
                if base not in sound:
                    cite(rid, env, "base snapshot", base)
                if checkpoint is not None and base != checkpoint:
                    out.add(
                        rid,
                        (checkpoint_seq, env.seq),
                        f"{ev.state_id} attempt {ev.attempt} starts from "
                        f"{base[:12]}, "
                        f"not the last checkpoint {checkpoint[:12]} (seq {checkpoint_seq})",
                    )
            elif code == COMPLETED:
                checkpoint, checkpoint_seq = ev.context_snapshot_id, env.seq
                if checkpoint not in sound:
                    cite(rid, env, "snapshot", checkpoint)
            elif code == FAILED:
                if ev.failure_snapshot_id not in sound:
                    cite(rid, env, "failure snapshot", ev.failure_snapshot_id)
            elif code == STARTED:
                cite(rid, env, "manifest", ev.manifest_id)
                cite(rid, env, "initial snapshot", ev.initial_snapshot_id)
                problem = judge.manifest_problem(ev.manifest_id)
                if problem is not None:
                    out.add(rid, (env.seq,), problem)
                if checkpoint is None:
                    checkpoint, checkpoint_seq = ev.initial_snapshot_id, env.seq
            elif code == FINISHED:
                if ev.final_snapshot_id not in sound:
                    cite(rid, env, "final snapshot", ev.final_snapshot_id)
                # A recorded log the operator brought may end a run with no final snapshot
                # (the event's id is optional): its writer, not the engine, chose it.
                mine = (rid, env.seq) not in obs.seeded
                if mine and checkpoint is not None and ev.final_snapshot_id != checkpoint:
                    final = (ev.final_snapshot_id or "None")[:12]
                    out.add(
                        rid,
                        (checkpoint_seq, env.seq),
                        f"final snapshot {final} is not the last checkpoint {checkpoint[:12]} "
                        f"(seq {checkpoint_seq})",
                    )
            elif code == FACT:
                payload = ev.payload
                payload_id = payload.get("payload_id") if isinstance(payload, Mapping) else None
                if not isinstance(payload_id, str):
                    out.add(rid, (env.seq,), "fact_recorded without a payload_id")
                elif payload_id not in sound:
                    cite(rid, env, f"fact payload ({payload.get('key')})", payload_id)
    return out.items


INVARIANT = Invariant(
    "hash_integrity",
    6,
    "cited artifacts exist and hash to their ids; bases are the last checkpoint",
    check_hash_integrity,
)
