"""Invariant 15, durability: an acknowledged append survives when the disk honoured its syncs."""

from __future__ import annotations

import attrs
from mfm_engine.events import DomainEvent, EventEnvelope

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.durability import (
    DISK_LIES,
    check_durability,
    disk_lied,
    disk_lost_data,
)
from mfm_sim.invariants.registry import check
from mfm_sim.run.observation import Observation, StoreAppend
from tests.mfm_sim.invariants.support import fired, seqs_of, stream
from tests.mfm_sim.logs import RUN_ID, clean_builder, with_stream

K = FaultKind


def test_a_real_store_that_kept_every_acknowledged_append_passes() -> None:
    obs = clean_builder().observation(durable_store="sqlite")
    assert fired(obs, "durability") == []


def test_an_acknowledged_append_missing_after_a_crash_is_a_violation() -> None:
    obs = clean_builder().observation(durable_store="jsonl")
    kept = stream(obs)[:-3]  # the store lost its last three acknowledged events
    found = fired(with_stream(obs, kept), "durability")
    assert seqs_of(found) == [(len(kept) + 1,), (len(kept) + 2,), (len(kept) + 3,)]
    assert "jsonl store" in found[0].message and "honoured every sync" in found[0].message


def test_a_loss_under_a_lying_disk_is_the_disks_not_the_engines() -> None:
    for kind in (K.DISK_LOST_SYNC, K.DISK_MISDIRECTED_WRITE, K.DISK_BIT_FLIP):
        b = clean_builder()
        b.fault(kind, site="disk.sync" if kind is not K.DISK_MISDIRECTED_WRITE else "disk.write")
        obs = b.observation(durable_store="sqlite")
        assert disk_lied(obs)
        assert check_durability(with_stream(obs, stream(obs)[:-3])) == []
    assert {K.DISK_LOST_SYNC, K.DISK_MISDIRECTED_WRITE, K.DISK_BIT_FLIP} == DISK_LIES


def test_an_honest_disk_fault_excuses_no_loss() -> None:
    b = clean_builder()
    b.fault(K.DISK_CRASH_UNSYNCED, site="disk.sync")
    obs = b.observation(durable_store="sqlite")
    assert not disk_lied(obs)
    assert len(check_durability(with_stream(obs, stream(obs)[:-1]))) == 1


def test_the_memory_store_is_the_model_and_is_not_judged() -> None:
    obs = clean_builder().observation()
    assert obs.durable_store == "memory"
    assert check_durability(with_stream(obs, stream(obs)[:-3])) == []


def test_an_acknowledged_event_that_reads_back_changed_is_a_violation() -> None:
    obs = clean_builder().observation(durable_store="sqlite")
    first = stream(obs)[0]
    acked = attrs.evolve(first, ts_millis=(first.ts_millis or 0) + 1)  # as appended
    start = attrs.evolve(obs.incarnations[0], appends=((0, 1, "", first.run_id, (acked,)),))
    changed = attrs.evolve(obs, incarnations=(start, *obs.incarnations[1:]))
    found = fired(changed, "durability")
    assert seqs_of(found) == [(1,)]
    assert "reads back changed" in found[0].message
    assert fired(attrs.evolve(changed, durable_store="memory"), "durability") == []


def test_when_a_lying_disk_cost_data_the_schedule_is_the_disks() -> None:
    b = clean_builder()
    b.fault(K.DISK_LOST_SYNC, site="disk.sync")
    lied = b.observation(durable_store="sqlite")
    assert not disk_lost_data(lied)  # the lie cost nothing: every invariant judges as usual
    rolled_back = with_stream(lied, stream(lied)[:-3])
    assert disk_lost_data(rolled_back)
    assert check(rolled_back) == []  # no engine can tell a log a lost sync rolled back
    honest = with_stream(clean_builder().observation(durable_store="sqlite"), stream(lied)[:-3])
    assert not disk_lost_data(honest)
    assert {v.invariant for v in check(honest)} >= {"durability"}


def test_an_acknowledged_batch_read_back_as_other_events_fires() -> None:
    obs = clean_builder().observation(durable_store="sqlite")
    envs = stream(obs)
    first = obs.incarnations[0]
    batch = (first.number, 1, "main", RUN_ID, (envs[0], envs[1]))
    incs = (attrs.evolve(first, appends=(batch,)), *obs.incarnations[1:])
    assert check_durability(attrs.evolve(obs, incarnations=incs)) == []
    other = attrs.evolve(envs[1], event=DomainEvent("something_else", {}, None))
    changed = with_stream(attrs.evolve(obs, incarnations=incs), [envs[0], other, *envs[2:]])
    (v,) = fired(changed, "durability")
    assert v.seqs == (2,)
    assert "reads back changed" in v.message


def _with_attempt(obs: Observation, envelopes: list[EventEnvelope], returned: bool = False):
    """`obs` with one append a real store was asked for, and no acknowledged append left to
    judge (those are the other half's)."""
    incs = tuple(attrs.evolve(inc, appended=()) for inc in obs.incarnations)
    attempt = StoreAppend(RUN_ID, tuple(envelopes), returned)
    return attrs.evolve(obs, incarnations=incs, store_appends=(attempt,))


def test_an_unreturned_append_left_whole_or_not_at_all_passes() -> None:
    obs = clean_builder().observation(durable_store="sqlite")
    envs = stream(obs)
    assert check_durability(_with_attempt(obs, envs[2:4])) == []  # all of it landed
    gone = with_stream(obs, envs[:2])
    assert check_durability(_with_attempt(gone, envs[2:4])) == []  # none of it
    # Another attempt at the same seqs (another incarnation: other timestamps) landed.
    other = [attrs.evolve(e, ts_millis=(e.ts_millis or 0) + 1000) for e in envs[2:4]]
    assert check_durability(_with_attempt(obs, other)) == []


def test_half_of_an_unreturned_append_in_the_log_fires() -> None:
    obs = clean_builder().observation(durable_store="sqlite")
    envs = stream(obs)
    half = with_stream(obs, envs[:3])
    (v,) = fired(_with_attempt(half, envs[2:4]), "durability")
    assert v.seqs == (3,)
    assert "an append of seqs 3..4 that never returned left only seqs 3" in v.message
    # A returned append is judged by the acknowledged-appends half instead.
    assert check_durability(_with_attempt(half, envs[2:4], returned=True)) == []
    # The memory stores are the model: nothing of theirs is judged.
    memory = attrs.evolve(_with_attempt(half, envs[2:4]), durable_store="memory")
    assert check_durability(memory) == []


def test_an_acknowledged_seq_appended_again_later_is_a_loss_even_if_the_log_looks_whole() -> None:
    obs = clean_builder().observation(durable_store="jsonl")
    first = obs.incarnations[0]
    last = first.appended[-1]
    again = attrs.evolve(first, number=first.number + 1, appended=(last,), appends=())
    twice = attrs.evolve(obs, incarnations=(first, again))
    (v,) = fired(twice, "durability")
    assert v.seqs == (last[1],)
    assert "was gone from the jsonl store when incarnation" in v.message
    # Under a lying disk the same schedule is the disk's: nothing of it is judged.
    b = clean_builder()
    b.fault(K.DISK_MISDIRECTED_WRITE, site="disk.write")
    lied = b.observation(durable_store="jsonl")
    lied = attrs.evolve(lied, incarnations=(lied.incarnations[0], again))
    assert disk_lost_data(lied) and check(lied) == []
