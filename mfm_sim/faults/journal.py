"""The handler journal: what each handler invocation did through its context, IO and event
recorder, and which transports each incarnation made and called.

`FaultyState` wraps the `ctx`, `io` and `events` a handler gets in the recording proxies below;
`FaultyTransportFactory` (or `RecordingTransportFactory` when a scenario has no services) notes
every transport made and called. Recording only forwards and appends to a list: no RNG draw,
no store call, no await that yields, so a schedule is the same with or without it. The
journal is raw material for the oracle: the invariants judge it against the durable log and
`ENGINE.md`, never against the engine's own idea of what happened.

An entry's ops are tuples whose first item names the op:

- `("read", key, result, default)`: `ctx.read(key, default)` (or `require`, with `REQUIRED` as
  the default), `result` a copy of what it returned;
- `("missing", key)`: `ctx.require(key)` raised;
- `("write", key, value)`, `("delete", key)`, `("dump", copy)`;
- `("calling", namespace, fact_key)`, then `("call", namespace, fact_key, result, error_code)`:
  `io.call` started and returned (`result` None on error);
- `("now", value, error_code)`, `("random", n, hex_or_None, error_code)`;
- `("emit", name, payload, error_code, payload_ref)`: `events.emit`; `error_code` None if
  accepted.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
from mfm_engine.errors import StateError

__all__ = [
    "REQUIRED",
    "HandlerAttempt",
    "JournalEntry",
    "RecordingTransportFactory",
    "TransportUse",
    "journal_proxies",
    "note_use",
]

REQUIRED = "<required>"  # the default of a `require` read: the key had to be there

# A frozenset of types: one hashed lookup (types hash by identity) per recorded value.
_SCALARS = frozenset((str, int, bool, float, type(None)))


def _copy(value: Any) -> Any:
    """A copy of a JSON-like value, so a handler mutating it later leaves the record as read.
    Callers on the hot path test `type(value) in _SCALARS` first and skip the call."""
    t = type(value)
    if t in _SCALARS:
        return value
    scalars = _SCALARS
    # A container of scalars only (the common case) is copied in C, with no Python step per
    # item; the set of its item types is itself built in C.
    if t is dict:
        if scalars.issuperset(map(type, value.values())):
            return dict(value)
        return {k: v if type(v) in scalars else _copy(v) for k, v in value.items()}
    if t is list or t is tuple:
        if scalars.issuperset(map(type, value)):
            return list(value)
        return [v if type(v) in scalars else _copy(v) for v in value]
    return value


CYCLE = "<cycle>"  # what a journal records for a container met again inside itself


def _acyclic(value: Any, path: set[int]) -> Any:
    """`_copy`, with a container already on the path recorded as `CYCLE`."""
    t = type(value)
    if not (t is dict or t is list or t is tuple):
        return value
    if id(value) in path:
        return CYCLE
    path.add(id(value))
    if t is dict:
        out: Any = {k: _acyclic(v, path) for k, v in value.items()}
    else:
        out = [_acyclic(v, path) for v in value]
    path.discard(id(value))
    return out


def _copy_payload(value: Any) -> Any:
    """An event payload's copy; a payload that contains itself (which the engine must scan
    without hanging) is recorded with the cycle cut, so no check walks it forever."""
    try:
        return _copy(value)
    except RecursionError:
        return _acyclic(value, set())


def _code(exc: BaseException) -> str:
    info = getattr(exc, "info", None)
    code = getattr(info, "code", None)
    return code if isinstance(code, str) else type(exc).__name__


@attrs.frozen
class HandlerAttempt:
    """One handler invocation as the journal saw it (run, state, attempt as its IO knew them)."""

    incarnation: int
    run_id: uuid.UUID | None
    state_id: str
    attempt: int | None
    replay: bool  # the handler got replay IO
    ops: tuple[tuple[Any, ...], ...]
    # "ok", "error:<code>" (retryable or not in `retryable`), or None: it never returned
    # (the process died in it).
    ended: str | None
    retryable: bool | None = None
    # A StateError it raised: (its state id as raised, as the run left it); None otherwise.
    error_state_ids: tuple[str | None, str | None] | None = None


@attrs.frozen
class TransportUse:
    """A transport made (`call` None) or called (`call` the namespace) by an incarnation."""

    incarnation: int
    run_id: uuid.UUID
    replay: bool  # the run config the transport was made for is in replay mode
    call: str | None = None


class JournalEntry:
    """The mutable record of one invocation while it runs; `freeze` makes the observation's."""

    __slots__ = (
        "attempt",
        "ended",
        "error",
        "incarnation",
        "ops",
        "raised_state_id",
        "replay",
        "retryable",
        "run_id",
        "state",
    )

    def __init__(self, incarnation: int, state: str, io: Any) -> None:
        self.incarnation = incarnation
        self.state = state
        # The engine's IO knows the run and attempt it serves; read, never called.
        self.run_id = getattr(io, "_run_id", None)
        self.attempt = getattr(io, "_attempt", None)
        self.replay = type(io).__name__ == "ReplayIo"
        self.ops: list[tuple[Any, ...]] = []
        self.ended: str | None = None
        self.retryable: bool | None = None
        # The StateError the handler raised, kept so the run's later changes to it are seen.
        self.error: BaseException | None = None
        self.raised_state_id: str | None = None

    def finish(self, exc: BaseException | None) -> None:
        if exc is None:
            self.ended = "ok"
            return
        self.ended = f"error:{_code(exc)}"
        info = getattr(exc, "info", None)
        self.retryable = bool(getattr(info, "retryable", False))
        if isinstance(exc, StateError):
            self.error, self.raised_state_id = exc, getattr(exc, "state_id", None)

    def freeze(self) -> HandlerAttempt:
        return HandlerAttempt(
            self.incarnation,
            self.run_id,
            self.state,
            self.attempt,
            self.replay,
            tuple(self.ops),
            self.ended,
            self.retryable,
            None
            if self.error is None
            else (self.raised_state_id, getattr(self.error, "state_id", None)),
        )


class _Ctx:
    __slots__ = ("_inner", "_ops")

    def __init__(self, inner: Any, ops: list[tuple[Any, ...]]) -> None:
        self._inner = inner
        self._ops = ops

    def read(self, key: str, default: Any = None) -> Any:
        value = self._inner.read(key, default)
        scalars = _SCALARS
        self._ops.append(
            (
                "read",
                key,
                value if type(value) in scalars else _copy(value),
                default if type(default) in scalars else _copy(default),
            )
        )
        return value

    def require(self, key: str) -> Any:
        try:
            value = self._inner.require(key)
        except Exception:
            self._ops.append(("missing", key))
            raise
        self._ops.append(
            ("read", key, value if type(value) in _SCALARS else _copy(value), REQUIRED)
        )
        return value

    def write(self, key: str, value: Any) -> None:
        self._inner.write(key, value)
        self._ops.append(("write", key, value if type(value) in _SCALARS else _copy(value)))

    def delete(self, key: str) -> None:
        self._inner.delete(key)
        self._ops.append(("delete", key))

    def dump(self) -> Any:
        value = self._inner.dump()
        self._ops.append(("dump", _copy(value)))
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # anything else the context offers, unrecorded


class _Io:
    __slots__ = ("_inner", "_ops")

    def __init__(self, inner: Any, ops: list[tuple[Any, ...]]) -> None:
        self._inner = inner
        self._ops = ops

    async def call(self, call: Any) -> Any:
        ns, key = getattr(call, "namespace", None), getattr(call, "fact_key", None)
        # Noted before the call too: a process that dies inside it never records the result.
        self._ops.append(("calling", ns, key))
        try:
            result = await self._inner.call(call)
        except Exception as exc:
            self._ops.append(("call", ns, key, None, _code(exc)))
            raise
        self._ops.append(("call", ns, key, _copy(result), None))
        return result

    async def now_millis(self) -> int:
        try:
            value = await self._inner.now_millis()
        except Exception as exc:
            self._ops.append(("now", None, _code(exc)))
            raise
        self._ops.append(("now", value, None))
        return value

    async def random_bytes(self, n: int) -> bytes:
        try:
            value = await self._inner.random_bytes(n)
        except Exception as exc:
            self._ops.append(("random", n, None, _code(exc)))
            raise
        self._ops.append(("random", n, bytes(value).hex(), None))
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Events:
    __slots__ = ("_inner", "_ops")

    def __init__(self, inner: Any, ops: list[tuple[Any, ...]]) -> None:
        self._inner = inner
        self._ops = ops

    def emit(self, name: str, payload: Any = None, payload_ref: str | None = None) -> None:
        try:
            self._inner.emit(name, payload, payload_ref)
        except Exception as exc:
            self._ops.append(("emit", name, _copy_payload(payload), _code(exc), payload_ref))
            raise
        self._ops.append(("emit", name, _copy_payload(payload), None, payload_ref))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def journal_proxies(
    journal: list[JournalEntry], incarnation: int, state: str, ctx: Any, io: Any, events: Any
) -> tuple[JournalEntry, Any, Any, Any]:
    """A new entry in `journal` and the ctx, io and events that record into it."""
    entry = JournalEntry(incarnation, state, io)
    journal.append(entry)
    ops = entry.ops
    return entry, _Ctx(ctx, ops), _Io(io, ops), _Events(events, ops)


class _RecordingTransport:
    __slots__ = ("_env", "_incarnation", "_inner", "_uses")

    def __init__(self, inner: Any, uses: list[TransportUse], incarnation: int, env: Any) -> None:
        self._inner = inner
        self._uses = uses
        self._incarnation = incarnation
        self._env = env

    async def call(self, call: Any) -> Any:
        note_use(self._uses, self._incarnation, self._env, getattr(call, "namespace", "?"))
        return await self._inner.call(call)


def note_use(uses: list[TransportUse], incarnation: int, env: Any, call: str | None) -> None:
    """Record that an incarnation made (`call` None) or called a transport for `env`'s run."""
    # `_value_`, not `.value`: an enum's `value` is a Python-level descriptor.
    mode = getattr(getattr(env.run_config, "io_mode", None), "_value_", None)
    uses.append(TransportUse(incarnation, env.run_id, mode == "replay", call))


class RecordingTransportFactory:
    """For a scenario with no services: the engine's own default factory, every use noted."""

    def __init__(self, inner: Any, uses: list[TransportUse], incarnation: int) -> None:
        self._inner = inner
        self._uses = uses
        self._incarnation = incarnation

    def make(self, env: Any) -> Any:
        note_use(self._uses, self._incarnation, env, None)
        return _RecordingTransport(self._inner.make(env), self._uses, self._incarnation, env)
