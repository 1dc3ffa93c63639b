"""Invariant 1, log well-formed: each broken log trips it."""

from __future__ import annotations

import attrs

from tests.mfm_sim.invariants.support import fired, seqs_of, stream
from tests.mfm_sim.logs import (
    CHILD_ID,
    RUN_ID,
    clean_observation,
    renumber,
    with_stream,
)

# ------------------------------------------------------------------- 1 log_well_formed


def test_log_well_formed_gap_in_seqs():
    obs = clean_observation()
    envs = [e for e in stream(obs) if e.seq != 5]
    found = fired(with_stream(obs, envs), "log_well_formed")
    assert seqs_of(found) == [(4, 6)]
    assert "missing" in found[0].message


def test_log_well_formed_seqs_not_from_one_or_not_increasing():
    obs = clean_observation()
    shifted = [attrs.evolve(e, seq=e.seq + 1) for e in stream(obs)]
    assert seqs_of(fired(with_stream(obs, shifted), "log_well_formed")) == [(2,)]
    envs = stream(obs)
    envs.insert(3, envs[2])  # seq 3 twice
    assert seqs_of(fired(with_stream(obs, envs), "log_well_formed")) == [(3,)]


def test_log_well_formed_run_started_not_first():
    obs = clean_observation()
    envs = stream(obs)
    envs[0], envs[1] = attrs.evolve(envs[1], seq=1), attrs.evolve(envs[0], seq=2)
    found = fired(with_stream(obs, envs), "log_well_formed")
    assert seqs_of(found) == [(1, 2)]
    assert "not RunStarted" in found[0].message


def test_log_well_formed_two_run_started():
    obs = clean_observation()
    envs = stream(obs)
    envs.insert(1, envs[0])
    found = fired(with_stream(obs, renumber(envs)), "log_well_formed")
    assert seqs_of(found) == [(1, 2)]


def test_log_well_formed_foreign_run_id():
    obs = clean_observation()
    envs = stream(obs)
    envs[2] = attrs.evolve(envs[2], run_id=CHILD_ID)
    found = fired(with_stream(obs, envs), "log_well_formed")
    assert seqs_of(found) == [(3,)]
    assert found[0].run_id == str(RUN_ID)
