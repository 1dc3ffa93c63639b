"""A parent run whose middle state spawns one or two child runs and awaits their results."""

from __future__ import annotations

import itertools
from typing import Any

import attrs
from mfm_engine import DependencyEdge, ExecutionPlan, IoCall, StateGraph, StateMeta, StateNode
from mfm_engine.config import RunConfig, RunManifest
from mfm_engine.errors import EngineError, ErrorCategory, RunError, StateError, StorageError, info
from mfm_engine.events import RunPhase
from mfm_engine.runtime.child_runs import AWAIT_KIND, AWAIT_NAMESPACE, SPAWN_KIND, SPAWN_NAMESPACE
from mfm_scenarios.child_awaits import Awaits, after_await, draw_awaits
from mfm_scenarios.child_awaits import predict as predict_awaits
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.steps import CRASH, RETRY, ScriptedStep, attempts_outcome, plan_shape, predict

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.faults.stores import SimCrash
from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.world.rng import Rng


@attrs.frozen
class OpResolver:
    """Resolves a manifest to the plan of its op: the parent's or one of the children's."""

    plans: dict[str, ExecutionPlan]

    def resolve(self, manifest: RunManifest) -> ExecutionPlan:
        plan = self.plans.get(manifest.op_id)
        if plan is None:
            raise StateError(
                info("unknown_op", ErrorCategory.PARSING_INPUT, f"no plan for op {manifest.op_id}")
            )
        return plan


@attrs.frozen
class Child:
    name: str
    plan: ExecutionPlan
    run_config: RunConfig
    initial_context: dict[str, Any]
    op_version: str | None = "1"  # None: a request without one (ENGINE.md: the child gets "1")

    def spawn_request(self) -> dict[str, Any]:
        req = {
            "kind": SPAWN_KIND,
            "op_id": self.plan.op_id,
            "op_version": self.op_version,
            "op_config": {"child": self.name},
            "input": plan_shape(self.plan),
            "run_config": self.run_config.to_json(),
            "initial_context": dict(self.initial_context),
        }
        if self.op_version is None:
            del req["op_version"]
        return req


class SpawnAndAwait:
    """Spawns each child (fact key `spawn:<name>`) and awaits it (`await:<name>`).

    `concurrent`: spawn every child first, then await them in turn, so the children run side
    by side; otherwise each child is awaited before the next is spawned. It fails retryably
    after the awaits the first `failures` times it runs: the retry must answer every call from
    the recorded facts, never spawning or awaiting a child twice. `awaits`: the calls of
    `mfm_scenarios.child_awaits` around each await.
    """

    def __init__(
        self,
        children: list[Child],
        failures: int,
        *,
        concurrent: bool = False,
        awaits: Awaits | None = None,
    ) -> None:
        self.children = children
        self.failures = failures
        self.concurrent = concurrent
        self.awaits = awaits or Awaits()
        self.calls = 0

    def meta(self) -> StateMeta:
        return StateMeta()

    async def _spawn(self, io: Any, child: Child) -> tuple[Child, dict[str, Any], Any]:
        spawn = child.spawn_request()
        ack = await io.call(IoCall(SPAWN_NAMESPACE, spawn, f"spawn:{child.name}"))
        return child, spawn, ack

    async def _await(
        self, io: Any, child: Child, spawn: dict[str, Any], ack: Any
    ) -> dict[str, Any]:
        req = {"kind": AWAIT_KIND, "child_run_id": ack["child_run_id"], "spawn": spawn}
        if "bare_first" in self.awaits.variants and self.calls == 1:
            del req["spawn"]
        call = IoCall(AWAIT_NAMESPACE, req, f"await:{child.name}")
        if self.awaits == Awaits():
            done = await io.call(call)
        else:
            try:
                done = await io.call(call)
            except StorageError:
                raise  # a store's failure fails the attempt, as without the variants
            except RunError as exc:
                # ENGINE.md: the await starts a child its resume does not find, so no await
                # surfaces `run_not_found`; any other RunError is a store's (re-raised).
                if exc.info.code != "run_not_found":
                    raise
                return {"raised": exc.info.code}
            except Exception as exc:
                # Kept, not raised: a failed spawner after a crash is excused (the crash may
                # have used up its attempts), a completed one with a wrong answer is not.
                code = exc.info.code if isinstance(exc, EngineError) else type(exc).__name__
                return {"raised": code}
        result = {"status": done["status"], "final": done["final_snapshot"]}
        return result | await after_await(io, self.awaits, child.name, spawn, ack)

    def _crash_between(self) -> None:
        """The first call dies after its spawn(s), before any await: the children's tasks
        never ran (nothing yields between the spawn's fact and here)."""
        if self.awaits.crash_between and self.calls == 1:
            raise SimCrash()

    async def handle(self, ctx: Any, io: Any, events: Any) -> None:
        self.calls += 1
        results = {}
        if self.concurrent:
            spawned = [await self._spawn(io, child) for child in self.children]
            self._crash_between()
            for child, spawn, ack in spawned:
                results[child.name] = await self._await(io, child, spawn, ack)
        else:
            for child in self.children:
                spawned = await self._spawn(io, child)
                self._crash_between()
                results[child.name] = await self._await(io, *spawned)
        if self.calls <= self.failures:
            raise StateError(
                info("parent_flaky", ErrorCategory.RPC, "retry after awaiting", retryable=True)
            )
        ctx.write("children", results)


def _child(rng: Rng, name: str, *, crash: bool = False) -> Child:
    """A chain of 1-3 scripted steps; with `crash`, its first step first kills the process."""
    k = rng.between(1, 3)
    names = [f"{name}.s{i}.run" for i in range(k)]
    steps = []
    for i, sid in enumerate(names):
        script = (RETRY,) * rng.below(3) if rng.chance(0.3) else ()
        if crash and i == 0:
            script = (CRASH, *script)
        steps.append(ScriptedStep(sid, rng.between(1, 9) * 100, script))
    edges = [DependencyEdge(a, b) for a, b in itertools.pairwise(names)]
    plan = ExecutionPlan(name, StateGraph([StateNode(s.name, s) for s in steps], edges))
    return Child(
        name, plan, draw_run_config(rng), {"from_parent": name, "seed_value": rng.below(1000)}
    )


def build(rng: Rng, *, concurrent: bool = False) -> ScenarioRun:
    names = ("child_a", "child_b")[: rng.between(1, 2)]
    # Sometimes the first child kills the whole process from inside its first step (at most
    # once per simulation: the runner's liveness phase allows few incarnations). The parent's
    # resume then finds the child unfinished and resumes it, reading its stored manifest.
    crash = rng.chance(0.35)
    children = [_child(rng, name, crash=crash and i == 0) for i, name in enumerate(names)]
    spawner = SpawnAndAwait(children, rng.below(2), concurrent=concurrent)
    prep = ScriptedStep("parent.prep.run", 1)
    finish = ScriptedStep("parent.finish.run", 2)
    states = [
        StateNode(prep.name, prep),
        StateNode("parent.spawn.children", spawner),
        StateNode(finish.name, finish),
    ]
    edges = [DependencyEdge(a.id, b.id) for a, b in itertools.pairwise(states)]
    plan = ExecutionPlan("parent", StateGraph(states, edges))
    cfg = draw_run_config(rng)
    # Last, from its own fork: no earlier draw moves.
    awaits = draw_awaits(rng.fork("awaits"), child_crash=crash)
    children = [attrs.evolve(c, op_version=awaits.op_version) for c in children]
    spawner.children, spawner.awaits = children, awaits

    # The model: each child by itself, then the parent around them.
    results = {}
    for child in children:
        ref = predict(
            child.plan, child.run_config.retry_policy.max_attempts, initial=child.initial_context
        )
        result = {"status": ref.phase.value, "final": ref.final_snapshot}
        results[child.name] = result | predict_awaits(awaits, child.spawn_request(), result)
    after_prep = {"sum": 1, "path": [prep.name]}
    # A child's crash kills the spawner's attempt too (closed on resume as an orphan); it is
    # the spawner's first call, the one that would have failed when `failures` is 1. So does
    # a crash between its spawns and awaits.
    crashes = crash or awaits.crash_between
    spawner_script = (CRASH,) if crashes else (RETRY,) * spawner.failures
    if attempts_outcome(spawner_script, cfg.retry_policy.max_attempts):
        model = Reference(
            RunPhase.COMPLETED, {"sum": 3, "path": [prep.name, finish.name], "children": results}
        )
    else:
        model = Reference(RunPhase.FAILED, after_prep)

    plans = {plan.op_id: plan, **{c.plan.op_id: c.plan for c in children}}
    drawn = {"awaits": sorted(awaits.variants), "crash_between": awaits.crash_between}
    return ScenarioRun(
        plan=plan,
        run_config=cfg,
        initial_context={},
        resolver=OpResolver(plans),
        input_params={
            "spawner_failures": spawner.failures,
            "child_crash": crash,
            "concurrent": concurrent,
            "children": [c.spawn_request() for c in children],
            # Only where drawn: a seed that draws none keeps its manifest (and schedule).
            **(drawn if awaits != Awaits() else {}),
        },
        child_runs=True,
        model=model,
    )


# No latency: a parent that sleeps on a slow store call while its child runs lets the child's
# store calls interleave with the parent's, and today's invariants 11 and 12 judge a whole
# incarnation by one step counter, so they blame one run for another's reads (see CONCURRENT).
CHILD_FAULTS = tuple(k for k in FaultKind if k is not FaultKind.LATENCY)


def build_concurrent(rng: Rng) -> ScenarioRun:
    """Both children spawned before either is awaited (not registered: see CONCURRENT)."""
    return build(rng, concurrent=True)


SCENARIO = register(
    Scenario(
        "child_runs",
        "a parent state spawns 1-2 child runs one after the other and awaits each; their final "
        "contexts reach the parent's",
        build,
        faults=CHILD_FAULTS,
    )
)

# Children running side by side. Not registered: today's invariants 11 and 12 judge a whole
# incarnation by its step counter, so another run's reads and appends in the same process are
# blamed on the run that read bad bytes or retried (`simulate(CONCURRENT, 53)` shows it for 11).
CONCURRENT = Scenario(
    "child_runs_concurrent",
    "like child_runs, but both children are spawned before either is awaited",
    build_concurrent,
    in_default=False,
)
