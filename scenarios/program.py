"""Handler programs: plain data a generated state executes, and the state that executes them.

A `Program` is a list of `Op`s over the whole handler API (context read, write and delete;
a failure, retryable or not; keyed and unkeyed `io.call`; `now_millis`; `random_bytes`; a
domain event; a child run spawned and awaited) plus the state's tags. An op may be limited
to some attempt numbers: a handler's behaviour depends on its attempt number and on nothing
else outside its program, so the reference interpreter (`mfm_scenarios.interpreter`) reads the
same data the handler runs and predicts every attempt.

An op with `catch` turns one of the refusals in `CATCHABLE` into a context write
`{key: {"refused": code}}` and carries on; any other error propagates.
"""

from __future__ import annotations

import asyncio
from enum import IntEnum
from typing import Any

import attrs
from mfm_engine import IoCall, StateMeta
from mfm_engine.errors import ContextError, ErrorCategory, IoError, StateError, StorageError, info
from mfm_scenarios.inspect_errors import INSPECTABLE, INSPECTED_EVENT, shape

__all__ = [
    "AWAIT_KIND",
    "AWAIT_NAMESPACE",
    "BIG_EVENT",
    "BIG_MEMBERS",
    "CALL",
    "CATCHABLE",
    "CHILD",
    "CYCLIC_EVENT",
    "DELETE",
    "EMIT",
    "FAIL",
    "KINDS",
    "NOW",
    "RANDOM",
    "READ",
    "REQUIRE",
    "SPAWN_NAMESPACE",
    "WRITE",
    "Bag",
    "Level",
    "Op",
    "Program",
    "ProgramState",
    "Shared",
    "Text",
    "event_payload",
    "write_value",
]

READ = "read"  # ctx.write(key, ctx.read(src))
WRITE = "write"  # ctx.write(key, value)
DELETE = "delete"  # ctx.delete(key)
FAIL = "fail"  # raise StateError(code, retryable, message, details; state id `src` if set)
CALL = "call"  # ctx.write(key, io.call(IoCall(namespace, request, fact_key)))
NOW = "now"  # ctx.write(key, io.now_millis())
RANDOM = "random"  # ctx.write(key, io.random_bytes(n).hex())
EMIT = "emit"  # events.emit(name, payload)
CHILD = "child"  # spawn a child run, await it, ctx.write(key, {status, final})
REQUIRE = "require"  # ctx.write(key, ctx.require(src)): a missing key is a refusal
KINDS = (READ, WRITE, DELETE, FAIL, CALL, NOW, RANDOM, EMIT, CHILD, REQUIRE)

# Refusals a handler may catch: the engine's answers to what it must not record or cannot
# replay. A fault's error (a transport error, a storage error) is never caught.
CATCHABLE = (
    "secrets_detected",
    "fact_payload_not_canonical",
    "missing_fact",
    "missing_fact_key",
)

# An EMIT of one of these names sends `[op.value, a list that contains itself]` or `[op.value,
# 100,001 one-string lists]`: built when the handler runs, so the plan never holds a cycle or
# a value that big (nothing compares or copies one).
CYCLIC_EVENT = "cyclic"
BIG_EVENT = "big"
BIG_MEMBERS = 100_001  # containers: more than the engine scans before its careful pass
SPAWN_NAMESPACE = "machine.child_run.spawn"  # ENGINE.md, child runs
AWAIT_NAMESPACE = "machine.child_run.await"
AWAIT_KIND = "child_run_await_v1"


class Text(str):
    """A `str` subclass in a value: JSON text all the same, and scanned for secrets."""


class Bag(list):  # type: ignore[type-arg]
    """A `list` subclass in a value: a JSON array all the same."""


class Level(IntEnum):
    """An `int` subclass in a value: a JSON number all the same."""

    LOW = 1
    HIGH = 2


def event_payload(op: Op) -> Any:
    """The payload an EMIT op sends: its value, or for `CYCLIC_EVENT` / `BIG_EVENT` the value
    before a cycle / 100,001 lists of distinct strings (a scan meets the value last, so a
    secret in it is found only past them)."""
    if op.name == CYCLIC_EVENT:
        loop: list[Any] = []
        loop.append(loop)
        return [op.value, loop]
    if op.name == BIG_EVENT:
        return [op.value, *([f"v{i}"] for i in range(BIG_MEMBERS))]
    return op.value


@attrs.frozen
class Shared:
    """A WRITE value built when the handler runs: a list of `n` references to one empty list.

    Past `BIG_MEMBERS` containers the engine scans a value again with cycle tracking, and a
    member it meets again after leaving it is shared, not a cycle. The plan holds only this
    marker, so nothing compares or copies a value that big before the handler writes it."""

    n: int

    def build(self) -> list[Any]:
        member: list[Any] = []
        return [member] * self.n


def write_value(op: Op) -> Any:
    """The value a WRITE op writes: its own, or the one a `Shared` marker builds."""
    return op.value.build() if isinstance(op.value, Shared) else op.value


@attrs.frozen
class Op:
    """One step of a handler program; which fields matter depends on `kind`."""

    kind: str
    key: str = ""  # the context key written, deleted or (READ) written to
    src: str = ""  # READ: the key read
    value: Any = None  # WRITE: the value; EMIT: the payload; CALL/CHILD: the request
    name: str = ""  # EMIT: the event name; CALL: the namespace; FAIL: the code; CHILD: child
    fact_key: str | None = None  # CALL: the fact key (None: unkeyed); CHILD: its suffix
    n: int = 0  # RANDOM: how many bytes; CHILD: 1 to await again naming another manifest
    retryable: bool = False  # FAIL
    message: str = ""  # FAIL
    catch: bool = False  # a refusal in CATCHABLE is written to `key` instead of raised
    inspect: bool = False  # with catch: any of INSPECTABLE, written as `shape` of the error
    attempts: tuple[int, ...] | None = None  # the attempts it runs in; None: every one
    # CALL / CHILD's spawn: the request of a second call made at once (asyncio.gather) under
    # the same fact key; `value` itself for a twin (`mfm_scenarios.twins`). None: one call.
    twin: Any = None
    # CALL without a twin: a retryable StorageError of the call (a transient store failure)
    # is caught once and the call made again (`mfm_scenarios.storage_retry`).
    retry_storage: bool = False
    # EMIT: the event's `payload_ref`, an artifact id (`mfm_scenarios.payload_refs`). None: the
    # emit passes none, as most handlers do.
    ref: str | None = None

    def runs_in(self, attempt: int) -> bool:
        return self.attempts is None or attempt in self.attempts


@attrs.frozen
class Program:
    ops: tuple[Op, ...]
    tags: tuple[str, ...] = ()


class ProgramState:
    """A state whose handler runs a `Program`; it reads only its attempt number besides."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self._meta = StateMeta(tags=program.tags)

    def meta(self) -> StateMeta:
        return self._meta

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        # The engine's IO object is bound to one attempt; its number is the only input a
        # program may branch on besides its own data.
        attempt: int = io._attempt
        for op in self.program.ops:
            if not op.runs_in(attempt):
                continue
            try:
                await _run(op, ctx, io, events)
            except (IoError, StateError, ContextError) as exc:
                if op.catch and op.inspect and exc.info.code in INSPECTABLE:
                    # Emitted too: a failed attempt's snapshot is dropped, its events kept.
                    seen = shape(exc)
                    ctx.write(op.key, seen)
                    events.emit(INSPECTED_EVENT, seen)
                    continue
                if op.catch and exc.info.code in CATCHABLE:
                    ctx.write(op.key, {"refused": exc.info.code})
                    continue
                raise


async def _run(op: Op, ctx: Any, io: Any, events: Any) -> None:
    kind = op.kind
    if kind == READ:
        ctx.write(op.key, ctx.read(op.src, None))
    elif kind == WRITE:
        ctx.write(op.key, write_value(op))
    elif kind == DELETE:
        ctx.delete(op.key)
    elif kind == FAIL:
        raise StateError(
            info(
                op.name,
                ErrorCategory.UNKNOWN,
                op.message,
                retryable=op.retryable,
                details={"program": "generated", "note": op.message},
            ),
            # A preset state id (`src`, another state's): the engine sets only an unset one.
            state_id=op.src or None,
        )
    elif kind == CALL:
        result = await _call(io, op, IoCall(op.name, op.value, op.fact_key))
        if op.key:  # an op with no key discards the response
            ctx.write(op.key, result)
    elif kind == NOW:
        ctx.write(op.key, await io.now_millis())
    elif kind == RANDOM:
        ctx.write(op.key, (await io.random_bytes(op.n)).hex())
    elif kind == EMIT:
        if op.ref is None:
            events.emit(op.name, event_payload(op))
        else:
            events.emit(op.name, event_payload(op), payload_ref=op.ref)
    elif kind == REQUIRE:
        ctx.write(op.key, ctx.require(op.src))
    elif kind == CHILD:
        ack = await _call(io, op, IoCall(SPAWN_NAMESPACE, op.value, f"spawn:{op.fact_key}"))
        request = {"kind": AWAIT_KIND, "child_run_id": ack["child_run_id"], "spawn": op.value}
        done = await io.call(IoCall(AWAIT_NAMESPACE, request, f"await:{op.fact_key}"))
        if op.n:  # await it again, naming its initial snapshot as its manifest: refused
            again = {
                "kind": AWAIT_KIND,
                "child_run_id": ack["child_run_id"],
                "child_manifest_id": ack["child_initial_snapshot_id"],
            }
            await io.call(IoCall(AWAIT_NAMESPACE, again, f"reawait:{op.fact_key}"))
        ctx.write(op.key, {"status": done["status"], "final": done["final_snapshot"]})
    else:  # pragma: no cover - the generator draws only KINDS
        raise ValueError(f"unknown op kind {kind!r}")


async def _call(io: Any, op: Op, call: IoCall) -> Any:
    """`io.call(call)`; with `op.twin`, also a second call of the same fact key at once. Both
    are awaited (nothing of the attempt runs on after the handler) and the first error is
    raised, except, for rival requests, `fact_payload_conflict`: the call that lost the
    binding. Every other answer is the bound payload; the last is returned."""
    if op.twin is None:
        try:
            return await io.call(call)
        except StorageError as exc:
            if not (op.retry_storage and exc.info.retryable is True):
                raise
        # A careful handler makes the call again after a transient store failure: ENGINE.md,
        # "a failed recording rolls the binding back", so it is made and recorded afresh.
        return await io.call(call)
    second = IoCall(call.namespace, op.twin, call.fact_key)
    results = await asyncio.gather(io.call(call), io.call(second), return_exceptions=True)
    rival = op.twin != op.value
    lost = [
        r
        for r in results
        if rival and isinstance(r, IoError) and r.info.code == "fact_payload_conflict"
    ]
    errors = [r for r in results if isinstance(r, BaseException) and r not in lost]
    # The engine's own failure (a storage error) first, as a careful handler raises it: raising
    # the other call's refusal instead would hide it from the engine, as gather alone does.
    errors.sort(key=lambda e: isinstance(e, (IoError, StateError, ContextError)))
    if errors:
        raise errors[0]
    if op.inspect and lost:
        # An inspected pair (`mfm_scenarios.inspect_kinds`): the refusal the losing call got,
        # raised for the handler to record.
        raise lost[0]
    answers = [r for r in results if not isinstance(r, BaseException)]
    if not answers:
        raise lost[0]
    return answers[-1]
