"""Each run's attempts as spans of its stream, and the handler journal matched to them: what
the promise checks share.

A span is one `StateEntered` and what follows it in the run's stream up to its terminal event
of the same state (`StateCompleted`/`StateFailed`), or to the end of the stream if it stays
open; the domain events in between are the attempt's. A journal entry (one handler invocation,
`Observation.handler_journal`) belongs to the span of its (run, state, attempt); an entry the
engine's IO did not name, or whose span is not in the durable log, is matched to nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from mfm_engine.events import EventEnvelope

from mfm_sim.invariants.content_cache import remember
from mfm_sim.invariants.derive import (
    COMPLETED,
    DOMAIN,
    ENTERED,
    FACT,
    FAILED,
    Log,
    derive,
    each_run,
)
from mfm_sim.run.observation import HandlerAttempt, Observation

__all__ = ["Span", "decoded", "matched", "spans", "strict_equal"]

Triple = tuple[uuid.UUID, str, int]

# Keys of what this module remembers in `derive(obs).memo`.
_MATCHED = "attempt_spans.matched"


class Span:
    """One attempt in a run's stream."""

    __slots__ = ("domain", "entered", "facts", "terminal")

    def __init__(self, entered: EventEnvelope) -> None:
        self.entered = entered
        self.terminal: EventEnvelope | None = None
        self.domain: list[EventEnvelope] = []  # domain events other than fact_recorded
        self.facts: list[EventEnvelope] = []

    @property
    def completed(self) -> bool:
        return self.terminal is not None and type(self.terminal.event).__name__ == "StateCompleted"

    @property
    def failure_code(self) -> str | None:
        ev = self.terminal.event if self.terminal is not None else None
        error = getattr(ev, "error", None)
        return getattr(error, "code", None)


def _spans_of(log: Log) -> dict[tuple[str, int], Span]:
    found: dict[tuple[str, int], Span] = {}
    open_span: Span | None = None
    for code, env, ev in log.rows:
        if code == ENTERED:
            open_span = Span(env)
            found.setdefault((ev.state_id, ev.attempt), open_span)
        elif code in (COMPLETED, FAILED):
            if open_span is not None and open_span.entered.event.state_id == ev.state_id:
                open_span.terminal = env
            open_span = None
        elif code == DOMAIN and open_span is not None:
            open_span.domain.append(env)
        elif code == FACT and open_span is not None:
            open_span.facts.append(env)
    return found


_last: tuple[Observation, dict[int, dict[tuple[str, int], Span]]] | None = None


def spans(obs: Observation) -> dict[int, dict[tuple[str, int], Span]]:
    """Every run's spans by (state, attempt), under the run id's number (a UUID's own hash
    is Python-level); the first `StateEntered` of a pair wins."""
    global _last
    last = _last
    if last is None or last[0] is not obs:
        last = _last = (obs, {log.run_id.int: _spans_of(log) for log in each_run(obs)})
    return last[1]


def matched(obs: Observation) -> list[tuple[Triple, list[HandlerAttempt], Span]]:
    """Each journaled (run, state, attempt) whose span is in the durable log, with its entries
    (in journal order) and span, ordered by run id, state and attempt (never by mapping
    order). An entry whose IO named no run or attempt is matched to nothing."""
    memo = derive(obs).memo
    found = memo.get(_MATCHED)
    if found is not None:  # three checks ask in turn; the list is only read
        return found  # type: ignore[no-any-return]
    by_run = spans(obs)
    # The entries grouped by (run id's number, state, attempt), with the triple they name.
    groups: dict[tuple[int, str, int], tuple[Triple, list[HandlerAttempt]]] = {}
    for entry in obs.handler_journal:
        run_id, attempt = entry.run_id, entry.attempt
        if run_id is None or attempt is None:
            continue
        key = (run_id.int, entry.state_id, attempt)
        group = groups.get(key)
        if group is None:
            groups[key] = ((run_id, entry.state_id, attempt), [entry])
        else:
            group[1].append(entry)
    found = []
    names: dict[int, str] = {}  # each run id's text once, for the sort key
    for (number, state, attempt), (triple, entries) in groups.items():
        run_spans = by_run.get(number)
        span = run_spans.get((state, attempt)) if run_spans is not None else None
        if span is not None:
            if number not in names:
                names[number] = str(triple[0])
            found.append((triple, entries, span))
    found.sort(key=lambda t: (names[t[0][0].int], t[0][1], t[0][2]))
    memo[_MATCHED] = found
    return found


# Decoded JSON by the exact bytes it came from, across observations (`content_cache`'s
# policy): a sweep stores the same snapshots and fact payloads in schedule after schedule.
# Keyed by content, never by artifact id, so an engine that files bytes under a wrong id still
# gets those bytes' value.
_values: dict[bytes, Any] = {}
_KEPT = 1 << 14
_MISS = object()


def decoded(obs: Observation, artifact_id: str | None) -> Any:
    """The JSON value of an artifact as it was written, or None if it is lost or not JSON.
    Several checks and schedules decode the same bytes: callers only read the value."""
    if artifact_id is None:
        return None
    data = obs.pristine.get(artifact_id)
    if data is None:
        return None
    value = _values.get(data, _MISS)
    if value is _MISS:
        try:
            value = json.loads(data)
        except ValueError:
            value = None
        remember(_values, data, value, _KEPT)
    return value


# The built-in types `_json_type` maps to themselves: the fast path skips it for them.
_PLAIN = frozenset({bool, int, float, str, dict, list, tuple, type(None)})
# Of those, the scalars: two of one type compare with `==` (`True == 1` never arises).
_SCALAR = frozenset({bool, int, float, str, type(None)})
# Of those, the ones equal to themselves by value (not float: NaN).
_EXACT = frozenset({bool, int, str, type(None)})


def _json_type(value: Any) -> type:
    # A subclass of str, int, dict, list or tuple is that JSON type in canonical bytes (an
    # IntEnum is its number); bool is its own JSON type, never a number.
    t = type(value)
    if t in (bool, int, str, dict, list, tuple, type(None)):
        return t
    for base in (bool, int, str, dict, list, tuple):
        if isinstance(value, base):
            return base
    return t


# Arrays up to this long are compared item by item, which costs less than the C route's two
# sets of item types; a longer one of a single exact scalar type is compared by `==` in C.
_SHORT = 16


def strict_equal(a: Any, b: Any) -> bool:
    """JSON equality: `True` is not `1`, lists and tuples are both arrays, and a subclass of a
    JSON type is that type."""
    ta = type(a)
    # Two values of one exact plain type (nearly every call): `_general`'s steps for
    # that type, without its type tests, walked inline (no zip or map object per call).
    if ta is not type(b):
        pairs = _general(a, b)
        return pairs if type(pairs) is bool else _all_equal(pairs)
    if ta is dict:
        if a.keys() != b.keys():
            return False
        # Same keys, so same lengths: each item of `a` has its partner in `b`.
        for k, x in a.items():
            y = b[k]
            tx = type(x)
            # Two scalars of one plain type, inline: no call per item (the common case).
            if tx is type(y) and tx in _SCALAR:
                if x != y:
                    return False
            elif not strict_equal(x, y):
                return False
        return True
    if ta is list or ta is tuple:
        if len(a) != len(b):
            return False
        if len(a) > _SHORT:
            kinds = set(map(type, a))
            if len(kinds) == 1 and kinds <= _EXACT and kinds == set(map(type, b)):
                return bool(a == b)
        return _all_equal(zip(a, b))  # noqa: B905  # lengths compared above
    if ta in _SCALAR:
        return bool(a == b)
    # A subclass, or no JSON type at all.
    pairs = _general(a, b)
    return pairs if type(pairs) is bool else _all_equal(pairs)


def _all_equal(pairs: Iterator[tuple[Any, Any]]) -> bool:
    """Every pair strictly equal: two arrays' items, or what `_general` left to compare."""
    for x, y in pairs:
        tx = type(x)
        if tx is type(y) and tx in _SCALAR:
            if x != y:
                return False
        elif not strict_equal(x, y):
            return False
    return True


def _general(a: Any, b: Any) -> bool | Iterator[tuple[Any, Any]]:
    """`strict_equal`'s verdict for any two values (subclasses, mixed types), or the pairs of
    items it still has to compare."""
    ta, tb = type(a), type(b)
    if ta is not tb or ta not in _PLAIN:
        ta, tb = _json_type(a), _json_type(b)
    if ta is tb and ta is dict:
        if a.keys() != b.keys():
            return False
        # Same keys, so same lengths: `strict` would only cost a check per item.
        pairs = zip(a.values(), map(b.__getitem__, a))  # noqa: B905
    elif ta is tb and ta is not list and ta is not tuple:
        return bool(a == b)  # two scalars of one type: the common case
    elif ta not in (list, tuple) or tb not in (list, tuple) or len(a) != len(b):
        return False
    else:
        # Items all of one scalar type on both sides (a list of strings, say): C compares
        # them, since two such scalars are equal exactly when `==` says so. Not floats: C's
        # compare takes an object as equal to itself, and NaN is not.
        kinds = set(map(type, a))
        if len(kinds) == 1 and kinds <= _EXACT and kinds == set(map(type, b)):
            return bool(a == b) if ta is tb else list(a) == list(b)
        return zip(a, b)  # noqa: B905  # lengths compared above
    return pairs
