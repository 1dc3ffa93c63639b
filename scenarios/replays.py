"""Generated-workload features for replay over a recorded log, a wildcard route and an await
that names the wrong manifest, drawn swarm-style from their own fork of the seed's stream.

- `recorded_log`: the run does not start empty. The operator brings a recorded log
  (`mfm_sim.run.seeded_history`): `RunStarted` and facts bound before any attempt, for the
  time and random draws of the states' first attempts (some `random_bytes` records of the
  wrong length) and, in replay mode, for keyed calls; and some of the child runs the states
  spawn, started with another request than the programs make (the process that recorded
  it died between a child's start and the spawn's fact). The runner writes it and resumes
  the run: replay answers from it with no transport, a live resume reuses what it holds and
  refuses to spawn over a child of another manifest.
- `wildcard_route`: the workload registers its own route `gx.*` (a key-value service) and
  calls `gx.kv` through it, so the router matches a `.*` pattern.
- `await_conflict`: after a child run is spawned and awaited, the handler awaits it again
  naming its initial snapshot as its manifest: the engine refuses (`child_run_conflict`).
- `child_fan_out`: a child is spawned with a `FanOutJoin` run config: its start refuses it
  (`unsupported_execution_mode`, nothing written) and the await reports it failed, with no
  final snapshot.

The reference interpreter predicts each from ENGINE.md (replay and recorded facts, the
router's longest prefix, the await's manifest check).
"""

from __future__ import annotations

from typing import Any

import attrs
from mfm_engine.config import FanOutJoin, IoMode, RunConfig, RunManifest
from mfm_engine.plan import ExecutionPlan
from mfm_scenarios.interpreter import ROUTE, ROUTED, response_of, run_key
from mfm_scenarios.program import CALL, CHILD, NOW, RANDOM, Op, Program

from mfm_sim.invariants.spec.canonical import NotCanonical, canonical_bytes
from mfm_sim.run.seeded_history import SeededHistory
from mfm_sim.world.rng import Rng

__all__ = ["REPLAY_FEATURES", "Replays", "draw_replays", "route_services"]

REPLAY_FEATURES = ("recorded_log", "wildcard_route", "await_conflict", "child_fan_out")
_SERVICES = {"ledger": "ledger", "kv": "kv"}


@attrs.frozen
class Replays:
    """What these features add to one seed's workload (its programs are changed in place)."""

    features: frozenset[str]
    history: SeededHistory | None
    route: bool


def route_services(replays: Replays | None) -> Any:
    """The generated workload's services: with the route, also `gx.*` (a key-value service
    of its own, by namespace); else the built-in names as before."""
    if replays is None or not replays.route:
        return tuple(_SERVICES)
    return {**_SERVICES, ROUTE: "kv"}


Children = dict[str, tuple[ExecutionPlan, RunConfig, dict[str, Any]]]


def draw_replays(
    rng: Rng, names: list[str], programs: list[Program], cfg: RunConfig, children: Children
) -> Replays:
    """Switch each of `REPLAY_FEATURES` on or off and apply it to the main `programs`."""
    on = frozenset(f for f in REPLAY_FEATURES if rng.chance(0.5))
    fan_out = _fan_out(rng, children) if "child_fan_out" in on else frozenset()
    for i, program in enumerate(programs):
        ops = list(program.ops)
        if "wildcard_route" in on and rng.chance(0.5):
            at = rng.below(len(ops) + 1)
            ops[at:at] = _routed_ops(rng, f"r{i}_{at}")
        ops = [_child_op(rng, op, on, fan_out, children) if op.kind == CHILD else op for op in ops]
        programs[i] = Program(tuple(ops), program.tags)
    history = None
    if "recorded_log" in on:
        history = _history(rng, names, programs, cfg.io_mode is IoMode.REPLAY)
        history = attrs.evolve(history, children=_children(rng, children))
    return Replays(on, history, "wildcard_route" in on)


def _fan_out(rng: Rng, children: Children) -> frozenset[str]:
    """Some children, their run config switched to `FanOutJoin` (in `children`, in place)."""
    out = []
    for name in sorted(children):
        if rng.chance(0.5):
            plan, cfg, initial = children[name]
            children[name] = (plan, attrs.evolve(cfg, execution_mode=FanOutJoin(2)), initial)
            out.append(name)
    return frozenset(out)


def _child_op(
    rng: Rng, op: Op, on: frozenset[str], fan_out: frozenset[str], children: Children
) -> Op:
    name = str(op.fact_key)
    if name in fan_out:  # the spawn request carries the child's config as drawn
        return attrs.evolve(op, value={**op.value, "run_config": children[name][1].to_json()})
    # A child that never starts has no task to join twice in one process but a spawn to
    # start it from in the next, so only a child that starts is awaited again.
    if "await_conflict" in on and rng.chance(0.5):
        return attrs.evolve(op, n=1)
    return op


def _routed_ops(rng: Rng, uid: str) -> list[Op]:
    """Put a value through the `gx.*` route unkeyed, then read it back keyed."""
    value = {"n": rng.below(100)}
    return [
        Op(CALL, "", name=ROUTED, value={"op": "put", "key": f"gx_{uid}", "value": value}),
        Op(
            CALL,
            f"gx_{uid}",
            name=ROUTED,
            value={"op": "get", "key": f"gx_{uid}", "expect": value},
            fact_key=f"gx_{uid}",
        ),
    ]


def _history(rng: Rng, names: list[str], programs: list[Program], replay: bool) -> SeededHistory:
    """Facts for some of each state's first-attempt draws (keys as ENGINE.md derives them)
    and, in replay mode, for some keyed calls (what the service would answer)."""
    facts: dict[str, Any] = {}
    # In replay mode the first lookup with no record ends the run (missing_fact) whatever
    # the engine does with the records, so most lookups get one: a replay that ignores its
    # log must meet a recorded fact early to differ from the prediction.
    odds = 0.9 if replay else 0.6
    for sid, program in zip(names, programs, strict=True):
        ordinal = 0
        for op in program.ops:
            if not op.runs_in(0):
                continue
            if op.kind in (NOW, RANDOM):
                kind = "now_millis" if op.kind == NOW else "random_bytes"
                key = run_key(kind, sid, 0, ordinal)
                ordinal += 1
                if rng.chance(odds):
                    facts[key] = _draw_payload(rng, op)
            elif op.kind == CALL and op.fact_key and replay and rng.chance(odds):
                payload = response_of(op.name, op.value)
                payload = {"seeded": op.fact_key} if payload is None else payload
                if _canonical(payload):
                    facts.setdefault(op.fact_key, payload)
    return SeededHistory(tuple(facts.items()))


def _children(rng: Rng, children: Children) -> tuple[tuple[str, Any, Any], ...]:
    """Some of the child runs, as another request would have started them: same op, another
    input, so another manifest."""
    out = []
    for name in sorted(children):
        if not rng.chance(0.5):
            continue
        plan, cfg, initial = children[name]
        params = {"op_config": {"child": name}, "input": {"child": name, "recorded": True}}
        manifest = RunManifest(plan.op_id, "1", params, cfg).to_json()
        out.append((f"spawn:{name}", manifest, dict(initial)))
    return tuple(out)


def _draw_payload(rng: Rng, op: Op) -> dict[str, Any]:
    if op.kind == NOW:
        return {"now_millis": rng.below(2**40)}
    n = op.n + 1 if rng.chance(0.2) else op.n  # a record of the wrong length, sometimes
    return {"hex": bytes(rng.below(256) for _ in range(n)).hex()}


def _canonical(payload: Any) -> bool:
    """Only canonical, secret-free payloads: the engine refuses anything else on read-back."""
    try:
        canonical_bytes(payload)
    except NotCanonical:
        return False
    return True
