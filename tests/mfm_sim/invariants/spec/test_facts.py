"""`spec.facts` agrees with the engine's derived keys and FactIndex on random streams."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.errors import StorageError
from mfm_engine.events import FACT_RECORDED, DomainEvent, EventEnvelope
from mfm_engine.live_io import FactIndex, derived_fact_key

from mfm_sim.invariants.spec.facts import DerivedKey, bind, derived_key, parse_derived_key

RUN = uuid.UUID(int=7)
_IDS = st.sampled_from(["a" * 64, "b" * 64, "A" * 64, "a" * 63, 5])
_KEYS = st.one_of(st.sampled_from(["k", "j", "mfm:now_millis|x"]), st.integers())


def _record(key: Any, payload_id: Any, shape: int) -> Any:
    if shape == 0:
        return {"key": key, "payload_id": payload_id, "meta": {}}
    if shape == 1:
        return {"key": key}
    return [key, payload_id]


@st.composite
def fact_streams(draw: st.DrawFn) -> list[EventEnvelope]:
    rows = draw(
        st.lists(
            st.tuples(_KEYS, _IDS, st.sampled_from([0, 0, 0, 0, 1, 2]), st.booleans()),
            max_size=8,
        )
    )
    out = []
    for seq, (key, pid, shape, other) in enumerate(rows, start=1):
        name = "op_boundary" if other else FACT_RECORDED
        out.append(EventEnvelope(RUN, seq, DomainEvent(name, _record(key, pid, shape))))
    return out


@settings(max_examples=400, deadline=None)
@given(fact_streams())
def test_bind_agrees_with_the_engine_fact_index(stream: list[EventEnvelope]) -> None:
    ours = bind(stream)
    try:
        index = FactIndex.from_event_stream(stream)
    except StorageError as exc:
        assert ours.problem is not None
        assert (ours.problem[0], ours.problem[1]) == (exc.info.code, exc.info.details["seq"])
    else:
        assert ours.problem is None
        keys = index.keys()
        assert dict(ours.bound) == {k: index.get(k) for k in keys}


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["now_millis", "random_bytes"]),
    st.uuids(),
    st.sampled_from(["m.a.run", "m.b_2.x"]),
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=0, max_value=1000),
)
def test_derived_keys_agree_with_the_engine(
    kind: str, run: uuid.UUID, state: str, attempt: int, ordinal: int
) -> None:
    key = derived_key(kind, run, state, attempt, ordinal)
    assert key == derived_fact_key(kind, run, state, attempt, ordinal)
    assert parse_derived_key(key) == DerivedKey(kind, str(run), state, attempt, ordinal)


def test_other_keys_are_not_derived() -> None:
    for key in ("k", "mfm:other|run:r|state:s|attempt:0|ord:0", "mfm:now_millis|run:r"):
        assert parse_derived_key(key) is None


def test_first_binding_wins_and_a_repeat_is_fine() -> None:
    def env(seq: int, key: str, pid: str) -> EventEnvelope:
        payload = {"key": key, "payload_id": pid, "meta": {}}
        return EventEnvelope(RUN, seq, DomainEvent(FACT_RECORDED, payload))

    same = bind([env(1, "k", "a" * 64), env(2, "k", "a" * 64)])
    assert (dict(same.bound), dict(same.seqs), same.problem) == ({"k": "a" * 64}, {"k": 1}, None)
    assert bind([env(1, "k", "a" * 64), env(2, "k", "b" * 64)]).problem == (
        "fact_recorded_conflict",
        2,
    )
    assert bind([env(3, "k", "a" * 63)]).problem == ("fact_recorded_malformed", 3)
