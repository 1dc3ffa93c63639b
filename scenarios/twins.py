"""Generated-workload features for calls made at once, a child the recorded log holds as
cancelled, and a workload whose only transport is the child-run wrapper; drawn swarm-style
from their own fork of the seed's stream, after every other draw, so a seed keeps the
workload it had and only gains these.

- `twin_call`: a handler makes one keyed `io.call` twice at once (`asyncio.gather`) to a
  service across a network (`kv.net`: its answer comes back on a later turn of the loop), so
  both calls find the key unbound and call the service. ENGINE.md: the payload is "bound if
  still unbound" and "the first durable binding wins": the second, with the same payload,
  binds nothing and records the same fact again; both answer the payload.
- `rival_call`: the same with two different requests under one key: whichever binds first
  wins, the other is `fact_payload_conflict` ("a different payload for a bound key"); the
  handler takes the winner's answer, which is the bound payload.
- `twin_spawn`: a child run's spawn made twice at once: one child id, one task per child (the
  supervisor), the same response twice.
- `cancelled_child`: the recorded log the operator brings also holds a child the programs
  spawn, with the manifest they spawn it with, already finished `RunCompleted(CANCELLED)`
  with no final snapshot (an event the format allows: `final_snapshot_id` is optional). The
  spawn resumes it, and ENGINE.md's resume of a finished run returns its result and writes
  nothing, so the await answers status `cancelled` and no final snapshot.
- `children_only`: a workload whose programs call no service gets no transports at all, only
  the child-run wrapper, as a user with child runs and no services would configure it; a
  call to any other namespace is then `io_unknown_namespace`, as the router's.

The reference interpreter predicts each (`mfm_scenarios.interpreter`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from mfm_engine.config import ExecutionMode, RunManifest
from mfm_engine.live_io import IoCall
from mfm_scenarios.interpreter import service_of
from mfm_scenarios.program import CALL, CHILD, Op, Program

from mfm_sim.run.seeded_history import SeededHistory
from mfm_sim.testing.services import KeyValueService, with_service
from mfm_sim.world.rng import Rng

__all__ = ["NET", "TWIN_FEATURES", "NetKeyValue", "Twins", "draw_twins", "twin_services"]

TWIN_FEATURES = ("twin_call", "rival_call", "twin_spawn", "cancelled_child", "children_only")
NET = "kv.net"  # the network key-value service's namespace (the `kv` route's longest prefix)
UNKNOWN = "nosuch.net"  # a namespace no route serves


class NetKeyValue(KeyValueService):
    """The key-value service across a network: a call yields to the loop once before it is
    served, so two calls made at once are both in flight before either answers."""

    async def call_as(self, call: IoCall, env: Any) -> Any:
        await asyncio.sleep(0)
        return await super().call_as(call, env)


@attrs.frozen
class Twins:
    """What these features add to one seed's workload (its programs are changed in place)."""

    features: frozenset[str]
    history: SeededHistory | None  # the recorded log, with its cancelled children
    children_only: bool  # no transports but the child-run wrapper


Children = dict[str, Any]


def draw_twins(
    rng: Rng,
    programs: list[Program],
    history: SeededHistory | None,
    children: Children,
    replay: bool,
) -> Twins:
    """Switch each of `TWIN_FEATURES` on or off and apply it to the main `programs`. A replay
    calls no transport, so it gets no calls made at once (they would only miss their facts)."""
    on = frozenset(f for f in TWIN_FEATURES if rng.chance(0.5))
    only = "children_only" in on and not any(_serviced(op) for p in programs for op in p.ops)
    for i, program in enumerate(programs):
        ops = [
            attrs.evolve(op, twin=op.value)
            if op.kind == CHILD and "twin_spawn" in on and rng.chance(0.7)
            else op
            for op in program.ops
        ]
        for feature in ("twin_call", "rival_call"):
            if feature in on and not only and not replay and rng.chance(0.5):
                at = rng.below(len(ops) + 1)
                ops.insert(at, _pair(f"{i}_{at}_{len(ops)}", rival=feature == "rival_call"))
        if only and i == 0:
            # A call no transport serves, caught nowhere: the state fails with the refusal.
            ops.append(Op(CALL, f"unknown_{i}", name=UNKNOWN, value={"op": "get"}, fact_key="u"))
        programs[i] = Program(tuple(ops), program.tags)
    if "cancelled_child" in on and history is not None:
        history = _with_cancelled(rng, history, children)
    return Twins(on, history, only)


def twin_services(services: Any, twins: Twins) -> Any:
    """The workload's services (as `make_services` takes them) with `kv.net` added; None when
    the workload has only the child-run wrapper."""
    if twins.children_only:
        return None
    if not {"twin_call", "rival_call"} & twins.features:
        return services
    return with_service(services, NET, NetKeyValue)


def _serviced(op: Op) -> bool:
    """A call some service answers (the interpreter's router names one)."""
    return op.kind == CALL and service_of(op.name) is not None


def _pair(uid: str, *, rival: bool) -> Op:
    """A keyed get of a key no one writes, made twice at once; a rival asks another key."""
    request = {"op": "get", "key": f"net_{uid}"}
    twin = {"op": "get", "key": f"net_{uid}_b"} if rival else request
    return Op(CALL, f"tw_{uid}", name=NET, value=request, fact_key=f"tw_{uid}", twin=twin)


def _with_cancelled(rng: Rng, history: SeededHistory, children: Children) -> SeededHistory:
    """`history` with some of the children it does not hold yet, as the programs spawn them
    (same manifest), finished CANCELLED with no final snapshot."""
    held = {key for key, _, _ in history.children}
    added, finished = [], []
    for name in sorted(children):
        plan, cfg, initial = children[name]
        key = f"spawn:{name}"
        sequential = cfg.execution_mode is ExecutionMode.SEQUENTIAL
        if key in held or not sequential or not rng.chance(0.5):
            continue
        params = {"op_config": {"child": name}, "input": {"child": name}}
        manifest = RunManifest(plan.op_id, "1", params, cfg).to_json()
        added.append((key, manifest, dict(initial)))
        finished.append(key)
    return attrs.evolve(
        history,
        children=(*history.children, *added),
        finished=(*history.finished, *finished),
    )
