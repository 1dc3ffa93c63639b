"""Invariant 6, hash integrity: missing, lost, corrupt, non-canonical artifacts; checkpoints."""

from __future__ import annotations

import hashlib

import attrs
from mfm_engine.events import (
    DomainEvent,
    RunCompleted,
    RunStatus,
    StateCompleted,
)

from mfm_sim.invariants.hash_integrity import _ArtifactJudge, check_hash_integrity
from tests.mfm_sim.invariants.support import fired, seqs_of, stream
from tests.mfm_sim.logs import (
    S1,
    S2,
    LogBuilder,
    clean_builder,
    clean_observation,
)

# ------------------------------------------------------------------- 6 hash_integrity


def _first_snapshot(obs) -> tuple[str, int]:
    env = next(e for e in stream(obs) if isinstance(e.event, StateCompleted))
    return env.event.context_snapshot_id, env.seq


def test_hash_integrity_missing_artifact():
    obs = clean_observation()
    snap, seq = _first_snapshot(obs)
    pristine = {k: v for k, v in obs.pristine.items() if k != snap}
    found = fired(attrs.evolve(obs, pristine=pristine, artifacts=pristine), "hash_integrity")
    # Cited by S1's StateCompleted, S2's first base and S2's retry base (after the orphan).
    assert seqs_of(found) == [(seq,), (seq + 1,), (9,)]
    assert "does not exist" in found[0].message


def test_hash_integrity_lost_artifacts_are_excused_and_corruption_judged_on_pristine():
    obs = clean_observation()
    snap, _ = _first_snapshot(obs)
    pristine = {k: v for k, v in obs.pristine.items() if k != snap}
    lost = attrs.evolve(
        obs, pristine=pristine, artifacts=pristine, lost_artifacts=frozenset({snap})
    )
    assert check_hash_integrity(lost) == []
    visible = dict(obs.artifacts)
    visible[snap] = b"\x01" + visible[snap][1:]
    corrupted = attrs.evolve(obs, artifacts=visible, corrupted_artifacts=frozenset({snap}))
    assert check_hash_integrity(corrupted) == []


def test_hash_integrity_bytes_that_do_not_hash_to_their_id():
    obs = clean_observation()
    snap, seq = _first_snapshot(obs)
    pristine = dict(obs.pristine)
    pristine[snap] = b'{"path":["tampered"]}'
    found = fired(attrs.evolve(obs, pristine=pristine), "hash_integrity")
    assert seqs_of(found) == [(seq,), (seq + 1,), (9,)]
    assert "hashing to" in found[0].message


def test_hash_integrity_manifest_must_be_canonical():
    b = LogBuilder()
    raw = b'{ "op_id": "demo" }'
    manifest_id = hashlib.sha256(raw).hexdigest()
    b.artifacts[manifest_id] = raw
    b.manifest_id = manifest_id
    seq = b.start()
    found = fired(b.observation(), "hash_integrity")
    assert seqs_of(found) == [(seq,)]
    assert "canonical" in found[0].message


def test_hash_integrity_base_is_the_last_checkpoint():
    b = LogBuilder()
    b.start()
    initial = b.checkpoint
    b.run_state(S1)
    done = len(b.entries)  # S1's StateCompleted: the checkpoint
    stale = b.enter(S2, base=initial)
    b.complete()
    found = fired(b.observation(), "hash_integrity")
    assert seqs_of(found) == [(done, stale)]
    assert "last checkpoint" in found[0].message


def test_hash_integrity_final_snapshot_is_the_last_checkpoint_and_facts_exist():
    b = clean_builder()
    rc = b.entries[-1]
    b.entries[-1] = attrs.evolve(
        rc, event=RunCompleted(RunStatus.COMPLETED, b.entries[0].event.initial_snapshot_id)
    )
    obs = b.observation()
    found = fired(obs, "hash_integrity")
    assert seqs_of(found) == [(12, 13)]
    obs = clean_observation()
    fact = next(e for e in stream(obs) if isinstance(e.event, DomainEvent))
    pristine = {k: v for k, v in obs.pristine.items() if k != fact.event.payload["payload_id"]}
    found = fired(attrs.evolve(obs, pristine=pristine), "hash_integrity")
    assert seqs_of(found) == [(fact.seq,)]
    assert "fact payload" in found[0].message


def test_a_content_addressed_store_is_trusted_for_hashes_but_not_for_existence() -> None:
    # The runner's durable store keys every put by the bytes' own hash, so its observation
    # skips re-hashing; an id missing from it is still reported, and a synthetic log that
    # does not claim content addressing is still verified byte by byte.
    good, bad = b'{"a":1}', b'{"b":2}'
    good_id = hashlib.sha256(good).hexdigest()
    wrong_id = "f" * 64
    pristine = {good_id: good, wrong_id: bad}

    def judge(content_addressed: bool) -> _ArtifactJudge:
        obs = attrs.evolve(
            clean_observation(), pristine=pristine, content_addressed=content_addressed
        )
        return _ArtifactJudge(obs)

    checked, trusted = judge(False), judge(True)
    assert checked.problem(good_id) is None and trusted.problem(good_id) is None
    assert checked.problem(wrong_id) == (
        f"holds bytes hashing to {hashlib.sha256(bad).hexdigest()[:12]}"
    )
    assert trusted.problem(wrong_id) is None
    assert checked.problem("0" * 64) == trusted.problem("0" * 64) == "does not exist"


def test_a_recorded_logs_run_completed_with_no_snapshot_is_its_writers_not_the_engines():
    """A RunCompleted with no final snapshot fires unless a recorded log brought it."""
    b = clean_builder()
    rc = b.entries[-1]
    b.entries[-1] = attrs.evolve(rc, event=RunCompleted(RunStatus.CANCELLED, None))
    obs = b.observation()
    assert seqs_of(fired(obs, "hash_integrity")) == [(12, 13)]
    seeded = frozenset((env.run_id, env.seq) for env in stream(obs))
    assert fired(attrs.evolve(obs, seeded=seeded), "hash_integrity") == []
