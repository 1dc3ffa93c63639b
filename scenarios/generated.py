"""Generated workloads: a random plan, knobs and handler programs drawn from the seed.

Swarm-style: each seed first switches every feature in `FEATURES` on or off, then draws a
random DAG, a run config, an initial context and, for each state, a `Program` from the
enabled features only, so rare combinations occur. The reference interpreter
(`mfm_scenarios.interpreter`) predicts the run; invariant 13 compares every schedule with it.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import attrs
from mfm_engine import DependencyEdge, ExecutionPlan, StateGraph, StateNode
from mfm_engine.config import IoMode, RunConfig
from mfm_scenarios.broken_envelopes import draw_broken_envelopes
from mfm_scenarios.child_runs import OpResolver
from mfm_scenarios.context_mistake import draw_context_mistake
from mfm_scenarios.grandchildren import draw_grandchildren
from mfm_scenarios.inspect_errors import add_inspected
from mfm_scenarios.inspect_kinds import FEATURE as INSPECT_KINDS
from mfm_scenarios.inspect_kinds import SLOW, SlowKeyValue, add_inspect_kinds
from mfm_scenarios.interpreter import interpret
from mfm_scenarios.json_values import add_json_values
from mfm_scenarios.knobs import draw_run_config
from mfm_scenarios.long_backoff import draw_long_backoff
from mfm_scenarios.malformed_facts import draw_malformed_fact
from mfm_scenarios.net_stores import with_net_stores
from mfm_scenarios.operator import draw_mistakes, draw_recorded, with_mistakes
from mfm_scenarios.payload_refs import add_payload_refs
from mfm_scenarios.program import (
    AWAIT_KIND,
    AWAIT_NAMESPACE,
    BIG_EVENT,
    CALL,
    CHILD,
    CYCLIC_EVENT,
    DELETE,
    EMIT,
    FAIL,
    NOW,
    RANDOM,
    READ,
    REQUIRE,
    SPAWN_NAMESPACE,
    WRITE,
    Bag,
    Level,
    Op,
    Program,
    ProgramState,
    Text,
)
from mfm_scenarios.replays import Replays, draw_replays, route_services
from mfm_scenarios.routing import Routing, draw_routing, routed_transports
from mfm_scenarios.secret_edges import add_secret_edges
from mfm_scenarios.snapshot_mistake import draw_snapshot_mistake
from mfm_scenarios.storage_retry import add_storage_retry
from mfm_scenarios.twins import Twins, draw_twins, twin_services
from mfm_scenarios.unhashable_spawns import add_unhashable_spawns

from mfm_sim.run.observation import Reference
from mfm_sim.run.scenario import Scenario, ScenarioRun, register
from mfm_sim.testing.services import with_service
from mfm_sim.world.rng import Rng

__all__ = [
    "EXTRA_FEATURES",
    "FEATURES",
    "PRESET_STATE_ID_ODDS",
    "RARE_ODDS",
    "SCENARIO",
    "build",
    "draw",
]

FEATURES = (
    "read",
    "write",
    "delete",
    "fail_retryable",
    "fail_fatal",
    "write_then_fail",
    "keyed_call",
    "unkeyed_call",
    "idempotency_key",
    "now",
    "random",
    "emit",
    "secret_event",
    "secret_fact",
    "float_fact",
    "secret_message",
    "catch",
    "skip_tags",
    "child",
    "replay",
    "attempt_ops",
)
# Drawn from a fork of the seed's stream taken after everything else, so a seed keeps the
# workload it had before these existed and only gains their ops.
EXTRA_FEATURES = ("odd_fact", "odd_event", "require", "bad_request")
# A seed's chance of each rare event (`_rare`): scanning a cycle or a big value walks 100,000
# containers before the engine's careful pass, so they stay rare.
RARE_ODDS = (("cyclic_event", 0.03), ("big_event", 0.006), ("text_name", 0.05))
# A seed's chance that its failures raise a StateError naming another state's id
# (`_preset_state_ids`, from a fork of the rare events' stream, so no other draw moves).
PRESET_STATE_ID_ODDS = 0.3
TAGS = ("audit", "slow", "beta")
# Fact payloads the canonical encoder must refuse or take as what they subclass: non-string
# keys, non-JSON values (a second one after the first), a float before one, str and int
# subclasses with and without a secret.
_ODD_VALUES: tuple[Any, ...] = (
    {1: "a", 2: "b"},
    {"a": b"\x00", "b": b"\x01"},
    [0.5, b"x"],
    [Text("plain")],
    [Text("password=hunter2")],
    [Level.HIGH, {"lvl": Level.LOW}],
    [Bag(["x"])],
)
# Event payloads that are not objects: a bare string (with or without a secret), a number.
_ODD_PAYLOADS: tuple[Any, ...] = ("plain text", "password=hunter2", 7, None)
_NO_CHILD = "00000000-0000-4000-8000-000000000001"  # a child id no run ever has
# Calls the engine must refuse: (namespace, request, keyed).
_BAD_REQUESTS: tuple[tuple[str, Any, bool], ...] = (
    (SPAWN_NAMESPACE, {"kind": "child_run_spawn_v1"}, False),
    (SPAWN_NAMESPACE, {"kind": "spawn_v0"}, True),
    (SPAWN_NAMESPACE, ["not", "an", "object"], True),
    (
        SPAWN_NAMESPACE,
        {"kind": "child_run_spawn_v1", "op_id": "gc9", "initial_context": [1]},
        True,
    ),
    (AWAIT_NAMESPACE, {"kind": AWAIT_KIND, "child_run_id": _NO_CHILD}, False),
    (
        SPAWN_NAMESPACE,
        {
            "kind": "child_run_spawn_v1",
            "op_id": "gc9",
            "op_version": "1",
            "run_config": RunConfig().to_json(),
            "initial_context": [1],
        },
        True,
    ),
    (AWAIT_NAMESPACE, {"kind": "await_v0"}, True),
    (
        AWAIT_NAMESPACE,
        {"kind": AWAIT_KIND, "child_run_id": _NO_CHILD, "child_manifest_id": "a" * 64},
        True,
    ),
    (AWAIT_NAMESPACE, {"kind": AWAIT_KIND, "child_run_id": "nope"}, True),
    (AWAIT_NAMESPACE, {"kind": AWAIT_KIND, "child_run_id": _NO_CHILD}, True),
    (
        AWAIT_NAMESPACE,
        {"kind": AWAIT_KIND, "child_run_id": _NO_CHILD, "child_manifest_id": "zz"},
        True,
    ),
    ("nosuch", {"op": "get"}, False),
    ("nosuch.deeper", {"op": "get"}, True),
)
_WORDS = ("alpha", "beta", "gamma", "delta", "omega", "kappa")
_SECRET_EVENTS: tuple[tuple[str, Any], ...] = (
    ("login", {"password": "hunter2"}),
    ("password_reset", {"user": "u1"}),
    ("auth", {"header": "Bearer abc123"}),
    ("backup", {"words": " ".join(["abandon"] * 11 + ["about"])}),
    ("config", {"nested": [{"api_key": 7}]}),
)
_SECRET_VALUES = ({"private_key": "k"}, "access_token=xyz", {"list": ["Authorization: x"]})


@attrs.frozen
class Drawn:
    """One seed's workload: what `build` turns into a ScenarioRun."""

    features: frozenset[str]
    plan: ExecutionPlan
    run_config: RunConfig
    initial: dict[str, Any]
    children: dict[str, tuple[ExecutionPlan, RunConfig, dict[str, Any]]]
    replays: Replays | None = None  # `mfm_scenarios.replays`: recorded log, route, await
    twins: Twins | None = None  # `mfm_scenarios.twins`: calls at once, a cancelled child
    routing: Routing | None = None  # `mfm_scenarios.routing`: how transports are installed


def _value(rng: Rng) -> Any:
    pick = rng.below(4)
    if pick == 0:
        return rng.below(1000)
    if pick == 1:
        return rng.choice(_WORDS)
    if pick == 2:
        return [rng.below(10) for _ in range(rng.below(3))]
    return {"n": rng.below(100), "w": rng.choice(_WORDS)}


class _Drawer:
    def __init__(self, rng: Rng, features: frozenset[str], replay: bool) -> None:
        self.rng = rng
        self.on = features
        self.replay = replay
        self.counter = itertools.count()
        self.keys = ["seeded", "base"]

    def _attempts(self) -> tuple[int, ...] | None:
        if "attempt_ops" in self.on and self.rng.chance(0.3):
            return tuple(a for a in range(4) if self.rng.chance(0.5)) or (0,)
        return None

    def _catch(self) -> bool:
        return "catch" in self.on and self.rng.chance(0.5)

    def _key(self) -> str:
        key = f"k{next(self.counter)}"
        self.keys.append(key)
        return key

    def _call(self, ops: list[Op], uid: str) -> None:
        rng = self.rng
        keyed = "keyed_call" in self.on and ("unkeyed_call" not in self.on or rng.chance(0.5))
        catch = self._catch()
        when = self._attempts()
        if keyed:
            pick = rng.below(3)
            if pick == 0:  # an effect made once by its idempotency key, recorded as a fact
                req = {"op": "charge", "account": f"acct_{uid}", "amount": rng.between(1, 99)}
                req["idempotency_key"] = f"idem_{uid}"
                ops.append(
                    Op(
                        CALL,
                        self._key(),
                        name="ledger",
                        value=req,
                        fact_key=f"f_{uid}",
                        catch=catch,
                        attempts=when,
                    )
                )
                return
            if pick == 1:  # a naturally idempotent put, with or without an idempotency key
                req = {"op": "put", "key": f"kv_{uid}", "value": _value(rng)}
                if "idempotency_key" in self.on and rng.chance(0.5):
                    req["idempotency_key"] = f"idem_{uid}"
                ops.append(
                    Op(
                        CALL,
                        self._key(),
                        name="kv",
                        value=req,
                        fact_key=f"f_{uid}",
                        catch=catch,
                        attempts=when,
                    )
                )
                return
            # put a value unkeyed, then read it back keyed: the engine records or refuses it
            value = _value(rng)
            if "secret_fact" in self.on and rng.chance(0.4):
                value = rng.choice(_SECRET_VALUES)
            elif "float_fact" in self.on and rng.chance(0.4):
                value = {"price": rng.below(100) + 0.5}
            ops.append(
                Op(
                    CALL,
                    "",
                    name="kv",
                    value={"op": "put", "key": f"kv_{uid}", "value": value},
                    catch=catch,
                    attempts=when,
                )
            )
            ops.append(
                Op(
                    CALL,
                    self._key(),
                    name="kv",
                    value={"op": "get", "key": f"kv_{uid}", "expect": value},
                    fact_key=f"f_{uid}",
                    catch=catch,
                    attempts=when,
                )
            )
            return
        if rng.chance(0.5):  # unkeyed, with a response known by value
            req = {
                "op": "charge",
                "account": f"acct_{uid}",
                "amount": rng.between(1, 99),
                "idempotency_key": f"idem_{uid}",
            }
            ops.append(Op(CALL, self._key(), name="ledger", value=req, catch=catch, attempts=when))
        else:
            ops.append(
                Op(
                    CALL,
                    self._key(),
                    name="kv",
                    value={"op": "get", "key": f"none_{uid}"},
                    catch=catch,
                    attempts=when,
                )
            )

    def op_kinds(self, child: bool) -> list[str]:
        kinds = [
            k
            for k, f in ((READ, "read"), (WRITE, "write"), (DELETE, "delete"), (EMIT, "emit"))
            if f in self.on
        ]
        if not child:
            if {"keyed_call", "unkeyed_call"} & self.on:
                kinds.append(CALL)
            if "now" in self.on:
                kinds.append(NOW)
            if "random" in self.on:
                kinds.append(RANDOM)
        return kinds or [WRITE]

    def program(self, sid: str, *, child: bool = False) -> Program:
        rng = self.rng
        ops: list[Op] = []
        kinds = self.op_kinds(child)
        for _ in range(rng.between(1, 5)):
            kind = rng.choice(kinds)
            uid = f"{sid.replace('.', '_')}_{next(self.counter)}"
            when = self._attempts()
            if kind == READ:
                ops.append(Op(READ, self._key(), src=rng.choice(self.keys), attempts=when))
            elif kind == WRITE:
                ops.append(
                    Op(
                        WRITE,
                        rng.choice([*self.keys, f"w_{uid}"]),
                        value=_value(rng),
                        attempts=when,
                    )
                )
            elif kind == DELETE:
                ops.append(Op(DELETE, rng.choice(self.keys), attempts=when))
            elif kind == EMIT:
                name, payload = f"ev_{rng.below(5)}", {"n": rng.below(100)}
                if "secret_event" in self.on and not child and rng.chance(0.3):
                    name, payload = rng.choice(_SECRET_EVENTS)
                ops.append(
                    Op(
                        EMIT,
                        self._key(),
                        name=name,
                        value=payload,
                        catch=self._catch(),
                        attempts=when,
                    )
                )
            elif kind == CALL:
                self._call(ops, uid)
            elif kind == NOW:
                ops.append(Op(NOW, self._key(), catch=self._catch(), attempts=when))
            else:
                ops.append(
                    Op(
                        RANDOM,
                        self._key(),
                        n=rng.between(1, 32),
                        catch=self._catch(),
                        attempts=when,
                    )
                )
        self._failure(ops, sid)
        tags = tuple(t for t in TAGS if "skip_tags" in self.on and rng.chance(0.3))
        return Program(tuple(ops), tags)

    def _failure(self, ops: list[Op], sid: str) -> None:
        rng = self.rng
        kinds = [f for f in ("fail_retryable", "fail_fatal") if f in self.on]
        if not kinds or not rng.chance(0.4):
            return
        retryable = rng.choice(kinds) == "fail_retryable"
        message = f"{sid} gave up"
        if "secret_message" in self.on and rng.chance(0.5):
            message = f"{sid}: login failed, password=hunter2"
        fail = Op(
            FAIL,
            name="gen_failure" if retryable else "gen_fatal",
            retryable=retryable,
            message=message,
            attempts=(0,) if rng.chance(0.7) else (0, 1),
        )
        at = len(ops) if "write_then_fail" in self.on else rng.below(len(ops) + 1)
        ops.insert(at, fail)


def _dag(
    rng: Rng, prefix: str, states: list[tuple[str, ProgramState]], density: float
) -> ExecutionPlan:
    n = len(states)
    edges = [
        DependencyEdge(states[i][0], states[j][0])
        for i in range(n)
        for j in range(i + 1, n)
        if rng.chance(density)
    ]
    order = list(range(n))
    rng.shuffle(order)
    return ExecutionPlan(prefix, StateGraph([StateNode(*states[i]) for i in order], edges))


def draw(rng: Rng) -> Drawn:
    """The seed's workload, every choice from `rng` (the seed's `scenario` stream)."""
    features = frozenset(f for f in FEATURES if rng.chance(0.5))
    replay = "replay" in features and rng.chance(0.5)
    drawer = _Drawer(rng, features, replay)
    n = rng.between(1, 6)
    names = [f"gen.s{i}.run" for i in range(n)]
    programs = [drawer.program(sid) for sid in names]
    children: dict[str, tuple[ExecutionPlan, RunConfig, dict[str, Any]]] = {}
    if "child" in features:
        for c in range(rng.between(1, 2)):
            name = f"gc{c}"
            k = rng.between(1, 2)
            cstates = [
                (f"{name}.s{i}.run", ProgramState(drawer.program(f"{name}.s{i}.run", child=True)))
                for i in range(k)
            ]
            cplan = _dag(rng, name, cstates, 1.0)
            children[name] = (cplan, draw_run_config(rng), {"from_parent": name})
            host = rng.below(n)
            ops = list(programs[host].ops)
            ops.insert(
                rng.below(len(ops) + 1),
                Op(CHILD, drawer._key(), fact_key=name, value=spawn_request(name, *children[name])),
            )
            programs[host] = Program(tuple(ops), programs[host].tags)
    skip = tuple(t for t in TAGS if "skip_tags" in features and rng.chance(0.5))
    plan = _dag(
        rng,
        "gen",
        [(sid, ProgramState(p)) for sid, p in zip(names, programs, strict=True)],
        rng.choice((0.2, 0.5, 0.9)),
    )
    cfg = draw_run_config(rng, io_mode=IoMode.REPLAY if replay else IoMode.LIVE, skip_tags=skip)
    cfg = attrs.evolve(cfg, replay_missing_fact_retryable=rng.chance(0.5))
    initial = {"seeded": n, "base": _value(rng)}
    extras = _extras(rng.fork("extras"), programs)
    rare_rng = rng.fork("rare")
    extras |= _rare(rare_rng, programs)
    extras |= _preset_state_ids(rare_rng.fork("preset_state_id"), names, programs)
    extras |= add_secret_edges(rare_rng.fork("secret_edges"), programs)  # last of rare_rng
    replays_rng = rng.fork("replays")
    replays = draw_replays(replays_rng, names, programs, cfg, children)
    # Forked from the replays' stream after its last draw: no earlier draw moves.
    twins = draw_twins(replays_rng.fork("twins"), programs, replays.history, children, replay)
    replays = attrs.evolve(replays, history=twins.history)
    # Last, from another fork of the replays' stream, so no earlier draw moves. Its payload
    # refusals need the kv service, which a children-only workload does not have.
    if twins is None or not twins.children_only:
        extras |= add_inspected(replays_rng.fork("inspect"), programs, partial(Op, CALL), replay)
    # After those, from forks of their own: children's own children, then the transports
    # (which look at the programs as they end up).
    extras |= draw_grandchildren(replays_rng.fork("grandchild"), children, spawn_request)
    routing = draw_routing(
        replays_rng.fork("routing"),
        programs,
        replay=replay,
        history=replays.history,
        transports=not twins.children_only,
    )
    # `engine_router` changes no workload: left out of the features (and so the manifest).
    extras |= routing.features - {"engine_router"}
    history = replays.history
    long_cfg = draw_long_backoff(replays_rng.fork("long_backoff"), programs, cfg, history=history)
    if long_cfg is not None:
        cfg, extras = long_cfg, extras | {"long_backoff"}
    # After the last fork of the replays' stream: no earlier draw moves. A workload with no
    # transport has no child-run wrapper to refuse the spawns.
    spawns_rng = replays_rng.fork("unhashable_spawns")
    if routing.routes() is not None:
        extras |= add_unhashable_spawns(spawns_rng, programs, partial(Op, CALL))
    # After every other draw, from forks of their own: inspected refusals made first, then
    # keyed calls retried after a storage error. A workload with no transport has nothing to
    # refuse their calls with but the engine's default, so it gets neither.
    kinds_rng, retry_rng = replays_rng.fork("inspect_kinds"), replays_rng.fork("storage_retry")
    live = not replay and (twins is None or not twins.children_only)
    if routing.routes() is not None:
        kinds = add_inspect_kinds(kinds_rng, plan, programs, cfg, replays.history, services=live)
        replays, extras = attrs.evolve(replays, history=kinds.history), extras | kinds.features
        extras |= add_storage_retry(retry_rng, plan, programs, cfg, live)
    # Last, each from its own fork: emits citing an artifact, then JSON values of every kind
    # with secrets among them (no earlier draw moves).
    extras |= add_payload_refs(replays_rng.fork("payload_refs"), programs, initial)
    extras |= add_json_values(replays_rng.fork("json_values"), programs)
    plan = _replace_programs(plan, programs)
    return Drawn(features | extras, plan, cfg, initial, children, replays, twins, routing)


def _extras(rng: Rng, programs: list[Program]) -> frozenset[str]:
    """Switch each of `EXTRA_FEATURES` on or off and insert its ops into the main programs
    (in place): values the encoder refuses, event payloads that are not objects, `require`
    of present and absent keys, and calls the engine refuses."""
    on = frozenset(f for f in EXTRA_FEATURES if rng.chance(0.5))
    for i, program in enumerate(programs):
        ops = list(program.ops)
        for feature in sorted(on):
            if not rng.chance(0.5):
                continue
            at = rng.below(len(ops) + 1)
            ops[at:at] = _extra_ops(rng, feature, f"x{i}_{at}_{len(ops)}")
        programs[i] = Program(tuple(ops), program.tags)
    return on


def _rare(rng: Rng, programs: list[Program]) -> frozenset[str]:
    """Rare events, each in one main program (in place, from their own fork of the stream):
    a payload holding a cycle, one with 100,001 containers of distinct strings (both with a
    secret past them, so refused as `secrets_detected`), and a name that is a `str` subclass."""
    on: set[str] = set()
    for feature, odds in RARE_ODDS:
        if not rng.chance(odds):
            continue
        i = rng.below(len(programs))
        # A secret inside a container: a scan reaches it only past the cycle or the bulk.
        key, secret = f"{feature}_{i}", rng.choice((_SECRET_VALUES[0], _SECRET_VALUES[2]))
        if feature == "cyclic_event":
            op = Op(EMIT, key, name=CYCLIC_EVENT, value=secret, catch=rng.chance(0.5))
        elif feature == "big_event":
            op = Op(EMIT, key, name=BIG_EVENT, value=secret, catch=rng.chance(0.5))
        else:
            name = Text(rng.choice(("ev_text", "password_reset")))
            op = Op(EMIT, key, name=name, value={"n": rng.below(100)}, catch=rng.chance(0.5))
        ops = list(programs[i].ops)
        ops.insert(rng.below(len(ops) + 1), op)
        programs[i] = Program(tuple(ops), programs[i].tags)
        on.add(feature)
    return frozenset(on)


def _preset_state_ids(rng: Rng, names: list[str], programs: list[Program]) -> frozenset[str]:
    """With `PRESET_STATE_ID_ODDS`, each failure of the main programs (in place) raises a
    StateError whose state id is already set, to another state's. ENGINE.md records a failure
    as `StateFailed(state_id, info)` of the attempt's own state and keeps only the info, so
    the interpreter predicts these exactly as failures with no state id."""
    if len(names) < 2 or not rng.chance(PRESET_STATE_ID_ODDS):
        return frozenset()
    for i, program in enumerate(programs):
        others = [n for n in names if n != names[i]]
        ops = tuple(
            attrs.evolve(op, src=rng.choice(others)) if op.kind == FAIL else op
            for op in program.ops
        )
        programs[i] = Program(ops, program.tags)
    return frozenset({"preset_state_id"})


def _extra_ops(rng: Rng, feature: str, uid: str) -> list[Op]:
    if feature == "odd_fact":  # put unkeyed, read back keyed: the fact the engine refuses
        value = rng.choice(_ODD_VALUES)
        return [
            Op(CALL, "", name="kv", value={"op": "put", "key": f"odd_{uid}", "value": value}),
            Op(
                CALL,
                f"odd_{uid}",
                name="kv",
                value={"op": "get", "key": f"odd_{uid}", "expect": value},
                fact_key=f"odd_{uid}",
                catch=rng.chance(0.5),
            ),
        ]
    if feature == "odd_event":
        return [Op(EMIT, f"ev_{uid}", name="odd", value=rng.choice(_ODD_PAYLOADS))]
    if feature == "require":
        if rng.chance(0.5):  # a key no op writes
            return [Op(REQUIRE, f"req_{uid}", src=f"absent_{uid}")]
        return [
            Op(WRITE, f"have_{uid}", value=_value(rng)),
            Op(REQUIRE, f"req_{uid}", src=f"have_{uid}"),
        ]
    namespace, request, keyed = rng.choice(_BAD_REQUESTS)
    return [
        Op(
            CALL,
            f"bad_{uid}",
            name=namespace,
            value=request,
            fact_key=f"bad_{uid}" if keyed else None,
        )
    ]


def _replace_programs(plan: ExecutionPlan, programs: list[Program]) -> ExecutionPlan:
    """The plan with each main state's program replaced (states keep their ids and order)."""
    by_id = {f"gen.s{i}.run": p for i, p in enumerate(programs)}
    states = [StateNode(node.id, ProgramState(by_id[node.id])) for node in plan.graph.states]
    return ExecutionPlan(plan.op_id, StateGraph(states, plan.graph.edges))


def spawn_request(
    name: str, plan: ExecutionPlan, cfg: RunConfig, initial: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": "child_run_spawn_v1",
        "op_id": plan.op_id,
        "op_version": "1",
        "op_config": {"child": name},
        "input": {"child": name},
        "run_config": cfg.to_json(),
        "initial_context": dict(initial),
    }


def build(rng: Rng) -> ScenarioRun:
    drawn = draw(rng)
    replays = drawn.replays
    history = replays.history if replays is not None else None
    routing = drawn.routing or Routing(frozenset())
    result = interpret(
        drawn.plan, drawn.run_config, drawn.initial, drawn.children, history, routing.routes()
    )
    plans = {drawn.plan.op_id: drawn.plan, **{p.op_id: p for p, _, _ in drawn.children.values()}}
    run = ScenarioRun(
        plan=drawn.plan,
        run_config=drawn.run_config,
        initial_context=drawn.initial,
        resolver=OpResolver(plans) if drawn.children else None,
        input_params={
            "features": sorted(drawn.features),
            "states": [[node.id, len(node.state.program.ops)] for node in drawn.plan.graph.states],
        },
        transports=_transports(drawn),
        # Bad child-run requests need the child-run transport wrapper to refuse them.
        # A workload with no transport calls nothing the wrapper would take (`routing`).
        child_runs=(
            bool(drawn.children)
            or bool(
                {"bad_request", "inspect_errors", "unhashable_spawns", INSPECT_KINDS}
                & drawn.features
            )
            or _only(drawn)
        )
        and routing.routes() is not None,
        # Clock and entropy readings differ between schedules: the model, not the fault-free
        # run, is the reference (it predicts them as the facts the log recorded).
        transparent=False,
        model=Reference(result.phase, None, result.prediction),
        history=history,
    )
    run = _with_operator(run, rng.fork("operator"))
    # Forked after every other draw, so the workload and its mistakes stay as drawn.
    twin_spawn = drawn.twins is not None and "twin_spawn" in drawn.twins.features
    return with_net_stores(run, twin_spawn, rng.fork("net_stores"))


def _only(drawn: Drawn) -> bool:
    return drawn.twins is not None and drawn.twins.children_only


def _transports(drawn: Drawn) -> Any:
    """The services the workload calls; none but the child-run wrapper (`children_only`)."""
    services = route_services(drawn.replays)
    if drawn.twins is not None:
        services = twin_services(services, drawn.twins)
    if services is not None and INSPECT_KINDS in drawn.features:
        services = with_service(services, SLOW, SlowKeyValue)
    return routed_transports(services, drawn.routing)


def _with_operator(run: ScenarioRun, rng: Rng) -> ScenarioRun:
    """The run with the seed's operator mistakes (`mfm_scenarios.operator`) and the refusals
    the model predicts for them; drawn last, from a fork, so the workload stays as drawn."""
    calls, expected = draw_mistakes(rng, run.plan, run.run_config, run.manifest())
    # Forked after the mistakes' last draw, so they stay as drawn.
    recorded_rng = rng.fork("recorded")
    recorded, refusal = draw_recorded(recorded_rng, run.manifest())
    calls, expected = calls + recorded, {**expected, **refusal}
    # Forked after the recorded run's draws, so they stay as drawn.
    snapshot, refused, writes = draw_snapshot_mistake(rng.fork("snapshot"), run.plan)
    calls, expected = calls + snapshot, {**expected, **refused}
    # Forked after the recorded resume's last draw: a log with a malformed fact record.
    malformed, refusal = draw_malformed_fact(recorded_rng.fork("malformed"), run.manifest())
    calls, expected = calls + malformed, {**expected, **refusal}
    # Forked after the malformed fact's fork: a log whose attempt envelopes are broken.
    broken, refusal = draw_broken_envelopes(
        recorded_rng.fork("envelopes"), run.manifest(), run.plan
    )
    calls, expected = calls + broken, {**expected, **refusal}
    # Forked after the broken envelopes' fork: a start whose context JSON cannot hold.
    bad_context, refusal = draw_context_mistake(recorded_rng.fork("context_values"))
    calls, expected = calls + bad_context, {**expected, **refusal}
    return with_mistakes(run, calls, expected, writes)


SCENARIO = register(
    Scenario(
        "generated",
        "a random DAG of generated handler programs over the whole handler API, knobs drawn "
        "swarm-style; a reference interpreter predicts every attempt",
        build,
    )
)
