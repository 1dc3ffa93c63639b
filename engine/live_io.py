"""Live IO through facts: transports, the namespace router, the fact index and the recorder."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs
from mfm_engine.config import RunConfig
from mfm_engine.context import put_canonical, read_json_artifact
from mfm_engine.errors import ErrorCategory, IoError, IoErrorKind, corruption, info
from mfm_engine.events import FACT_RECORDED, DomainEvent, EventEnvelope
from mfm_engine.hashing import (
    FloatNotAllowed,
    NotJson,
    SecretsNotAllowed,
    canonical_json_bytes,
)
from mfm_engine.ids import is_artifact_id
from mfm_engine.sources import Clock, Entropy
from mfm_engine.stores import ArtifactKind, Stores


@attrs.frozen
class IoCall:
    namespace: str
    request: Any
    fact_key: str | None = None


class LiveIoTransport(Protocol):
    async def call(self, call: IoCall) -> Any: ...


@attrs.frozen
class LiveIoEnv:
    """What a transport factory knows about the attempt it serves."""

    run_id: uuid.UUID
    state_id: str
    attempt: int
    stores: Stores
    run_config: RunConfig


class LiveIoTransportFactory(Protocol):
    def make(self, env: LiveIoEnv) -> LiveIoTransport: ...


def io_error(
    kind: IoErrorKind, code: str, category: ErrorCategory, message: str, *, retryable: bool = False
) -> IoError:
    return IoError(kind, info(code, category, message, retryable=retryable))


class UnimplementedTransport:
    async def call(self, call: IoCall) -> Any:
        raise io_error(
            IoErrorKind.OTHER,
            "io_unimplemented",
            ErrorCategory.UNKNOWN,
            f"no live IO transport is installed (namespace {call.namespace})",
        )


class UnimplementedLiveIoTransportFactory:
    def make(self, env: LiveIoEnv) -> LiveIoTransport:
        return UnimplementedTransport()


def _route_matches(pattern: str, namespace: str) -> int:
    """Length of the matched prefix, or -1. `g` matches `g` and `g.x`; `g.*` matches `g.x` only."""
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        return len(prefix) if namespace.startswith(prefix) else -1
    if namespace == pattern or namespace.startswith(pattern + "."):
        return len(pattern)
    return -1


class NamespaceRouter:
    """Sends a call to the transport registered under the longest matching namespace prefix."""

    def __init__(self, routes: Mapping[str, LiveIoTransport]) -> None:
        self._routes = list(routes.items())

    def route(self, namespace: str) -> LiveIoTransport:
        best, best_len = None, -1
        for pattern, transport in self._routes:
            n = _route_matches(pattern, namespace)
            if n > best_len:
                best, best_len = transport, n
        if best is None:
            raise io_error(
                IoErrorKind.OTHER,
                "io_unknown_namespace",
                ErrorCategory.UNKNOWN,
                f"no transport for namespace {namespace!r}",
            )
        return best

    async def call(self, call: IoCall) -> Any:
        return await self.route(call.namespace).call(call)


class RouterTransportFactory:
    """A factory whose transports route by namespace to per-prefix factories."""

    def __init__(self, routes: Mapping[str, LiveIoTransportFactory]) -> None:
        self._routes = dict(routes)

    def make(self, env: LiveIoEnv) -> LiveIoTransport:
        return NamespaceRouter({p: f.make(env) for p, f in self._routes.items()})


class FactIndex:
    """Single-assignment bindings of fact keys to payload artifact ids."""

    def __init__(self, bindings: dict[str, str] | None = None) -> None:
        self._bindings: dict[str, str] = dict(bindings or {})

    @classmethod
    def from_event_stream(cls, stream: Sequence[EventEnvelope]) -> FactIndex:
        index = cls()
        for env in stream:
            event = env.event
            if not isinstance(event, DomainEvent) or event.name != FACT_RECORDED:
                continue
            payload = event.payload
            if (
                not isinstance(payload, dict)
                or not isinstance(payload.get("key"), str)
                or not is_artifact_id(payload.get("payload_id"))
            ):
                raise corruption(
                    "fact_recorded_malformed",
                    f"malformed fact_recorded at seq {env.seq}",
                    {"seq": env.seq},
                )
            key, payload_id = payload["key"], payload["payload_id"]
            bound = index._bindings.get(key)
            if bound is None:
                index._bindings[key] = payload_id
            elif bound != payload_id:
                # The key names the fact; the payloads themselves never go into an error.
                raise corruption(
                    "fact_recorded_conflict",
                    f"fact {key!r} bound twice (seq {env.seq})",
                    {"seq": env.seq, "key": key},
                )
        return index

    def get(self, key: str) -> str | None:
        return self._bindings.get(key)

    def bind(self, key: str, payload_id: str) -> bool:
        """Bind if unbound; True if this call made the binding."""
        bound = self._bindings.get(key)
        if bound is None:
            self._bindings[key] = payload_id
            return True
        if bound != payload_id:
            raise io_error(
                IoErrorKind.OTHER,
                "fact_payload_conflict",
                ErrorCategory.UNKNOWN,
                f"fact {key!r} is already bound to another payload",
            )
        return False

    def unbind(self, key: str) -> None:
        self._bindings.pop(key, None)

    def keys(self) -> list[str]:
        return list(self._bindings)

    def __len__(self) -> int:
        return len(self._bindings)


def derived_fact_key(
    kind: str, run_id: uuid.UUID, state_id: str, attempt: int, ordinal: int
) -> str:
    return f"mfm:{kind}|run:{run_id}|state:{state_id}|attempt:{attempt}|ord:{ordinal}"


NOT_RECORDED: Any = object()


def _payload_invalid(key: str, problem: str) -> IoError:
    return io_error(
        IoErrorKind.OTHER,
        "fact_payload_invalid",
        ErrorCategory.PARSING_INPUT,
        f"recorded fact {key!r} {problem}",
    )


def recorded_now_millis(key: str, recorded: Any) -> int:
    """The time a `now_millis` fact recorded, or `fact_payload_invalid`."""
    value = recorded.get("now_millis") if isinstance(recorded, dict) else None
    if type(value) is not int:
        raise _payload_invalid(key, "is not a now_millis record")
    return value


def recorded_random_bytes(key: str, recorded: Any, n: int) -> bytes:
    """The bytes a `random_bytes(n)` fact recorded: exactly `n`, or `fact_payload_invalid`."""
    text = recorded.get("hex") if isinstance(recorded, dict) else None
    try:
        value = bytes.fromhex(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _payload_invalid(key, "is not a random_bytes record") from None
    if len(value) != n:
        raise _payload_invalid(key, f"holds {len(value)} random bytes where {n} were asked")
    return value


class _IoBase:
    """What live and replay IO share: recorded payload lookup and derived keys."""

    def __init__(
        self, stores: Stores, facts: FactIndex, run_id: uuid.UUID, state_id: str, attempt: int
    ) -> None:
        self._stores = stores
        self._facts = facts
        self._run_id = run_id
        self._state_id = state_id
        self._attempt = attempt
        self._ordinal = 0

    async def _recorded(self, key: str) -> Any:
        """The recorded payload for `key`, or `NOT_RECORDED`."""
        payload_id = self._facts.get(key)
        if payload_id is None:
            return NOT_RECORDED
        return await read_json_artifact(self._stores.artifacts, payload_id)

    def _next_key(self, kind: str) -> str:
        key = derived_fact_key(kind, self._run_id, self._state_id, self._attempt, self._ordinal)
        self._ordinal += 1
        return key


class LiveIo(_IoBase):
    """Live IO: a bound fact answers from its record; otherwise the transport runs, recorded."""

    def __init__(
        self,
        stores: Stores,
        facts: FactIndex,
        run_id: uuid.UUID,
        state_id: str,
        attempt: int,
        transport: LiveIoTransport,
        writer: Any,
        clock: Clock,
        entropy: Entropy,
    ) -> None:
        super().__init__(stores, facts, run_id, state_id, attempt)
        self._transport = transport
        self._writer = writer
        self._clock = clock
        self._entropy = entropy

    async def call(self, call: IoCall) -> Any:
        if call.fact_key is None:
            return await self._transport.call(call)
        recorded = await self._recorded(call.fact_key)
        if recorded is not NOT_RECORDED:
            return recorded
        result = await self._transport.call(call)
        await self._record(call.fact_key, result)
        return result

    async def _record(self, key: str, value: Any) -> None:
        try:
            data = canonical_json_bytes(value)
        except SecretsNotAllowed:
            raise io_error(
                IoErrorKind.OTHER,
                "secrets_detected",
                ErrorCategory.UNKNOWN,
                "fact payload contained secrets",
            ) from None
        except (FloatNotAllowed, NotJson) as exc:
            raise io_error(
                IoErrorKind.OTHER,
                "fact_payload_not_canonical",
                ErrorCategory.PARSING_INPUT,
                str(exc),
            ) from None
        payload_id = await put_canonical(self._stores.artifacts, ArtifactKind.FACT_PAYLOAD, data)
        made = self._facts.bind(key, payload_id)
        try:
            await self._writer.append(
                [DomainEvent(FACT_RECORDED, {"key": key, "payload_id": payload_id, "meta": {}})]
            )
        except BaseException:
            if made:
                self._facts.unbind(key)
            raise

    async def now_millis(self) -> int:
        key = self._next_key("now_millis")
        recorded = await self._recorded(key)
        if recorded is not NOT_RECORDED:
            return recorded_now_millis(key, recorded)
        value = self._clock.now_millis()
        await self._record(key, {"now_millis": value})
        return value

    async def random_bytes(self, n: int) -> bytes:
        key = self._next_key("random_bytes")
        recorded = await self._recorded(key)
        if recorded is not NOT_RECORDED:
            return recorded_random_bytes(key, recorded, n)
        value = self._entropy.random_bytes(n)
        await self._record(key, {"hex": value.hex()})
        return value
