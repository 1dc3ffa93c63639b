"""Tests for mfm_sim.world.clock: monotonic virtual time and the (when_ns, seq) timer queue."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfm_sim.world.clock import NS_PER_MS, NS_PER_SEC, ClockError, TimerQueue, VirtualClock


def test_clock_starts_at_zero_and_reports_units() -> None:
    clock = VirtualClock()
    assert clock.now_ns == 0
    clock.advance_to(1_500 * NS_PER_MS + 7)
    assert clock.now_ns == 1_500_000_007
    assert clock.now() == 1.500000007
    assert clock.now_millis() == 1_500


def test_clock_custom_start() -> None:
    assert VirtualClock(5 * NS_PER_SEC).now() == 5.0
    with pytest.raises(ClockError):
        VirtualClock(-1)


def test_clock_never_goes_backwards() -> None:
    clock = VirtualClock()
    clock.advance_to(100)
    clock.advance_to(100)  # standing still is fine
    with pytest.raises(ClockError, match="backwards"):
        clock.advance_to(99)
    assert clock.now_ns == 100
    with pytest.raises(ClockError):
        clock.advance_by(-1)
    clock.advance_by(5)
    assert clock.now_ns == 105


def test_now_ns_cannot_be_assigned() -> None:
    clock = VirtualClock()
    with pytest.raises(AttributeError):
        clock.now_ns = 5  # type: ignore[misc]


def test_now_millis_rounds_down() -> None:
    clock = VirtualClock(NS_PER_MS - 1)
    assert clock.now_millis() == 0


def test_timer_queue_orders_by_time_then_push_order() -> None:
    q: TimerQueue[str] = TimerQueue()
    assert not q
    assert q.peek() is None
    assert q.peek_time() is None
    q.push(20, "late")
    q.push(10, "first@10")
    q.push(10, "second@10")
    q.push(5, "early")
    assert len(q) == 4
    assert q.peek() == (5, "early")
    assert q.peek_time() == 5
    assert q.pop() == (5, "early")
    assert q.pop_due(9) == []
    assert q.pop_due(10) == ["first@10", "second@10"]
    assert q.pop_due(100) == ["late"]
    with pytest.raises(IndexError):
        q.pop()


def test_timer_queue_seq_is_monotonic() -> None:
    q: TimerQueue[int] = TimerQueue()
    seqs = [q.push(0, i) for i in range(5)]
    q.clear()
    seqs.append(q.push(0, 5))
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


def test_timer_queue_never_compares_payloads() -> None:
    class Opaque:
        def __lt__(self, other: object) -> bool:
            raise AssertionError("payloads must not be compared")

    q: TimerQueue[Opaque] = TimerQueue()
    for _ in range(50):
        q.push(1, Opaque())
    assert len(q.pop_due(1)) == 50


def test_compact_and_drain() -> None:
    q: TimerQueue[int] = TimerQueue()
    for i in range(10):
        q.push(100 - i, i)
    assert q.compact(lambda i: i % 2 == 0) == 5
    assert q.drain() == [8, 6, 4, 2, 0]
    assert len(q) == 0


@given(st.lists(st.integers(min_value=0, max_value=20)))
def test_pop_order_is_stable_sort_by_time(whens: list[int]) -> None:
    q: TimerQueue[int] = TimerQueue()
    for index, when in enumerate(whens):
        q.push(when, index)
    popped = [q.pop()[1] for _ in range(len(whens))]
    assert popped == sorted(range(len(whens)), key=lambda i: whens[i])


@given(st.lists(st.integers(min_value=0, max_value=20)), st.integers(0, 20))
def test_pop_due_takes_exactly_the_due_prefix(whens: list[int], now: int) -> None:
    q: TimerQueue[int] = TimerQueue()
    for index, when in enumerate(whens):
        q.push(when, index)
    due = q.pop_due(now)
    assert due == sorted((i for i, w in enumerate(whens) if w <= now), key=lambda i: whens[i])
    rest = q.peek_time()
    assert rest is None or rest > now


def test_empty_queues_share_nothing_once_used() -> None:
    # A new queue starts on a shared empty list (most loops never set a timer); every way of
    # emptying or filling one must leave the others empty.
    queues = [TimerQueue[str]() for _ in range(4)]
    queues[0].push(5, "a")
    queues[1].push(7, "b")
    assert queues[1].drain() == ["b"]
    queues[2].clear()
    assert queues[3].pop_due(10) == []
    with pytest.raises(IndexError):
        queues[3].pop()
    assert [len(q) for q in queues] == [1, 0, 0, 0]
    assert queues[0].peek() == (5, "a")
    queues[1].push(1, "c")  # a drained queue takes timers again
    assert (queues[1].peek(), len(TimerQueue())) == ((1, "c"), 0)
