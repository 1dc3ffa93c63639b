"""mfm_sim.run.trace: the ordered trace and its SHA-256 digest (incremental, stable)."""

from __future__ import annotations

import hashlib
import uuid

from mfm_engine.errors import ErrorCategory, info
from mfm_engine.events import (
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)

from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.run.trace import Trace, describe_event, format_entry
from mfm_sim.world.clock import VirtualClock

RUN = uuid.UUID("12345678-0000-4000-8000-000000000001")
A = "a" * 64
B = "b" * 64


def _lines(entries: list[tuple[int, int, str, str]]) -> bytes:
    return b"".join(f"{t}|{i}|{k}|{d}\n".encode() for t, i, k, d in entries)


def _fill(trace: Trace, clock: VirtualClock) -> list[tuple[int, int, str, str]]:
    trace.add(0, "start", "-")
    clock.advance_by(1_500_000)
    trace.store(0, "artifacts.put", "abc")
    clock.advance_by(10**9)
    trace.add(1, "resume", "12345678")
    return [
        (0, 0, "start", "-"),
        (1_500_000, 0, "store", "artifacts.put abc"),
        (1_001_500_000, 1, "resume", "12345678"),
    ]


def test_empty_trace_digest_is_the_hash_of_nothing() -> None:
    trace = Trace(VirtualClock())
    assert trace.digest == hashlib.sha256(b"").hexdigest()
    assert trace.count == 0
    assert trace.entries == []


def test_digest_hashes_virtual_time_incarnation_kind_and_detail() -> None:
    clock = VirtualClock()
    trace = Trace(clock)
    expected = _fill(trace, clock)
    assert trace.entries == expected
    assert trace.count == 3
    assert trace.digest == hashlib.sha256(_lines(expected)).hexdigest()


def test_digest_is_incremental_and_reading_it_does_not_finalize() -> None:
    clock = VirtualClock()
    trace = Trace(clock)
    seen = []
    for n in range(5):
        trace.add(n % 2, "k", f"d{n}")
        seen.append(trace.digest)
        # The digest so far is the hash of the lines so far; reading it changes nothing.
        assert trace.digest == hashlib.sha256(_lines(trace.entries)).hexdigest()
    assert len(set(seen)) == 5


def test_digest_is_stable_across_instances() -> None:
    digests = set()
    for _ in range(3):
        clock = VirtualClock()
        trace = Trace(clock)
        _fill(trace, clock)
        digests.add(trace.digest)
    assert len(digests) == 1


def test_keep_false_keeps_nothing_but_hashes_everything() -> None:
    kept_clock, lean_clock = VirtualClock(), VirtualClock()
    kept, lean = Trace(kept_clock), Trace(lean_clock, keep=False)
    _fill(kept, kept_clock)
    _fill(lean, lean_clock)
    assert lean.entries == []
    assert lean.count == kept.count == 3
    assert lean.digest == kept.digest


def test_order_time_and_incarnation_change_the_digest() -> None:
    def digest(entries: list[tuple[int, int, str, str]]) -> str:
        clock = VirtualClock()
        trace = Trace(clock)
        for t, inc, kind, detail in entries:
            clock.advance_to(t)
            trace.add(inc, kind, detail)
        return trace.digest

    base = digest([(0, 0, "a", "x"), (5, 0, "b", "y")])
    assert digest([(0, 0, "b", "y"), (5, 0, "a", "x")]) != base
    assert digest([(0, 0, "a", "x"), (6, 0, "b", "y")]) != base
    assert digest([(0, 0, "a", "x"), (5, 1, "b", "y")]) != base
    assert digest([(0, 0, "a", "x"), (5, 0, "b", "y")]) == base


def test_event_and_fault_helpers() -> None:
    clock = VirtualClock()
    trace = Trace(clock)
    trace.event(2, EventEnvelope(RUN, 7, StateEntered("m.s.a", 1, A), None))
    trace.fault(Fault(9, FaultKind.CRASH_MID_APPEND, "events.append", 2, incarnation=3))
    assert trace.entries == [
        (0, 2, "event", f"12345678#7 StateEntered m.s.a attempt=1 base={A[:8]}"),
        (0, 3, "fault", "step=9 crash_mid_append at events.append arg=2"),
    ]


def test_describe_every_event_type() -> None:
    def env(event: object) -> EventEnvelope:
        return EventEnvelope(RUN, 1, event, None)  # type: ignore[arg-type]

    err = info("boom", ErrorCategory.UNKNOWN, "m", retryable=True)
    assert describe_event(env(RunStarted("op", A, B))) == (
        f"RunStarted op manifest={A[:8]} initial={B[:8]}"
    )
    assert describe_event(env(StateCompleted("m.s.a", B))) == (
        f"StateCompleted m.s.a snapshot={B[:8]}"
    )
    assert describe_event(env(StateFailed("m.s.a", err, None))) == (
        "StateFailed m.s.a boom retryable=True"
    )
    assert describe_event(env(RunCompleted(RunStatus.COMPLETED, A))) == (
        f"RunCompleted completed final={A[:8]}"
    )
    assert describe_event(env(RunCompleted(RunStatus.FAILED, None))) == (
        "RunCompleted failed final=-"
    )
    assert describe_event(env(DomainEvent("fact_recorded", {"key": "k1"}, None))) == (
        "fact_recorded k1"
    )
    assert describe_event(env(DomainEvent("step_done", {"n": 1}, None))) == "step_done"
    assert describe_event(env(DomainEvent("note", None, None))) == "note"


def test_format_entry() -> None:
    assert format_entry((1_500_000_000, 2, "event", "x y")) == "       1.500s  i2  event    x y"


def test_lines_are_the_same_whether_read_early_or_late() -> None:
    # Records keep envelopes and faults and format them when read: reading after every
    # record and reading once at the end must hash the very same lines.
    def run(read_each: bool) -> tuple[str, list[tuple[int, int, str, str]]]:
        clock = VirtualClock()
        trace = Trace(clock)
        for seq in range(1, 6):
            clock.advance_by(7)
            trace.event(0, EventEnvelope(RUN, seq, StateEntered("m.s.a", seq, A), None))
            trace.fault(Fault(seq, FaultKind.LATENCY, "events.append", seq, incarnation=0))
            if read_each:
                assert trace.digest
        return trace.digest, trace.entries

    assert run(True) == run(False)


def test_a_long_backlog_is_settled_as_it_grows() -> None:
    clock = VirtualClock()
    lean, kept = Trace(clock, keep=False), Trace(clock)
    for n in range(10_000):
        lean.add(0, "k", str(n))
        kept.add(0, "k", str(n))
    assert len(lean._pending) < 5_000  # bounded, whatever the schedule's length
    assert lean.digest == kept.digest
    assert len(kept.entries) == 10_000


def test_a_pickled_trace_keeps_its_digest_and_entries() -> None:
    import pickle

    clock = VirtualClock()
    trace = Trace(clock)
    _fill(trace, clock)
    trace.event(1, EventEnvelope(RUN, 1, StateEntered("m.s.a", 0, A), None))
    copy = pickle.loads(pickle.dumps(trace))
    assert copy.digest == trace.digest
    assert copy.entries == trace.entries
    assert copy.count == trace.count


def test_one_append_call_is_one_record_and_a_line_per_event() -> None:
    clock = VirtualClock()
    batch, one = Trace(clock), Trace(clock)
    envs = tuple(
        EventEnvelope(RUN, seq, StateEntered("m.s.a", seq, A), None) for seq in range(1, 4)
    )
    clock.advance_by(5)
    batch.events(1, envs)
    for env in envs:
        one.event(1, env)
    assert len(batch._pending) == 1 and batch.count == 3
    assert (
        batch.entries
        == one.entries
        == [
            (5, 1, "event", f"12345678#{seq} StateEntered m.s.a attempt={seq} base={A[:8]}")
            for seq in range(1, 4)
        ]
    )
    assert batch.digest == one.digest
    assert batch.count == 3  # settled lines count too


def test_later_lines_are_built_from_their_arguments_when_read() -> None:
    clock = VirtualClock()
    calls: list[tuple[object, ...]] = []

    def line(*args: object) -> str:
        calls.append(args)
        return "-".join(map(str, args))

    trace = Trace(clock)
    trace.later(2, "outcome", line, "crash", 7)
    assert calls == [] and trace.count == 1
    assert trace.entries == [(0, 2, "outcome", "crash-7")]
    assert calls == [("crash", 7)]
    assert Trace(clock).digest != trace.digest


def test_a_domain_payload_changed_after_its_append_keeps_its_line() -> None:
    # A handler's payload dict is stored as it is; the line must show it as appended, however
    # late the trace is read, or a digest would depend on when it was read.
    def run(read_early: bool) -> str:
        clock = VirtualClock()
        trace = Trace(clock)
        payload = {"key": "before"}
        trace.events(0, (EventEnvelope(RUN, 1, DomainEvent("note", payload, None), None),))
        if read_early:
            assert trace.digest
        payload["key"] = "after"
        assert trace.entries[-1][3] == "12345678#1 note before"
        return trace.digest

    assert run(read_early=True) == run(read_early=False)


def test_the_line_count_is_kept_as_records_arrive() -> None:
    # `count` adds up as records arrive (an append call's record holds a line per event, an
    # empty one none) and must equal the lines the trace holds, before and after settling.
    clock = VirtualClock()
    trace = Trace(clock)
    envs = tuple(
        EventEnvelope(RUN, seq, StateEntered("m.s.a", seq, A), None) for seq in range(1, 4)
    )
    trace.events(1, envs)
    trace.events(1, ())
    trace.store(1, "artifacts.put", "abc")
    trace.fault(Fault(3, FaultKind.LATENCY, "artifacts.get", 10, 1, 0, None))
    assert trace.count == 5
    assert len(trace.entries) == trace.count == 5  # reading settles; the count stays
    trace.events(2, envs[:2])
    assert trace.count == 7 == len(trace.entries)
