"""Turn a user's plan and handlers into a `Scenario` the simulator runs under fault schedules.

    from mfm_sim import simulate
    from mfm_sim.testing.userplan import user_scenario

    scenario = user_scenario("payments", build_plan, initial_context={"order": {...}})
    result = simulate(scenario, seed=7)

`plan_or_builder` is an `ExecutionPlan`, or a callable returning one (or a whole
`ScenarioRun`) that takes either nothing or the scenario's seeded `Rng` (the project's own
generator, see `mfm_sim.world.rng`), told apart by its signature: one required positional
parameter, or an optional one named `rng` or annotated `Rng`, gets the Rng; optional
parameters of any other name keep their defaults. Prefer a builder when handlers keep state
(call counters, caches): it is called once per simulation, so nothing leaks from one seed to
the next.
States of a plan passed as an object are shared by every simulation.

What the scenario adds around the user's plan:
- **Knobs from the seed**: without `run_config`, each seed draws max attempts (2..5), the
  backoff (fixed or exponential, 0 ms to 2 s) and the event profile (SPEC §5).
- **Services**: `services` names the simulated services handlers reach through live IO
  (`"ledger"`, `"kv"`, or a mapping namespace -> maker such as `flaky("ledger")`, see
  `mfm_sim.testing.services`); each simulation gets fresh ones, which record their callers.
- **Handler scope**: every state is wrapped so the running handler's state id is known to
  `mfm_sim.world.strict` (naming the handler that read the clock) and to the services.
- **The simulation scope** (`mfm_sim.world.scope`) for `buggify`: the runner calls the scenario's
  `transports` hook with each simulation's world; the hook makes that world current.
- **Diagnostics**: the hook also remembers the last worlds (`captured_worlds`), so a report
  can read the services' call records after `simulate` returns.

The fault-free reference run the crash-transparency invariant compares against is cached
by scenario name, manifest and initial context, so two different plans must not share a
name: `user_scenario` makes each name it returns unique within the process (`payments`,
`payments~2`, ...). A builder that takes the `Rng` may draw a different plan per seed, so
its manifest gets `input_params={"plan_instance": <drawn>}` unless `input_params` is given.
"""

from __future__ import annotations

import collections
import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping, MutableSequence
from typing import Any

from mfm_engine.config import RunConfig
from mfm_engine.events import RunPhase
from mfm_engine.meta import StateMeta
from mfm_engine.plan import ExecutionPlan, PlanResolver, StateGraph, StateNode

from mfm_sim.faults.kinds import FaultKind, parse_kinds
from mfm_sim.run.knobs import draw_run_config as draw_knobs
from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun
from mfm_sim.testing.handler_errors import HandlerError, RecordingContext, not_async, raised
from mfm_sim.testing.services import ServiceSpec, make_services
from mfm_sim.world.rng import Rng
from mfm_sim.world.scope import enter_simulation, handler_scope

__all__ = [
    "HandlerScoped",
    "captured_errors",
    "captured_worlds",
    "draw_run_config",
    "scoped_plan",
    "unwrap_state",
    "user_scenario",
]

MIN_ATTEMPTS = 2
MAX_ATTEMPTS = 5
# Handler mistakes kept per scenario: a report names the first few, not every retry's.
MAX_ERRORS = 32


def draw_run_config(rng: Rng) -> RunConfig:
    """The seed's knobs, with at least two attempts: a user's handler is meant to be retried
    after a crash, and a retry is where a handler that is not crash-safe shows itself."""
    return draw_knobs(rng, min_attempts=MIN_ATTEMPTS, max_attempts=MAX_ATTEMPTS)


class HandlerScoped:
    """A user's state, unchanged, except that its handler runs inside `handler_scope` and, with
    a `sink`, its own mistakes are recorded there (`mfm_sim.testing.handler_errors`)."""

    __slots__ = ("inner", "sink", "state_id")

    def __init__(
        self, inner: Any, state_id: str, sink: MutableSequence[HandlerError] | None = None
    ) -> None:
        self.inner = inner
        self.state_id = state_id
        self.sink = sink

    def meta(self) -> StateMeta:
        return self.inner.meta()

    async def handle(self, ctx: Any, io: Any, events: Any) -> Any:
        with handler_scope(self.state_id):
            if self.sink is None:
                return await self.inner.handle(ctx, io, events)
            return await self._recorded(self.sink, ctx, io, events)

    async def _recorded(
        self, sink: MutableSequence[HandlerError], ctx: Any, io: Any, events: Any
    ) -> Any:
        try:
            pending = self.inner.handle(RecordingContext(ctx, self.state_id, sink), io, events)
        except BaseException as exc:
            sink.append(raised(self.state_id, exc))
            raise
        if not inspect.isawaitable(pending):
            error = not_async(self.state_id, self.inner)
            sink.append(error)
            raise TypeError(error.message)
        try:
            return await pending
        except Exception as exc:
            sink.append(raised(self.state_id, exc))
            raise

    def __repr__(self) -> str:
        return f"HandlerScoped({self.state_id}, {self.inner!r})"


def unwrap_state(state: Any) -> Any:
    while isinstance(state, HandlerScoped):
        state = state.inner
    return state


def scoped_plan(
    plan: ExecutionPlan, sink: MutableSequence[HandlerError] | None = None
) -> ExecutionPlan:
    states = tuple(
        StateNode(
            n.id,
            n.state if isinstance(n.state, HandlerScoped) else HandlerScoped(n.state, n.id, sink),
        )
        for n in plan.graph.states
    )
    return ExecutionPlan(plan.op_id, StateGraph(states, plan.graph.edges))


class _ScopedResolver:
    def __init__(
        self, inner: PlanResolver, sink: MutableSequence[HandlerError] | None = None
    ) -> None:
        self._inner = inner
        self._sink = sink

    def resolve(self, manifest: Any) -> ExecutionPlan:
        return scoped_plan(self._inner.resolve(manifest), self._sink)


class _Capture:
    """The worlds of the last simulations of one scenario (the main run's first), and the
    mistakes its handlers made since the last `clear_captured`."""

    def __init__(self) -> None:
        self.worlds: collections.deque[Any] = collections.deque(maxlen=4)
        self.errors: collections.deque[HandlerError] = collections.deque(maxlen=MAX_ERRORS)


# Weak: a capture lives as long as its scenario (whose build closure holds it).
_CAPTURES: weakref.WeakValueDictionary[str, _Capture] = weakref.WeakValueDictionary()
_NAMES: dict[str, int] = {}


def captured_worlds(scenario: Scenario | str) -> list[Any]:
    """The worlds the scenario's last simulations ran in, oldest first (at most four).

    `simulate` builds the main run's world before the fault-free reference run's, so after
    `clear_captured(scenario)` and one `simulate`, the first world is the main one."""
    name = scenario if isinstance(scenario, str) else scenario.name
    capture = _CAPTURES.get(name)
    return list(capture.worlds) if capture is not None else []


def clear_captured(scenario: Scenario | str) -> None:
    name = scenario if isinstance(scenario, str) else scenario.name
    capture = _CAPTURES.get(name)
    if capture is not None:
        capture.worlds.clear()
        capture.errors.clear()


def captured_errors(scenario: Scenario | str) -> list[HandlerError]:
    """The handler mistakes of the scenario's simulations since `clear_captured`, in order."""
    name = scenario if isinstance(scenario, str) else scenario.name
    capture = _CAPTURES.get(name)
    return list(capture.errors) if capture is not None else []


def _unique(name: str) -> str:
    n = _NAMES.get(name, 0) + 1
    _NAMES[name] = n
    return name if n == 1 else f"{name}~{n}"


def _takes_rng(fn: Callable[..., Any]) -> bool:
    """Whether a builder is called with the simulator's `Rng`, told apart by its signature: a
    required positional parameter takes it; an optional one only when it is named `rng` or
    annotated `Rng` (`def build(region="eu")` is called with nothing)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    if len(required) > 1:
        names = ", ".join(p.name for p in required)
        raise TypeError(
            f"the plan builder {getattr(fn, '__qualname__', fn)!r} requires {len(required)} "
            f"arguments ({names}); a builder takes nothing, or one: the simulator's Rng"
        )
    if required:
        return True
    return any(p.name == "rng" or p.annotation in (Rng, "Rng") for p in positional)


def _call_builder(fn: Callable[..., Any], rng: Rng) -> Any:
    return fn(rng) if _takes_rng(fn) else fn()


def _as_reference(model: Any, plan: ExecutionPlan, initial: Mapping[str, Any]) -> Reference | None:
    if model is None or isinstance(model, Reference):
        return model
    if callable(model):
        return _as_reference(model(plan, dict(initial)), plan, initial)
    if isinstance(model, Mapping):
        return Reference(RunPhase.COMPLETED, dict(model))
    if isinstance(model, tuple) and len(model) == 2:
        phase, snapshot = model
        return Reference(RunPhase(phase) if isinstance(phase, str) else phase, snapshot)
    raise TypeError(
        "model is a Reference, a final context (dict), a (phase, context) pair or a "
        f"callable(plan, initial_context) returning one; got {type(model).__name__}"
    )


def _kinds(faults: Iterable[FaultKind] | str | None) -> tuple[FaultKind, ...]:
    if faults is None:
        return tuple(FaultKind)
    if isinstance(faults, str):
        return parse_kinds(faults)
    return tuple(k if isinstance(k, FaultKind) else FaultKind(k) for k in faults)


def user_scenario(
    name: str,
    plan_or_builder: ExecutionPlan | Callable[..., Any],
    *,
    run_config: RunConfig | Callable[[Rng], RunConfig] | None = None,
    initial_context: Mapping[str, Any] | Callable[[Rng], Mapping[str, Any]] | None = None,
    services: ServiceSpec = ("ledger",),
    model: Any = None,
    transparent: bool = True,
    faults: Iterable[FaultKind] | str | None = None,
    resolver: PlanResolver | None = None,
    input_params: Any = None,
    child_runs: bool = False,
    description: str | None = None,
) -> Scenario:
    """A scenario that runs the user's plan; see the module docstring for what it adds.

    `model` (invariant 13) is a `Reference`, the expected final context (a dict: status
    COMPLETED), a `(phase, context)` pair, or `callable(plan, initial_context)` returning
    one. `transparent=False` says the handlers are not deterministic, which switches off the
    crash-transparency check. `faults` limits the fault kinds (`"crash_in_handler,latency"`
    or FaultKinds). `resolver` resolves child runs' plans (with `child_runs=True`).
    """
    if not isinstance(plan_or_builder, ExecutionPlan) and not callable(plan_or_builder):
        raise TypeError(
            f"plan_or_builder is an ExecutionPlan or a callable returning one, "
            f"got {type(plan_or_builder).__name__}"
        )
    uses_rng = not isinstance(plan_or_builder, ExecutionPlan) and _takes_rng(plan_or_builder)
    unique = _unique(name)
    capture = _CAPTURES[unique] = _Capture()
    service_transports = make_services(services, trace=True)
    scoped_resolver = _ScopedResolver(resolver, capture.errors) if resolver is not None else None

    def transports(world: Any) -> Any:
        enter_simulation(world)
        capture.worlds.append(world)
        return service_transports(world)

    def build(rng: Rng) -> ScenarioRun:
        made = (
            plan_or_builder
            if isinstance(plan_or_builder, ExecutionPlan)
            else _call_builder(plan_or_builder, rng)
        )
        if isinstance(made, ScenarioRun):
            inner = made.transports

            def both(world: Any) -> Any:
                factory = transports(world)
                return inner(world) if inner is not None else factory

            return ScenarioRun(
                plan=scoped_plan(made.plan, capture.errors),
                run_config=made.run_config,
                initial_context=made.initial_context,
                resolver=(
                    _ScopedResolver(made.resolver, capture.errors)
                    if made.resolver is not None
                    else None
                ),
                input_params=made.input_params,
                transports=both,
                child_runs=made.child_runs,
                transparent=made.transparent,
                model=made.model,
            )
        if not isinstance(made, ExecutionPlan):
            raise TypeError(
                f"the plan builder of {name!r} returned {type(made).__name__}, "
                f"not an ExecutionPlan or ScenarioRun"
            )
        if run_config is None:
            cfg = draw_run_config(rng)
        elif isinstance(run_config, RunConfig):
            cfg = run_config
        else:
            cfg = run_config(rng)
        initial = initial_context(rng) if callable(initial_context) else dict(initial_context or {})
        params = input_params
        if params is None:
            params = {}
            if uses_rng:
                # The fault-free reference is cached by manifest: a plan drawn from the seed
                # must not share another seed's reference just because the knobs match.
                params = {"plan_instance": format(rng.next_u64(), "016x")}
        return ScenarioRun(
            plan=scoped_plan(made, capture.errors),
            run_config=cfg,
            initial_context=dict(initial),
            resolver=scoped_resolver,
            input_params=params,
            transports=transports,
            child_runs=child_runs,
            transparent=transparent,
            model=_as_reference(model, made, initial),
        )

    return Scenario(
        unique,
        description or f"user plan {name}",
        build,
        faults=_kinds(faults),
        in_default=False,
    )
