"""mfm_sim.faults.appends: one record per append call, per-event indexes built when read."""

from __future__ import annotations

import pickle
import uuid

import attrs
import pytest
from mfm_engine.events import EventEnvelope, StateEntered

from mfm_sim.faults.appends import Batch, SeqIndex, appended_events
from mfm_sim.run.observation import Incarnation, Outcome

RUN = uuid.UUID("12345678-0000-4000-8000-000000000001")
CHILD = uuid.UUID("12345678-0000-4000-8000-000000000002")


def _envs(run_id: uuid.UUID, first: int, count: int) -> tuple[EventEnvelope, ...]:
    return tuple(
        EventEnvelope(run_id, seq, StateEntered("a.b.c", 1, "0" * 64), 0)
        for seq in range(first, first + count)
    )


def test_appended_events_lists_every_event_in_append_order() -> None:
    batches: list[Batch] = [
        (0, 3, "Task-1", RUN, _envs(RUN, 1, 2)),
        (0, 5, "Task-2", CHILD, _envs(CHILD, 1, 1)),
        (1, 9, "Task-1", RUN, _envs(RUN, 3, 1)),
    ]
    assert appended_events(batches) == [(RUN, 1), (RUN, 2), (CHILD, 1), (RUN, 3)]
    assert appended_events([]) == []


def test_indexes_map_each_event_to_its_call() -> None:
    batches: list[Batch] = [(0, 3, "Task-1", RUN, _envs(RUN, 1, 2))]
    steps, tasks = SeqIndex(batches, "step"), SeqIndex(batches, "task")
    assert steps == {(RUN, 1): (0, 3), (RUN, 2): (0, 3)}
    assert tasks == {(RUN, 1): "Task-1", (RUN, 2): "Task-1"}
    assert steps[(RUN, 2)] == (0, 3) and steps.get((RUN, 9)) is None
    assert (RUN, 1) in steps and (RUN, 3) not in steps
    assert len(steps) == 2 and sorted(steps.values()) == [(0, 3), (0, 3)]
    with pytest.raises(KeyError):
        steps[(CHILD, 1)]


def test_an_index_read_early_sees_later_calls() -> None:
    batches: list[Batch] = []
    steps = SeqIndex(batches, "step")
    assert steps == {}
    batches.append((2, 7, "", RUN, _envs(RUN, 1, 1)))
    assert steps == {(RUN, 1): (2, 7)}
    batches.append((3, 8, "", RUN, _envs(RUN, 2, 1)))
    assert steps.get((RUN, 2)) == (3, 8) and len(steps) == 2


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_an_index_pickles_with_its_contents(protocol: int) -> None:
    steps = SeqIndex([(0, 1, "Task-1", RUN, _envs(RUN, 1, 1))], "step")
    assert pickle.loads(pickle.dumps(steps, protocol)) == {(RUN, 1): (0, 1)}


def test_an_index_answers_odd_keys_as_a_dict_would() -> None:
    steps = SeqIndex([(0, 1, "Task-1", RUN, _envs(RUN, 1, 1))], "step")
    for key in (None, (RUN,), (RUN, 1, 2), RUN, "x"):
        assert steps.get(key, "d") == "d"  # type: ignore[arg-type]
        assert key not in steps
        with pytest.raises(KeyError):
            steps[key]  # type: ignore[index]


@pytest.mark.parametrize("what", ["step", "task"])
def test_a_lookup_before_the_index_is_built_answers_as_the_index_does(what: str) -> None:
    # The first lookups scan the batches from the last back; a record appended twice (a
    # rewrite of its seq) is the later call's, in both the scan and the built index.
    batches: list[Batch] = [
        (0, 3, "Task-1", RUN, _envs(RUN, 1, 2)),
        (0, 5, "Task-2", CHILD, _envs(CHILD, 1, 1)),
        (1, 9, "Task-3", RUN, _envs(RUN, 2, 2)),
    ]
    built = dict(SeqIndex(list(batches), what))
    assert built[(RUN, 2)] == ((1, 9) if what == "step" else "Task-3")
    keys = [(run, seq) for run in (RUN, CHILD, uuid.UUID(int=7)) for seq in range(5)]
    fresh = SeqIndex(list(batches), what)
    answers = [fresh.get(key, "none") for key in keys]  # the first few scanned, then built
    assert answers == [built.get(key, "none") for key in keys]
    # An equal run id that is another object, and a seq of another numeric type.
    copy = uuid.UUID(str(RUN))
    assert SeqIndex(list(batches), what).get((copy, 1)) == built[(RUN, 1)]
    assert SeqIndex(list(batches), what).get((RUN, True)) == built[(RUN, 1)]


def test_an_unknown_index_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown index 'seq'"):
        SeqIndex([], "seq")


def test_an_incarnation_derives_appended_from_its_calls_or_takes_it_given() -> None:
    calls: tuple[Batch, ...] = ((0, 3, "Task-1", RUN, _envs(RUN, 1, 2)),)
    derived = Incarnation(0, "start", Outcome.CRASH, appends=calls)
    assert derived.appended == ((RUN, 1), (RUN, 2))
    assert derived.appended is derived.appended  # derived once
    given = Incarnation(0, "start", Outcome.CRASH, appended=((RUN, 5),))
    assert given.appended == ((RUN, 5),) and given.appends == ()
    assert Incarnation(0, "start", Outcome.CRASH).appended == ()
    # Reading `appended` changes nothing that equality sees.
    twin = Incarnation(0, "start", Outcome.CRASH, appends=calls)
    assert derived == twin
    # A given list is compared; a derived one is made afresh by `evolve`.
    assert given != Incarnation(0, "start", Outcome.CRASH, appended=((RUN, 6),))
    later: tuple[Batch, ...] = ((1, 9, "Task-1", RUN, _envs(RUN, 3, 1)),)
    assert attrs.evolve(derived, appends=later).appended == ((RUN, 3),)
