"""Generated-workload features for how the main run's transports are installed; drawn
swarm-style from their own fork of the seed's stream, after every other draw, so a seed keeps
the workload it had and only gains these.

- `engine_router`: the transports are built through the engine's public
  `RouterTransportFactory` (`mfm_sim.testing.routed`: one factory per service namespace, as
  a user writes one, each binding its transport to the attempt it serves) instead of the
  harness's own `ServiceFactory`. The same services answer the same calls in the same order.
- `short_route`: a one-letter route `g` (a key-value service of its own) is registered; a
  handler puts a value through `g` and reads it back keyed through `g.x`. ENGINE.md: the
  router sends a call to the route with the longest matching prefix, and `g` matches `g`
  and `g.x`, so both reach the same service and the read answers the value put.
- `no_transport`: a live workload that spawns no child loses its calls and gets no
  transport at all, the engine's default; its handlers call a namespace anyway. ENGINE.md:
  the port takes the original's code `io_unimplemented` (an IO call's refusal: kind OTHER,
  not retryable). Most of these calls are inspected (`mfm_scenarios.inspect_errors`: the
  handler records the refusal's code, kind, whether its info is typed, its retryability);
  with `UNCAUGHT_ODDS` the first program ends in one it does not catch, and fails.

The reference interpreter predicts each from the routes `Routing.routes` names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from mfm_engine.live_io import LiveIoEnv
from mfm_scenarios.interpreter import ROUTES, Routes
from mfm_scenarios.program import CALL, CHILD, Op, Program

from mfm_sim.testing.routed import engine_routed
from mfm_sim.testing.services import ServiceFactory, make_services, with_service
from mfm_sim.world.rng import Rng

__all__ = [
    "ROUTING_FEATURES",
    "SHORT",
    "UNCAUGHT_ODDS",
    "Routing",
    "ServiceRoute",
    "draw_routing",
    "routed_transports",
]

ROUTING_FEATURES = ("engine_router", "short_route", "no_transport")
SHORT = "g"  # the one-letter route: a prefix of length 1
UNCAUGHT_ODDS = 0.3
# Namespaces a no-transport workload calls: served routes elsewhere, and one never served.
_CALLED = ("kv", "ledger", "nosuch.net", SHORT)
_VALUES = (7, "alpha", [1, 2], {"n": 3})


@attrs.frozen
class Routing:
    """What these features add to one seed's workload (its programs are changed in place)."""

    features: frozenset[str]

    def routes(self) -> Routes | None:
        """The routes the main run's router holds, as the interpreter reads them; None: no
        transport is installed."""
        if "no_transport" in self.features:
            return None
        if "short_route" in self.features:
            return (*ROUTES, (SHORT, "kv"))
        return ROUTES


def draw_routing(
    rng: Rng, programs: list[Program], *, replay: bool, history: Any, transports: bool
) -> Routing:
    """Switch each of `ROUTING_FEATURES` on or off and apply it to the main `programs`.
    `transports`: the workload has services (not the child-run wrapper alone). A replay
    routes nothing, and a recorded log may answer a call from its facts, so neither gets
    `short_route` or `no_transport`; `no_transport` needs a workload that spawns no child,
    and takes its calls out."""
    on = set(f for f in ROUTING_FEATURES if rng.chance(0.5))
    spawns = any(op.kind == CHILD for p in programs for op in p.ops)
    live = not replay and history is None
    if not (live and transports and not spawns):
        on.discard("no_transport")
    if not (live and transports) or "no_transport" in on:
        on.discard("short_route")
    if "no_transport" in on or not transports:
        on.discard("engine_router")  # no services to route
    for i, program in enumerate(programs):
        ops = list(program.ops)
        if "no_transport" in on:  # the workload's own calls go: it calls no service
            ops = [op for op in ops if op.kind != CALL]
        if "short_route" in on and rng.chance(0.5):
            at = rng.below(len(ops) + 1)
            ops[at:at] = _short_ops(rng, f"{i}_{at}_{len(ops)}")
        if "no_transport" in on and (i == 0 or rng.chance(0.5)):
            at = rng.below(len(ops) + 1)
            ops.insert(at, _unserved(rng, f"{i}_{at}_{len(ops)}", inspect=True))
            if i == 0 and rng.chance(UNCAUGHT_ODDS):
                ops.append(_unserved(rng, f"{i}_end", inspect=False))
        programs[i] = Program(tuple(ops), program.tags)
    return Routing(frozenset(on))


def _short_ops(rng: Rng, uid: str) -> list[Op]:
    """A put through `g`, then a keyed get of it through `g.x`: the same service answers."""
    value = rng.choice(_VALUES)
    key = f"g_{uid}"
    return [
        Op(CALL, "", name=SHORT, value={"op": "put", "key": key, "value": value}),
        Op(
            CALL,
            key,
            name=f"{SHORT}.x",
            value={"op": "get", "key": key, "expect": value},
            fact_key=key,
        ),
    ]


def _unserved(rng: Rng, uid: str, *, inspect: bool) -> Op:
    """A call with no transport to take it, keyed or not; inspected, or left to fail."""
    return Op(
        CALL,
        f"unimpl_{uid}",
        name=rng.choice(_CALLED),
        value={"op": "get", "key": f"u_{uid}"},
        fact_key=f"unimpl_{uid}" if rng.chance(0.5) else None,
        catch=inspect,
        inspect=inspect,
    )


class ServiceRoute:
    """One service's transport factory, as a user writes one for the engine's router: each
    transport is bound to the attempt it serves (the service records its caller), so it is
    made from the attempt's `LiveIoEnv`, what the engine promises a factory. User code: a
    failure in it under the engine's router is told as the engine's."""

    def __init__(self, namespace: str, service: Any) -> None:
        self._one = ServiceFactory({namespace: service})

    def make(self, env: LiveIoEnv) -> Any:
        if not isinstance(env, LiveIoEnv):
            raise TypeError(f"a transport is made for an attempt's LiveIoEnv, got {env!r}")
        return self._one.make(env)


def routed_transports(services: Any, routing: Routing | None) -> Callable[[Any], Any] | None:
    """`transports` for the ScenarioRun: the workload's `services` (as `make_services` takes
    them; None: the child-run wrapper alone) with `g` added for `short_route`, through the
    engine's router for `engine_router`; None for `no_transport`."""
    on = routing.features if routing is not None else frozenset()
    if services is None or "no_transport" in on:
        return None
    if "short_route" in on:
        services = with_service(services, SHORT, "kv")
    if "engine_router" in on:
        return engine_routed(services, trace=False, route=ServiceRoute)
    return make_services(services, trace=False)
