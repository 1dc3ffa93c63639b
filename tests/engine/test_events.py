"""Events and envelopes: the stable JSON form, its round trip and malformed input."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mfm_engine.errors import ErrorCategory, ErrorInfo, RunError, RunErrorKind
from mfm_engine.events import (
    KERNEL_TYPES,
    PHASE_FOR_STATUS,
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunPhase,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
    envelope_from_json_line,
    envelope_to_json_line,
    event_from_json,
)

RUN = uuid.UUID("6f1c2a4e-0000-4000-8000-000000000001")
SNAP = "ab" * 32

# ------------------------------------------------------------------------ strategies

_ids = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
_state_ids = st.from_regex(
    r"[a-z][a-z0-9_]{0,6}\.[a-z][a-z0-9_]{0,6}\.[a-z][a-z0-9_]{0,6}", fullmatch=True
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=12,
)
_error_infos = st.builds(
    ErrorInfo,
    code=st.text(min_size=1, max_size=12),
    category=st.sampled_from(ErrorCategory),
    retryable=st.booleans(),
    message=st.text(max_size=20),
    details=st.none() | _json,
)
_events = st.one_of(
    st.builds(RunStarted, st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), _ids, _ids),
    st.builds(StateEntered, _state_ids, st.integers(min_value=0, max_value=1000), _ids),
    st.builds(StateCompleted, _state_ids, _ids),
    st.builds(StateFailed, _state_ids, _error_infos, st.none() | _ids),
    st.builds(RunCompleted, st.sampled_from(RunStatus), st.none() | _ids),
    st.builds(
        DomainEvent,
        st.sampled_from(
            [
                "fact_recorded",
                "artifact_written",
                "op_boundary",
                "child_run_spawned",
                "child_run_completed",
                "custom",
            ]
        ),
        _json,
        st.none() | _ids,
    ),
)
_envelopes = st.builds(
    EventEnvelope,
    run_id=st.uuids(),
    seq=st.integers(min_value=1, max_value=2**53),
    event=_events,
    ts_millis=st.none() | st.integers(min_value=0, max_value=2**50),
)


# ------------------------------------------------------------------------ round trips


@settings(max_examples=200, deadline=None)
@given(_envelopes)
def test_envelope_json_round_trip(env: EventEnvelope) -> None:
    assert EventEnvelope.from_json(env.to_json()) == env
    assert event_from_json(env.event.to_json()) == env.event
    line = envelope_to_json_line(env)
    assert "\n" not in line
    assert envelope_from_json_line(line) == env
    assert envelope_to_json_line(envelope_from_json_line(line)) == line
    assert EventEnvelope.from_json(json.loads(json.dumps(env.to_json()))) == env


EXAMPLES = [
    RunStarted("op", SNAP, SNAP),
    StateEntered("m.s.l", 0, SNAP),
    StateCompleted("m.s.l", SNAP),
    StateFailed("m.s.l", ErrorInfo("e", ErrorCategory.RPC, True, "m", {"a": 1}), SNAP),
    StateFailed("m.s.l", ErrorInfo("e", ErrorCategory.RPC, False, "m"), None),
    RunCompleted(RunStatus.COMPLETED, SNAP),
    RunCompleted(RunStatus.FAILED, None),
    RunCompleted(RunStatus.CANCELLED, SNAP),
    DomainEvent("fact_recorded", {"key": "k", "payload_id": SNAP, "meta": {}}),
    DomainEvent("op_boundary", None, SNAP),
]


def test_examples_cover_every_event_type() -> None:
    assert {type(e) for e in EXAMPLES} == {*KERNEL_TYPES, DomainEvent}


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_type_round_trips(event: Any) -> None:
    for ts in (None, 1_700_000_000_000):
        env = EventEnvelope(RUN, 7, event, ts)
        assert envelope_from_json_line(envelope_to_json_line(env)) == env


def test_json_forms_are_stable() -> None:
    env = EventEnvelope(RUN, 3, StateEntered("m.s.l", 1, SNAP), 42)
    assert envelope_to_json_line(env) == (
        '{"event":{"attempt":1,"base_snapshot_id":"' + SNAP + '","state_id":"m.s.l",'
        '"type":"state_entered"},"run_id":"' + str(RUN) + '","seq":3,"ts_millis":42}'
    )
    assert RunCompleted(RunStatus.FAILED, None).to_json() == {
        "type": "run_completed",
        "status": "failed",
        "final_snapshot_id": None,
    }
    assert DomainEvent("n", {"x": 1}).to_json() == {
        "type": "domain",
        "name": "n",
        "payload": {"x": 1},
        "payload_ref": None,
    }
    failed = StateFailed("m.s.l", ErrorInfo("c", ErrorCategory.STORAGE, False, "m")).to_json()
    assert failed == {
        "type": "state_failed",
        "state_id": "m.s.l",
        "error": {"code": "c", "category": "storage", "retryable": False, "message": "m"},
        "failure_snapshot_id": None,
    }


def test_optional_fields_may_be_absent() -> None:
    assert event_from_json({"type": "run_completed", "status": "completed"}) == RunCompleted(
        RunStatus.COMPLETED, None
    )
    assert event_from_json({"type": "domain", "name": "n"}) == DomainEvent("n", None, None)
    env = EventEnvelope.from_json(
        {"run_id": str(RUN), "seq": 1, "event": {"type": "run_completed", "status": "failed"}}
    )
    assert env.ts_millis is None


def test_phase_for_status() -> None:
    assert {s: p for s, p in PHASE_FOR_STATUS.items()} == {
        RunStatus.COMPLETED: RunPhase.COMPLETED,
        RunStatus.FAILED: RunPhase.FAILED,
        RunStatus.CANCELLED: RunPhase.CANCELLED,
    }
    assert {p.name for p in RunPhase} == {"RUNNING", "COMPLETED", "FAILED", "CANCELLED"}


# ---------------------------------------------------------------------- malformed input


def _malformed(fn: Any, value: Any) -> RunError:
    with pytest.raises(RunError) as exc:
        fn(value)
    assert exc.value.kind is RunErrorKind.OTHER
    assert exc.value.info.code == "event_malformed"
    return exc.value


GOOD = {"run_id": str(RUN), "seq": 1, "ts_millis": None, "event": EXAMPLES[3].to_json()}


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not json",
        "{",
        "null",
        "[]",
        "1",
        '"x"',
        "{}",
        '{"run_id": "nope", "seq": 1, "event": {"type": "run_completed", "status": "failed"}}',
        '{"run_id": 5, "seq": 1, "event": {"type": "run_completed", "status": "failed"}}',
        json.dumps({**GOOD, "seq": [1]}),
        json.dumps({**GOOD, "seq": "x"}),
        json.dumps({**GOOD, "seq": None}),
        json.dumps({**GOOD, "event": None}),
        json.dumps({**GOOD, "event": []}),
        json.dumps({**GOOD, "event": "run_completed"}),
        json.dumps({**GOOD, "event": {"type": "nope"}}),
        json.dumps({**GOOD, "event": {}}),
        json.dumps({**GOOD, "event": {"type": "run_completed", "status": "done"}}),
        json.dumps({**GOOD, "event": {"type": "state_entered", "state_id": "a.b.c"}}),
        json.dumps(
            {
                **GOOD,
                "event": {
                    "type": "state_entered",
                    "state_id": "a.b.c",
                    "attempt": "x",
                    "base_snapshot_id": SNAP,
                },
            }
        ),
        json.dumps({**GOOD, "event": {**GOOD["event"], "error": None}}),
        json.dumps({**GOOD, "event": {**GOOD["event"], "error": {"code": "c"}}}),
        json.dumps(
            {
                **GOOD,
                "event": {**GOOD["event"], "error": {**GOOD["event"]["error"], "category": "x"}},
            }
        ),
        json.dumps({**GOOD, "seq": 1e999}).replace("Infinity", "1e999"),
        json.dumps({**GOOD, "seq": float("nan")}),
    ],
)
def test_malformed_lines_raise_run_error(line: str) -> None:
    _malformed(envelope_from_json_line, line)


@pytest.mark.parametrize("key", ["run_id", "seq", "event"])
def test_missing_envelope_key(key: str) -> None:
    value = {k: v for k, v in GOOD.items() if k != key}
    _malformed(EventEnvelope.from_json, value)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_missing_required_event_key(event: Any) -> None:
    optional = {"failure_snapshot_id", "final_snapshot_id", "payload", "payload_ref", "details"}
    full = event.to_json()
    for key in full:
        if key in optional:
            continue
        _malformed(event_from_json, {k: v for k, v in full.items() if k != key})


@settings(max_examples=200, deadline=None)
@given(_json)
def test_arbitrary_json_never_raises_anything_but_run_error(value: Any) -> None:
    for fn in (event_from_json, EventEnvelope.from_json):
        with contextlib.suppress(RunError):
            fn(value)
    with contextlib.suppress(RunError):
        envelope_from_json_line(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_raises_anything_but_run_error(line: str) -> None:
    with contextlib.suppress(RunError):
        envelope_from_json_line(line)


@settings(max_examples=150, deadline=None)
@given(_envelopes, st.data())
def test_corrupting_a_field_never_raises_anything_but_run_error(
    env: EventEnvelope, data: st.DataObject
) -> None:
    value = env.to_json()
    where = data.draw(st.sampled_from(["envelope", "event"]))
    target = value if where == "envelope" else value["event"]
    key = data.draw(st.sampled_from(sorted(target)))
    target[key] = data.draw(_json | st.floats())
    with contextlib.suppress(RunError):
        envelope_from_json_line(json.dumps(value))
