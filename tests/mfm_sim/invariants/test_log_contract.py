"""log_contract: integer timestamps, and failures that name a code, a category and a message."""

from __future__ import annotations

import attrs
import pytest
from mfm_engine.errors import ErrorCategory
from mfm_engine.events import FACT_RECORDED, DomainEvent, StateFailed

from mfm_sim.invariants.log_contract import check_log_contract, fact_problem, failure_problems
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import RUN_ID, clean_observation, with_stream


def _failed_seq(obs) -> int:
    return next(e.seq for e in obs.runs[RUN_ID].stream if isinstance(e.event, StateFailed))


def _edit(obs, seq: int, **changes):
    """`obs` with the envelope at `seq` changed: `ts_millis`, or fields of its error."""
    stream = list(obs.runs[RUN_ID].stream)
    env = stream[seq - 1]
    ts = changes.pop("ts_millis", env.ts_millis)
    event = env.event
    if changes:
        event = attrs.evolve(event, error=attrs.evolve(event.error, **changes))
    stream[seq - 1] = attrs.evolve(env, ts_millis=ts, event=event)
    return with_stream(obs, stream)


def test_a_clean_observation_passes():
    assert check_log_contract(clean_observation()) == []


@pytest.mark.parametrize("ts", [None, 1.5, -1, True, "5000"])
def test_a_timestamp_that_is_no_millisecond_count_fires(ts):
    obs = _edit(clean_observation(), 2, ts_millis=ts)
    (v,) = fired(obs, "log_contract")
    assert (v.run_id, v.seqs, v.message) == (str(RUN_ID), (2,), f"seq 2 has timestamp {ts!r}")


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"code": "Flaky"}, "error code 'Flaky' is not lower snake case"),
        ({"code": "flaky-thing"}, "error code 'flaky-thing' is not lower snake case"),
        ({"code": ""}, "error code '' is not lower snake case"),
        ({"category": "RPC"}, "error category 'RPC' is not an ErrorCategory"),
        ({"message": ""}, "error message '' is empty"),
        ({"message": None}, "error message None is empty"),
        (
            {"code": "handler_exception", "message": "boom"},
            "handler_exception message 'boom' does not name the exception",
        ),
        (
            {"code": "handler_exception", "message": "NoneType: None"},
            "handler_exception message 'NoneType: None' does not name the exception",
        ),
    ],
)
def test_a_failure_that_does_not_name_its_error_fires(changes, words):
    obs = clean_observation()
    seq = _failed_seq(obs)
    (v,) = fired(_edit(obs, seq, **changes), "log_contract")
    assert (v.seqs, v.message) == ((seq,), f"seq {seq}: {words}")


def test_a_handler_exception_naming_its_type_passes():
    obs = clean_observation()
    seq = _failed_seq(obs)
    edited = _edit(
        obs, seq, code="handler_exception", category=ErrorCategory.UNKNOWN, message="KeyError: 'k'"
    )
    assert check_log_contract(edited) == []
    assert failure_problems(edited.runs[RUN_ID].stream[seq - 1].event) == []


def test_every_problem_of_one_failure_is_named():
    obs = clean_observation()
    seq = _failed_seq(obs)
    found = fired(_edit(obs, seq, code="X", category=None, message=""), "log_contract")
    assert len(found) == 3 and all(v.seqs == (seq,) for v in found)


def test_it_fires_on_a_real_schedule_with_a_float_timestamp():
    from mfm_sim import get_scenario, simulate

    result = simulate(get_scenario("linear"), 0, keep_trace=False, keep_observation=True)
    obs = result.observation
    assert check_log_contract(obs) == []
    rid = obs.main_run_id
    stream = list(obs.runs[rid].stream)
    stream[0] = attrs.evolve(stream[0], ts_millis=float(stream[0].ts_millis))
    found = check_log_contract(with_stream(obs, stream))
    assert [(v.invariant, v.seqs) for v in found] == [("log_contract", (1,))]


_ID = "a" * 64


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"key": "k", "payload_id": _ID, "XXmetaXX": {}}, "has ['XXmetaXX', 'key', 'payload_id']"),
        ({"key": "k", "payload_id": _ID}, "has ['key', 'payload_id'], not key, meta"),
        ({"key": "k", "payload_id": _ID, "meta": {}, "x": 1}, "not key, meta and payload_id"),
        (["k", _ID], "payload has list"),
        ({"key": 7, "payload_id": _ID, "meta": {}}, "key 7 is not a string"),
        ({"key": "k", "payload_id": "A" * 64, "meta": {}}, "is not an artifact id"),
        ({"key": "k", "payload_id": None, "meta": {}}, "payload_id None is not an artifact id"),
        ({"key": "k", "payload_id": _ID, "meta": {"n": 1}}, "meta {'n': 1} is not an empty"),
        ({"key": "k", "payload_id": _ID, "meta": []}, "meta [] is not an empty object"),
    ],
)
def test_a_fact_record_of_another_shape_is_worded(payload, words):
    problem = fact_problem(payload)
    assert problem is not None and words in problem


def test_the_engine_s_fact_record_shape_passes():
    assert fact_problem({"key": "k", "payload_id": _ID, "meta": {}}) is None


def _with_fact(obs, payload):
    """`obs` (the main run's stream) with a `fact_recorded` carrying `payload` after seq 2."""
    stream = list(obs.runs[obs.main_run_id].stream)
    env = stream[1]
    fact = attrs.evolve(env, seq=3, event=DomainEvent(FACT_RECORDED, payload))
    rest = [attrs.evolve(e, seq=e.seq + 1) for e in stream[2:]]
    return with_stream(obs, [*stream[:2], fact, *rest])


def test_an_engine_fact_record_without_its_meta_fires():
    obs = _with_fact(clean_observation(), {"key": "k", "payload_id": _ID, "META": {}})
    found = fired(obs, "log_contract")
    assert [(v.seqs, v.message) for v in found] == [
        (
            (3,),
            "seq 3: fact_recorded payload has ['META', 'key', 'payload_id'], not key, meta "
            "and payload_id",
        )
    ]
    good = _with_fact(clean_observation(), {"key": "k", "payload_id": _ID, "meta": {}})
    assert check_log_contract(good) == []


def test_a_fact_record_the_operator_brought_is_not_the_engine_s():
    obs = _with_fact(clean_observation(), {"key": "k", "payload_id": _ID})
    assert check_log_contract(obs)
    brought = attrs.evolve(obs, seeded=frozenset({(obs.main_run_id, 3)}))
    assert check_log_contract(brought) == []
