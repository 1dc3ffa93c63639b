"""Hypothesis strategies for users' own `@given` tests: plans, run configs, fault schedules, seeds.

    from hypothesis import given
    from mfm_sim import simulate
    from mfm_sim.testing.strategies import fault_schedules

    SCENARIO = user_scenario("payments", fixed_plan, run_config=CONFIG)

    @given(fault_schedules(SCENARIO))
    def test_payments_survive_any_schedule(schedule):
        assert simulate(SCENARIO, schedule.seed, schedule=schedule).ok

A schedule is drawn *as Hypothesis data* (a list of faults: step, kind, argument), so a
failure shrinks to a minimal schedule: fewer faults, simpler kinds (a crash before the
effect before one after it), earlier steps, smaller arguments. Each fault is placed on a
real fault point of the seed's fault-free run (its site map, `simulate(...,
record_sites=True)`), so most drawn faults fire. Replaying a drawn schedule is
`simulate(scenario, schedule.seed, schedule=schedule)`: exactly those faults, nothing drawn.

Everything a strategy draws goes through Hypothesis, never the global `random`.
"""

from __future__ import annotations

import inspect
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st
from mfm_engine.config import EventProfile, Exponential, Fixed, IoMode, RetryPolicy, RunConfig
from mfm_engine.plan import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_engine.state import FnState

from mfm_sim.faults.kinds import FAULTS, SITE_KINDS, Fault, FaultKind
from mfm_sim.run.scenario import Scenario
from mfm_sim.run.schedule import Schedule
from mfm_sim.run.simulate import simulate
from mfm_sim.world.rng import MASK64

__all__ = [
    "fault_lists",
    "fault_schedules",
    "plans",
    "replay",
    "run_configs",
    "seeds",
    "site_map",
]

_SEGMENT = re.compile(r"[^a-z0-9_]+")
# A drawn fault does not know its call's size: an argument bounded by it (the persisted
# prefix of an append) is drawn as if the call held this many.
DRAWN_CALL_SIZE = 4


def seeds(*, max_value: int = MASK64) -> st.SearchStrategy[int]:
    """64-bit seeds; they shrink toward 0."""
    return st.integers(min_value=0, max_value=max_value)


# ------------------------------------------------------------------------------ plans


def _segment(text: str, fallback: str) -> str:
    seg = _SEGMENT.sub("_", text.lower()).strip("_")
    if not seg or not seg[0].isalpha():
        seg = f"{fallback}_{seg}" if seg else fallback
    return seg[:40]


def _handler_name(handler: Any, index: int) -> str:
    name = getattr(handler, "__name__", None) or type(handler).__name__
    return _segment(name, f"h{index}")


def _instantiate(handler: Any) -> Any:
    """A state from what the user gave: a state, a state class, an async handler function,
    or a zero-argument factory of states."""
    if hasattr(handler, "handle") and not isinstance(handler, type):
        return handler
    if isinstance(handler, type):
        return handler()
    if inspect.iscoroutinefunction(handler):
        return FnState(handler)
    made = handler()
    if not hasattr(made, "handle"):
        raise TypeError(f"handler factory {handler!r} returned {made!r}, not a state")
    return made


@st.composite
def plans(
    draw: st.DrawFn,
    handlers: Sequence[Any] | Mapping[str, Any],
    *,
    max_states: int = 6,
    min_states: int = 1,
    op_id: str = "plan",
    edge_probability: float | None = None,
) -> ExecutionPlan:
    """Random DAGs over the given handlers, with valid state ids `{op_id}.{name}.s{i}`.

    `handlers`: states, state classes, async handler functions `(ctx, io, events)` or
    zero-argument factories; a mapping gives them names. Classes and factories are called
    once per state, so two states never share a handler object. Edges only go from a lower
    to a higher index, so every drawn graph is acyclic; the plan's state order is the index
    order. Shrinks toward fewer states, the first handler and no edges.
    """
    if isinstance(handlers, Mapping):
        named = [(_segment(str(k), f"h{i}"), v) for i, (k, v) in enumerate(handlers.items())]
    else:
        named = [(_handler_name(h, i), h) for i, h in enumerate(handlers)]
    if not named:
        raise ValueError("plans() needs at least one handler")
    if not 1 <= min_states <= max_states:
        raise ValueError("plans() needs 1 <= min_states <= max_states")
    op = _segment(op_id, "plan")
    n = draw(st.integers(min_value=min_states, max_value=max_states))
    picks = draw(st.lists(st.integers(0, len(named) - 1), min_size=n, max_size=n))
    states = []
    for i, pick in enumerate(picks):
        name, handler = named[pick]
        states.append(StateNode(f"{op}.{name}.s{i}", _instantiate(handler)))
    edges = []
    for j in range(1, n):
        for i in range(j):
            if edge_probability is None:
                on = draw(st.booleans())
            else:
                on = draw(st.floats(0, 1, allow_nan=False)) < edge_probability
            if on:
                edges.append(DependencyEdge(states[i].id, states[j].id))
    return ExecutionPlan(op, StateGraph(states, edges))


# ------------------------------------------------------------------------------ run configs


def _millis(values: Sequence[int]) -> st.SearchStrategy[timedelta]:
    return st.sampled_from([timedelta(milliseconds=v) for v in values])


@st.composite
def run_configs(
    draw: st.DrawFn,
    *,
    min_attempts: int = 1,
    max_attempts: int = 5,
    profiles: Sequence[EventProfile] = (
        EventProfile.MINIMAL,
        EventProfile.NORMAL,
        EventProfile.VERBOSE,
    ),
    skip_tags: Sequence[str] = (),
    io_mode: IoMode = IoMode.LIVE,
) -> RunConfig:
    """Run configs: max attempts, fixed or exponential backoff (whole milliseconds), the
    event profile and a subset of `skip_tags`. Shrinks toward one attempt and no backoff."""
    attempts = draw(st.integers(min_attempts, max_attempts))
    if draw(st.booleans()):
        base = draw(_millis((1, 10, 100, 1000)))
        cap = base * draw(st.sampled_from((1, 4, 64)))
        backoff: Fixed | Exponential = Exponential(base, cap)
    else:
        backoff = Fixed(draw(_millis((0, 10, 250, 2000))))
    profile = draw(st.sampled_from(tuple(profiles)))
    tags: tuple[str, ...] = ()
    if skip_tags:
        tags = tuple(t for t in skip_tags if draw(st.booleans()))
    return RunConfig(
        io_mode=io_mode,
        retry_policy=RetryPolicy(attempts, backoff),
        event_profile=profile,
        skip_tags=tags,
    )


# ------------------------------------------------------------------------------ schedules

_SITE_CACHE: OrderedDict[tuple[str, int], tuple[Scenario, tuple[str, ...]]] = OrderedDict()
_SITE_CACHE_SIZE = 256


def site_map(scenario: Scenario, seed: int) -> tuple[str, ...]:
    """The site of every fault point (step 1, 2, ...) of the seed's fault-free run."""
    key = (scenario.name, seed)
    cached = _SITE_CACHE.get(key)
    if cached is not None and cached[0] is scenario:
        return cached[1]
    result = simulate(
        scenario, seed, schedule=[], interleave=False, keep_trace=False, record_sites=True
    )
    sites = tuple(result.sites or ())
    _SITE_CACHE[key] = (scenario, sites)
    while len(_SITE_CACHE) > _SITE_CACHE_SIZE:
        _SITE_CACHE.popitem(last=False)
    return sites


def _arg(kind: FaultKind) -> st.SearchStrategy[int]:
    args = FAULTS[kind].args
    if args.fixed:
        return st.just(args.low)
    return st.integers(args.low, args.high_for(DRAWN_CALL_SIZE))


@st.composite
def _fault(
    draw: st.DrawFn, sites: Sequence[str], kinds: frozenset[FaultKind], margin: int
) -> Fault | None:
    usable = [i for i, s in enumerate(sites) if any(k in kinds for k in SITE_KINDS[s])]
    tail_sites = sorted({s for s in SITE_KINDS if any(k in kinds for k in SITE_KINDS[s])})
    if not usable and not tail_sites:
        return None
    # Steps past the fault-free run exist once a crash adds a recovery: allow a margin.
    extra = margin if tail_sites else 0
    index = draw(st.integers(0, len(usable) + extra - 1))
    if index < len(usable):
        step = usable[index] + 1
        site = sites[usable[index]]
    else:
        step = len(sites) + 1 + (index - len(usable))
        site = draw(st.sampled_from(tail_sites))
    kind = draw(st.sampled_from([k for k in SITE_KINDS[site] if k in kinds]))
    return Fault(step, kind, site, draw(_arg(kind)))


def fault_lists(
    sites: Sequence[str],
    *,
    kinds: Sequence[FaultKind] | None = None,
    max_faults: int = 4,
    margin: int = 16,
) -> st.SearchStrategy[tuple[Fault, ...]]:
    """Lists of faults on the given site map, at most one per step, sorted by step."""
    allowed = frozenset(kinds if kinds is not None else FaultKind)
    one = _fault(tuple(sites), allowed, margin)
    return st.lists(one, max_size=max_faults).map(
        lambda fs: tuple(
            sorted(
                {f.step: f for f in fs if f is not None}.values(),
                key=lambda f: f.step,
            )
        )
    )


@st.composite
def fault_schedules(
    draw: st.DrawFn,
    scenario: Scenario,
    *,
    seed: int | st.SearchStrategy[int] | None = None,
    kinds: Sequence[FaultKind] | None = None,
    max_faults: int = 4,
    recoverable: bool = True,
) -> Schedule:
    """A `Schedule` for `scenario`: a seed (fixed, or drawn from `seed`, default `seeds()`)
    and up to `max_faults` faults on the fault points of that seed's fault-free run.

    `kinds` limits the fault kinds (default: the scenario's). Shrinks toward seed 0, no
    faults, earlier steps and simpler kinds."""
    if seed is None:
        chosen = draw(seeds(max_value=2**32 - 1))
    elif isinstance(seed, int):
        chosen = seed
    else:
        chosen = draw(seed)
    allowed = [k for k in scenario.faults if kinds is None or k in kinds]
    faults = draw(fault_lists(site_map(scenario, chosen), kinds=allowed, max_faults=max_faults))
    return Schedule(chosen, scenario.name, faults, recoverable=recoverable, interleave=False)


def replay(scenario: Scenario, schedule: Schedule, **kwargs: Any) -> Any:
    """Run exactly `schedule` (its seed and faults): `simulate(..., schedule=schedule)`."""
    return simulate(scenario, schedule.seed, schedule=schedule, **kwargs)
