"""Simulated services routed by the engine's own `RouterTransportFactory`, as a user routes
their transports: one factory per service namespace, so the engine's router picks the
service and passes each factory the attempt it serves.

`make_services` routes with the harness's own `ServiceFactory`; `engine_routed` gives the
same services, the same answers in the same order, through the engine's public router.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mfm_engine.live_io import (
    LiveIoEnv,
    LiveIoTransport,
    LiveIoTransportFactory,
    RouterTransportFactory,
)

from mfm_sim.testing.services import ServiceFactory, ServiceSpec, make_services

__all__ = ["EngineRouted", "Route", "engine_routed"]

# Makes one namespace's transport factory from its service; None: the harness's own.
Route = Callable[[str, Any], LiveIoTransportFactory] | None


class EngineRouted:
    """Services routed by the engine's `RouterTransportFactory`, built when the first attempt
    asks for a transport: inside the engine's call, so a failure of the engine's router is
    told as the engine's (`mfm_sim.world.frames`), never as the harness's."""

    def __init__(self, services: Mapping[str, Any], route: Route = None) -> None:
        self._services = dict(services)
        self._route: Callable[[str, Any], LiveIoTransportFactory] = route or _one_service
        self._router: RouterTransportFactory | None = None

    def make(self, env: LiveIoEnv) -> LiveIoTransport:
        if self._router is None:
            routes = {ns: self._route(ns, svc) for ns, svc in self._services.items()}
            self._router = RouterTransportFactory(routes)
        return self._router.make(env)


def _one_service(namespace: str, service: Any) -> LiveIoTransportFactory:
    return ServiceFactory({namespace: service})


def engine_routed(
    spec: ServiceSpec, *, trace: bool = True, route: Route = None
) -> Callable[[Any], EngineRouted]:
    """`transports` for a ScenarioRun, as `make_services(spec, trace=trace)` but through the
    engine's router: each world gets fresh services under their namespaces. `route(namespace,
    service)` makes one namespace's factory (default: the harness's, bound to the attempt)."""
    made = make_services(spec, trace=trace)

    def transports(world: Any) -> EngineRouted:
        return EngineRouted(made(world).services, route)

    return transports
