"""Simulated external services that handlers reach through live IO; they count effects per key.

Every service lives in one simulated world (`world.services[namespace]`), so nothing leaks
between simulations. A service counts each *applied* effect with `world.effect(key)`, which
invariant 9 (`effects_at_most_once`) reads, and keeps a `records` list of every call: which
state and attempt made it (the transport factory is handed the attempt's `LiveIoEnv`), in
which incarnation and at which virtual time, with which fact key and idempotency key, and
whether it applied an effect. The diagnostics in `mfm_sim.world.strict` read those records to name
the handler that charged twice.

- `Ledger` (namespace `ledger`): a payment-like ledger with idempotency keys.
- `KeyValueService` (namespace `kv`): get/put/delete/cas/incr, idempotency keys on writes.
- `FlakyService`: wraps another service with seeded latency, transient errors (no effect) and
  ambiguous errors (the effect happened, the caller sees an error). Its randomness comes
  from the world's stream `service:<name>`, never from the global `random`.

`make_services(spec)` turns `("ledger", "kv")` or `{"ledger": flaky("ledger")}` into the
`transports` callable a `ScenarioRun` takes.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from mfm_engine.errors import ErrorCategory, IoErrorKind
from mfm_engine.live_io import IoCall, LiveIoEnv, LiveIoTransport, NamespaceRouter, io_error

__all__ = [
    "SERVICE_MAKERS",
    "FlakyService",
    "KeyValueService",
    "Ledger",
    "Service",
    "ServiceFactory",
    "ServiceRecord",
    "flaky",
    "ledger_factory",
    "make_services",
    "service_records",
    "with_service",
]


@attrs.frozen
class ServiceRecord:
    """One call a service received, and who made it."""

    service: str
    op: str
    effect_key: str | None  # the key the effect is counted under (None: reads, natural no-ops)
    applied: bool  # this call applied an effect (world.effects[effect_key] went up)
    count: int  # world.effects[effect_key] after this call (0 if not counted)
    state_id: str | None
    attempt: int | None
    run_id: str | None
    incarnation: int
    vt_ns: int
    step: int  # the world's fault-point counter at the call: orders records across services
    fact_key: str | None
    idempotency_key: str | None
    summary: str

    def caller(self) -> str:
        if self.state_id is None:
            return "an unknown caller"
        return f"{self.state_id} attempt {self.attempt}"


class Service:
    """The base class of a simulated external service; subclass it for your own.

    A subclass sets `NAMESPACE`, keeps its state in `self.data` (initial data is the `data`
    constructor argument, copied) and implements `call_as(call, env)`: `env` is the calling
    attempt's `LiveIoEnv` (None outside a bound transport). For every call it makes one
    `record(...)`: with `effect_key` and `apply=True` when the call applied an effect, which
    counts the effect under that key (invariant 9, `effects_at_most_once`), notes the calling
    state, attempt and incarnation (what a report's why/fix lines and handler names come
    from) and, with `trace`, adds a timeline line.

    After each schedule, `state()` (by default `{"data": self.data}`) is compared with the
    fault-free run's (the `service_state` check), except the fields named in `IDEMPOTENT`:
    what an idempotent repeat may change (a version counter), so not a double effect.
    """

    NAMESPACE = "service"
    IDEMPOTENT: tuple[str, ...] = ()

    def __init__(
        self, world: Any, *, trace: bool = False, data: Mapping[str, Any] | None = None
    ) -> None:
        self._world = world
        self._trace = trace
        self.records: list[ServiceRecord] = []
        self.calls = 0
        self.data: dict[str, Any] = copy.deepcopy(dict(data or {}))

    def record(
        self,
        env: LiveIoEnv | None,
        call: IoCall | None,
        op: str,
        summary: str,
        *,
        effect_key: str | None = None,
        apply: bool = False,
        idempotency_key: str | None = None,
    ) -> ServiceRecord:
        """Note one call: who made it, and the effect it applied (counted per key)."""
        world = self._world
        count = 0
        if effect_key is not None and apply:
            world.effect(effect_key)
        if effect_key is not None:
            count = world.effects.get(effect_key, 0)
        injector = getattr(world, "injector", None)
        incarnation = getattr(injector, "incarnation", 0) if injector is not None else 0
        step = getattr(injector, "step", 0) if injector is not None else 0
        clock = getattr(world, "clock", None)
        vt_ns = clock.now_ns if clock is not None else 0
        record = ServiceRecord(
            service=self.NAMESPACE,
            op=op,
            effect_key=effect_key,
            applied=apply and effect_key is not None,
            count=count,
            state_id=env.state_id if env is not None else None,
            attempt=env.attempt if env is not None else None,
            run_id=str(env.run_id) if env is not None else None,
            incarnation=incarnation,
            vt_ns=vt_ns,
            step=step,
            fact_key=call.fact_key if call is not None else None,
            idempotency_key=idempotency_key,
            summary=summary,
        )
        self.records.append(record)
        trace = getattr(world, "trace", None)
        if self._trace and trace is not None:
            who = f"{env.state_id}#{env.attempt}" if env is not None else "?"
            what = f"{summary} by {who}"
            if record.applied:
                what += f" -> applied (effect {effect_key!r} x{count})"
            trace.add(incarnation, "service", f"{self.NAMESPACE} {what}")
        return record

    def state(self) -> dict[str, Any]:
        """The service's state at the end of a schedule, as JSON-like data by field."""
        return {"data": self.data}

    def compared_state(self) -> dict[str, Any]:
        """`state()` without the `IDEMPOTENT` fields: what must equal the fault-free run's."""
        return copy.deepcopy({k: v for k, v in self.state().items() if k not in self.IDEMPOTENT})

    async def call(self, call: IoCall) -> Any:
        return await self.call_as(call, None)

    async def call_as(self, call: IoCall, env: LiveIoEnv | None) -> Any:  # pragma: no cover
        raise NotImplementedError


def _bad_request(service: str, message: str) -> Exception:
    return io_error(
        IoErrorKind.OTHER, f"{service}_bad_request", ErrorCategory.PARSING_INPUT, message
    )


class Ledger(Service):
    """A payment-like ledger: an idempotency key makes a charge apply once; without one, every
    call applies.

    `world.effects[key]` counts *applied* charges, so invariant 9 sees any double charge. An
    unkeyed charge is counted under `"{account}:{amount}:unkeyed"`: repeating the same unkeyed
    charge (what a retry of a non-idempotent handler does) counts as the same effect twice.
    """

    NAMESPACE = "ledger"

    def __init__(
        self, world: Any, *, trace: bool = False, data: Mapping[str, int] | None = None
    ) -> None:
        super().__init__(world, trace=trace, data=data)
        self.balances: dict[str, int] = self.data  # account -> balance; `data` is the initial
        self._applied: dict[str, dict[str, Any]] = {}

    def charge(
        self,
        account: str,
        amount: int,
        idempotency_key: str | None,
        *,
        env: LiveIoEnv | None = None,
        call: IoCall | None = None,
    ) -> dict[str, Any]:
        self.calls += 1
        summary = f"charge {account} {amount} idempotency_key={idempotency_key or '-'}"
        if idempotency_key is not None and idempotency_key in self._applied:
            self.record(
                env, call, "charge", summary + " (deduplicated)", idempotency_key=idempotency_key
            )
            return self._applied[idempotency_key]
        self.balances[account] = self.balances.get(account, 0) + amount
        key = idempotency_key or f"{account}:{amount}:unkeyed"
        self.record(
            env,
            call,
            "charge",
            summary,
            effect_key=key,
            apply=True,
            idempotency_key=idempotency_key,
        )
        receipt = {"account": account, "amount": amount, "balance": self.balances[account]}
        if idempotency_key is not None:
            self._applied[idempotency_key] = receipt
        return receipt

    async def call_as(self, call: IoCall, env: LiveIoEnv | None) -> Any:
        req = call.request
        if not isinstance(req, dict) or req.get("op") != "charge":
            raise io_error(
                IoErrorKind.OTHER,
                "ledger_bad_request",
                ErrorCategory.PARSING_INPUT,
                "ledger requests are {op: charge, account, amount, idempotency_key}",
            )
        return self.charge(
            str(req["account"]), int(req["amount"]), req.get("idempotency_key"), env=env, call=call
        )


class KeyValueService(Service):
    """A versioned key-value store: `{op: get|put|delete|cas|incr, key, ...}`.

    Writes may carry an `idempotency_key`: the first write under it applies and its response
    is returned for every repeat (effect key `kv:<idempotency_key>`). Without one, `put`,
    `delete` and `cas` are naturally idempotent and not counted; an unkeyed `incr` is counted
    under `kv:incr:<key>:unkeyed`, so a retried increment shows up as a double effect.
    """

    NAMESPACE = "kv"
    OPS = ("get", "put", "delete", "cas", "incr")
    # A repeated put or cas under no idempotency key bumps the version, nothing else.
    IDEMPOTENT = ("versions",)

    def __init__(
        self, world: Any, *, trace: bool = False, data: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(world, trace=trace, data=data)
        self.versions: dict[str, int] = {key: 1 for key in self.data}
        self._applied: dict[str, Any] = {}

    def state(self) -> dict[str, Any]:
        return {"data": self.data, "versions": self.versions}

    def _bump(self, key: str) -> int:
        version = self.versions.get(key, 0) + 1
        self.versions[key] = version
        return version

    def apply(
        self, req: Mapping[str, Any], *, env: LiveIoEnv | None = None, call: IoCall | None = None
    ) -> Any:
        self.calls += 1
        op = req.get("op")
        if op not in self.OPS or not isinstance(req.get("key"), str):
            raise _bad_request("kv", f"kv requests are {{op: {'|'.join(self.OPS)}, key, ...}}")
        key: str = req["key"]
        idem = req.get("idempotency_key")
        summary = f"{op} {key}"
        if op == "get":
            self.record(env, call, op, summary)
            return {
                "key": key,
                "found": key in self.data,
                "value": self.data.get(key),
                "version": self.versions.get(key, 0),
            }
        if idem is not None and idem in self._applied:
            self.record(env, call, op, summary + " (deduplicated)", idempotency_key=idem)
            return self._applied[idem]
        if op == "put":
            self.data[key] = req.get("value")
            result: Any = {"key": key, "version": self._bump(key)}
            effect = None
        elif op == "delete":
            found = key in self.data
            self.data.pop(key, None)
            result = {
                "key": key,
                "deleted": found,
                "version": self._bump(key) if found else self.versions.get(key, 0),
            }
            effect = None
        elif op == "cas":
            current = self.versions.get(key, 0)
            ok = current == int(req.get("expected_version", 0))
            if ok:
                self.data[key] = req.get("value")
                current = self._bump(key)
            result = {"key": key, "ok": ok, "version": current}
            effect = None
        else:  # incr
            by = int(req.get("by", 1))
            value = int(self.data.get(key, 0)) + by
            self.data[key] = value
            result = {"key": key, "value": value, "version": self._bump(key)}
            effect = f"kv:incr:{key}:unkeyed"
        if idem is not None:
            effect = f"kv:{idem}"
            self._applied[idem] = result
        self.record(
            env,
            call,
            op,
            summary,
            effect_key=effect,
            apply=effect is not None,
            idempotency_key=idem,
        )
        return result

    async def call_as(self, call: IoCall, env: LiveIoEnv | None) -> Any:
        if not isinstance(call.request, dict):
            raise _bad_request("kv", "kv requests are JSON objects")
        return self.apply(call.request, env=env, call=call)


class FlakyService(Service):
    """Another service behind a flaky network: seeded latency, transient and ambiguous errors.

    Per call it draws, in this order and always all three, from `world.streams.stream(
    "service:<name>")`: a latency in [0, max_latency_ms] virtual milliseconds, a transient
    error (the call does not reach the inner service) with `transient_rate`, and an ambiguous
    error (the inner service applied the call, the caller sees a retryable error) with
    `ambiguous_rate`. Same seed, same failures.
    """

    def __init__(
        self,
        world: Any,
        inner: Any,
        *,
        name: str | None = None,
        transient_rate: float = 0.1,
        ambiguous_rate: float = 0.05,
        max_latency_ms: int = 200,
        trace: bool = False,
    ) -> None:
        super().__init__(world, trace=trace)
        self.inner = inner
        self.name = name or getattr(inner, "NAMESPACE", "flaky")
        self.NAMESPACE = self.name  # type: ignore[misc]
        self.transient_rate = transient_rate
        self.ambiguous_rate = ambiguous_rate
        self.max_latency_ms = max_latency_ms
        self._rng = world.streams.stream(f"service:{self.name}")
        self.transient_errors = 0
        self.ambiguous_errors = 0

    def state(self) -> dict[str, Any]:
        inner = getattr(self.inner, "state", None)
        return inner() if inner is not None else {}

    def compared_state(self) -> dict[str, Any] | None:  # type: ignore[override]
        """The inner service's: the network in front of it keeps no state."""
        inner = getattr(self.inner, "compared_state", None)
        return inner() if inner is not None else None

    def _failed(self, env: Any, call: IoCall, kind: str, effect: str) -> Exception:
        """Record an injected `kind` error on the timeline and make the retryable RPC error."""
        self.record(env, call, f"{kind}_error", f"{kind} error ({self.name})")
        return io_error(
            IoErrorKind.TRANSPORT,
            f"service_{kind}_error",
            ErrorCategory.RPC,
            f"{self.name}: {kind} error ({effect})",
            retryable=True,
        )

    async def call_as(self, call: IoCall, env: LiveIoEnv | None) -> Any:
        self.calls += 1
        rng = self._rng
        latency = rng.below(self.max_latency_ms + 1) if self.max_latency_ms > 0 else 0
        transient = rng.random() < self.transient_rate
        ambiguous = rng.random() < self.ambiguous_rate
        if latency:
            await asyncio.sleep(latency / 1000)
        if transient:
            self.transient_errors += 1
            raise self._failed(env, call, "transient", "the call had no effect")
        result = await _call(self.inner, call, env)
        if ambiguous:
            self.ambiguous_errors += 1
            raise self._failed(env, call, "ambiguous", "the call may have taken effect")
        return result


async def _call(service: Any, call: IoCall, env: LiveIoEnv | None) -> Any:
    call_as = getattr(service, "call_as", None)
    if call_as is not None:
        return await call_as(call, env)
    return await service.call(call)


class _Bound:
    """A service as one attempt sees it: every call carries the attempt's env."""

    __slots__ = ("_env", "_service")

    def __init__(self, service: Any, env: LiveIoEnv) -> None:
        self._service = service
        self._env = env

    async def call(self, call: IoCall) -> Any:
        return await _call(self._service, call, self._env)


class ServiceFactory:
    """A live-IO transport factory over a fixed set of services, routed by namespace prefix.

    `make(env)` binds each service to the attempt it serves, so services that record their
    callers (`call_as`) know the state id and attempt of every call.
    """

    def __init__(self, services: Mapping[str, LiveIoTransport]) -> None:
        self.services = dict(services)

    def make(self, env: LiveIoEnv) -> LiveIoTransport:
        return NamespaceRouter({ns: _Bound(svc, env) for ns, svc in self.services.items()})


def ledger_factory(world: Any) -> ServiceFactory:
    ledger = world.services.get("ledger")
    if ledger is None:
        ledger = world.services["ledger"] = Ledger(world)
    return ServiceFactory({Ledger.NAMESPACE: ledger})  # type: ignore[dict-item]


ServiceMaker = Callable[..., Any]  # (world, *, trace=...) -> a service
SERVICE_MAKERS: dict[str, ServiceMaker] = {"ledger": Ledger, "kv": KeyValueService}


def _maker(spec: str | ServiceMaker) -> ServiceMaker:
    if isinstance(spec, str):
        try:
            return SERVICE_MAKERS[spec]
        except KeyError:
            known = ", ".join(sorted(SERVICE_MAKERS))
            raise ValueError(
                f"unknown service {spec!r}; the built-in services are {known}; for your own, "
                f"map a namespace to its class: services={{{spec!r}: YourService}}"
            ) from None
    if not callable(spec):
        raise TypeError(f"a service is a name or a callable(world) -> service, got {spec!r}")
    return spec


def _instantiate(maker: ServiceMaker, world: Any, trace: bool) -> Any:
    """`maker(world, trace=...)` if it takes `trace`, else `maker(world)`."""
    try:
        params = inspect.signature(maker).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    takes_trace = "trace" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    return maker(world, trace=trace) if takes_trace else maker(world)


def flaky(
    inner: str | ServiceMaker,
    *,
    name: str | None = None,
    transient_rate: float = 0.1,
    ambiguous_rate: float = 0.05,
    max_latency_ms: int = 200,
) -> ServiceMaker:
    """A service maker: `inner` (a service name or maker) behind a `FlakyService`."""
    make_inner = _maker(inner)
    label = name or (inner if isinstance(inner, str) else None)

    def make(world: Any, *, trace: bool = False) -> FlakyService:
        service = _instantiate(make_inner, world, trace)
        return FlakyService(
            world,
            service,
            name=label,
            transient_rate=transient_rate,
            ambiguous_rate=ambiguous_rate,
            max_latency_ms=max_latency_ms,
            trace=trace,
        )

    return make


ServiceSpec = Iterable[str] | Mapping[str, "str | ServiceMaker"]


def with_service(spec: ServiceSpec, namespace: str, maker: Any) -> dict[str, Any]:
    """`spec` (as `make_services` takes it) with one more service under `namespace`."""
    named = dict(spec) if isinstance(spec, Mapping) else {str(name): name for name in spec}
    return {**named, namespace: maker}


def make_services(spec: ServiceSpec, *, trace: bool = True) -> Callable[[Any], ServiceFactory]:
    """`transports` for a ScenarioRun: each world gets fresh services under their namespaces.

    `spec` is a sequence of built-in names (`"ledger"`, `"kv"`) or a mapping namespace ->
    name or maker (`callable(world) -> service`, e.g. `flaky("ledger")`).
    """
    if isinstance(spec, Mapping):
        items = [(str(ns), _maker(m)) for ns, m in spec.items()]
    else:
        items = [(str(name), _maker(name)) for name in spec]

    def transports(world: Any) -> ServiceFactory:
        routes: dict[str, Any] = {}
        for namespace, maker in items:
            service = world.services.get(namespace)
            if service is None:
                service = world.services[namespace] = _instantiate(maker, world, trace)
            routes[namespace] = service
        return ServiceFactory(routes)

    return transports


def service_records(world: Any) -> list[ServiceRecord]:
    """Every call record of every service in `world` (wrapped services included), by time."""
    out: list[ServiceRecord] = []
    seen: list[int] = []
    for namespace in sorted(getattr(world, "services", {})):
        service = world.services[namespace]
        while service is not None and id(service) not in seen:
            seen.append(id(service))
            out.extend(getattr(service, "records", ()))
            service = getattr(service, "inner", None)
    out.sort(key=lambda r: (r.incarnation, r.vt_ns, r.step))
    return out


def describe_request(request: Any) -> str:
    text = json.dumps(request, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
