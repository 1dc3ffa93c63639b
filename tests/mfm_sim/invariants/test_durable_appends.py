"""durable_appends: what a store acknowledged stays in the durable log, unless the disk lied."""

from __future__ import annotations

import attrs
import pytest
from mfm_engine.events import DomainEvent

from mfm_sim.faults import kinds
from mfm_sim.faults.kinds import FaultClass, FaultKind
from mfm_sim.invariants.durable_appends import check_durable_appends, lies_about_durable_log
from mfm_sim.run.observation import StoreAppend
from tests.mfm_sim.invariants.support import fired, stream
from tests.mfm_sim.logs import RUN_ID, clean_builder, clean_observation, with_stream


def test_a_clean_observation_passes() -> None:
    assert check_durable_appends(clean_observation()) == []


def test_acknowledged_events_missing_from_the_durable_log_fire() -> None:
    obs = clean_observation()
    full = stream(obs)
    (v,) = fired(with_stream(obs, full[:-2]), "durable_appends")
    last = len(full)
    assert v.run_id == str(RUN_ID)
    assert v.seqs == (last - 1, last)
    assert f"acknowledged appends of seqs {last - 1}..{last} are gone" in v.message
    assert f"it ends at seq {last - 2}" in v.message


def test_an_acknowledged_batch_read_back_as_other_events_fires() -> None:
    obs = clean_observation()
    envs = stream(obs)
    first = obs.incarnations[0]
    batch = (first.number, 1, "main", RUN_ID, (envs[0], envs[1]))
    incs = (attrs.evolve(first, appends=(batch,)), *obs.incarnations[1:])
    assert check_durable_appends(attrs.evolve(obs, incarnations=incs)) == []
    other = attrs.evolve(envs[1], event=DomainEvent("something_else", {}, None))
    changed = with_stream(attrs.evolve(obs, incarnations=incs), [envs[0], other, *envs[2:]])
    (v,) = fired(changed, "durable_appends")
    assert v.seqs == (2,)
    assert "holds other events at seqs 2" in v.message


def test_no_lie_of_todays_kinds_touches_the_durable_log() -> None:
    # The lying log lies in reads only; dropped and corrupted writes are artifacts'.
    assert not any(lies_about_durable_log(k) for k in FaultKind)


def test_a_lying_disk_excuses_the_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk's lie (here: a lying kind whose site is the disk) makes the loss the disk's."""
    disk_lie = attrs.evolve(
        kinds.FAULTS[FaultKind.DROPPED_WRITE], sites=("disk.sync",), fault_class=FaultClass.LYING
    )
    monkeypatch.setitem(kinds.FAULTS, FaultKind.DROPPED_WRITE, disk_lie)
    b = clean_builder()
    b.fault(FaultKind.DROPPED_WRITE, site="disk.sync")
    obs = b.observation()
    truncated = with_stream(obs, stream(obs)[:-2])
    assert lies_about_durable_log(FaultKind.DROPPED_WRITE)
    assert check_durable_appends(truncated) == []


def _with_attempt(obs, envelopes, returned: bool = False):
    """`obs` with one append a real store was asked for, and no acknowledged append left to
    judge (those are the other half's)."""
    incs = tuple(attrs.evolve(inc, appended=()) for inc in obs.incarnations)
    attempt = StoreAppend(RUN_ID, tuple(envelopes), returned)
    return attrs.evolve(obs, incarnations=incs, store_appends=(attempt,))


def test_an_unreturned_append_left_whole_or_not_at_all_passes() -> None:
    obs = clean_observation()
    envs = stream(obs)
    assert check_durable_appends(_with_attempt(obs, envs[2:4])) == []  # all of it landed
    gone = with_stream(obs, envs[:2])
    assert check_durable_appends(_with_attempt(gone, envs[2:4])) == []  # none of it
    # Another attempt at the same seqs (another incarnation: other timestamps) landed.
    other = [attrs.evolve(e, ts_millis=(e.ts_millis or 0) + 1000) for e in envs[2:4]]
    assert check_durable_appends(_with_attempt(obs, other)) == []


def test_half_of_an_unreturned_append_in_the_log_fires() -> None:
    obs = clean_observation()
    envs = stream(obs)
    half = with_stream(obs, envs[:3])
    (v,) = fired(_with_attempt(half, envs[2:4]), "durable_appends")
    assert v.seqs == (3,)
    assert "an append of seqs 3..4 that never returned left only seqs 3" in v.message
    # A returned append is judged by the acknowledged-appends half instead.
    assert check_durable_appends(_with_attempt(half, envs[2:4], returned=True)) == []
