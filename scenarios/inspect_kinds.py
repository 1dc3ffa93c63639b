"""Inspected refusals made first: the error kinds a handler sees, where a run always gets to.

`mfm_scenarios.inspect_errors` inserts its inspected calls anywhere in a program, so most of
them sit behind an op that fails the run first and are never made. This feature (drawn from
its own fork of the seed's stream, after every other draw) puts its inspected ops at the
front of the first state the run enters (Kahn order, the first one not skipped by its tags),
so they run in every schedule whose run reaches its first handler. Each catches the refusal,
writes its `shape` and emits it; the reference interpreter predicts the record
(`predicted_shape`) from ENGINE.md:

- `ctx.require` of a key no op writes: `ContextError` MISSING_KEY (`context_missing_key`);
- an await, under a fact key, of a child run never started and named by no spawn:
  `run_not_found` (ENGINE.md, child runs: await resumes the child, `run_not_found` when it
  has no run), an `IoError` of kind OTHER; in replay mode `missing_fact`;
- a keyed call to a namespace no route serves: `io_unknown_namespace` (kind OTHER), also in a
  workload whose only transport is the child-run wrapper (`mfm_scenarios.twins`'
  `children_only`), where the wrapper itself answers it;
- a keyed call made twice at once with two different requests (attempt 0, live mode, a
  workload with services), to a key-value service across a network whose answer takes
  `SLOW_MS` of virtual time: both calls find the key unbound before either answers, so one
  binds and the other is `fact_payload_conflict` ("a different payload for a bound key",
  kind OTHER); the handler records the losing call's refusal;
- with a recorded log (`mfm_scenarios.replays`), a `random_bytes(n)` or `now_millis()` whose
  record is malformed: bytes of another length, or a record that is no object at all. ENGINE.md
  ("Later checks"): a replayed draw of the wrong length is `fact_payload_invalid`; a record
  with no draw in it is read the same way (kind OTHER, not retryable). The record is the
  state's first draw (ordinal 0); the log's records of its later draws move up one ordinal,
  so each still answers the op it was recorded for.
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
from mfm_engine.config import RunConfig
from mfm_engine.live_io import IoCall
from mfm_engine.plan import ExecutionPlan
from mfm_scenarios.interpreter import run_key
from mfm_scenarios.program import AWAIT_KIND, AWAIT_NAMESPACE, CALL, NOW, RANDOM, REQUIRE, Op
from mfm_scenarios.steps import kahn_order

from mfm_sim.run.seeded_history import SeededHistory
from mfm_sim.testing.services import KeyValueService
from mfm_sim.world.rng import Rng

__all__ = [
    "FEATURE",
    "MALFORMED_DRAWS",
    "SLOW",
    "SLOW_MS",
    "UNKNOWN_NAMESPACE",
    "Added",
    "SlowKeyValue",
    "add_inspect_kinds",
    "first_entered",
    "state_index",
]

FEATURE = "inspect_kinds"
UNKNOWN_NAMESPACE = "nosuch.kinds"
_NO_CHILD = "00000000-0000-4000-8000-000000000003"  # a child id no run ever has
SLOW = "kv.slow"  # the slow key-value service's namespace (the `kv` route's longest prefix)
SLOW_MS = 1
# Records of a draw that hold none: no object (a list, a string, a number, null).
MALFORMED_DRAWS: tuple[Any, ...] = ([1, 2], "0a0b", 7, None)


class SlowKeyValue(KeyValueService):
    """The key-value service across a network with latency: a call waits `SLOW_MS` of virtual
    time before it is served, so every call made at once has left its caller before any
    answer comes back, whatever order the loop runs ready callbacks in."""

    async def call_as(self, call: IoCall, env: Any) -> Any:
        await asyncio.sleep(SLOW_MS / 1000)
        return await super().call_as(call, env)


@attrs.frozen
class Added:
    """What the feature changed: its name (empty when off) and the recorded log to run."""

    features: frozenset[str]
    history: SeededHistory | None


def add_inspect_kinds(
    rng: Rng,
    plan: ExecutionPlan,
    programs: list[Any],
    cfg: RunConfig,
    history: SeededHistory | None,
    services: bool,
) -> Added:
    """With even odds, put inspected ops at the front of the first entered state's program
    (in `programs`, indexed as `gen.s{i}.run`, in place); returns the feature and the
    recorded log, with the malformed draw's record added when there is a log. `services`:
    the run is live and has services (`SLOW` is then among them)."""
    if not rng.chance(0.5):
        return Added(frozenset(), history)
    first = first_entered(plan, programs, cfg)
    if first is None:
        return Added(frozenset(), history)
    i = state_index(first)
    uid = f"ik{i}"
    ops: list[Op] = []
    if rng.chance(0.6):
        ops.append(_inspected(REQUIRE, f"{uid}_req", src=f"absent_{uid}"))
    if rng.chance(0.6):
        request = {"kind": AWAIT_KIND, "child_run_id": _NO_CHILD}
        ops.append(_inspected(CALL, f"{uid}_aw", name=AWAIT_NAMESPACE, value=request))
    if rng.chance(0.6):
        ops.append(_inspected(CALL, f"{uid}_ns", name=UNKNOWN_NAMESPACE, value={"op": "get"}))
    if services and rng.chance(0.6):
        request = {"op": "get", "key": f"slow_{uid}"}
        rival = {"op": "get", "key": f"slow_{uid}_b"}
        pair = _inspected(CALL, f"{uid}_rival", name=SLOW, value=request, twin=rival)
        ops.append(attrs.evolve(pair, attempts=(0,)))  # a retry finds the key bound
    if history is not None and rng.chance(0.7):
        op, record = _malformed_draw(rng, uid)
        history = _shifted(history, first)
        key = run_key("random_bytes" if op.kind == RANDOM else "now_millis", first, 0, 0)
        history = attrs.evolve(history, facts=((key, record), *history.facts))
        ops.insert(0, op)
    program = programs[i]
    programs[i] = type(program)((*ops, *program.ops), program.tags)
    return Added(frozenset({FEATURE}) if ops else frozenset(), history)


def state_index(state_id: str) -> int:
    """The index in `programs` of a main state `gen.s{i}.run`."""
    return int(state_id.split(".")[1][1:])


def first_entered(plan: ExecutionPlan, programs: list[Any], cfg: RunConfig) -> str | None:
    """The id of the first state whose handler the run calls: the first in Kahn order (ENGINE.md,
    "Start and resume") whose program's tags `cfg.skip_tags` does not meet; None if none."""
    for node in kahn_order(plan):
        if not set(programs[state_index(node.id)].tags) & set(cfg.skip_tags):
            return node.id
    return None


def _inspected(kind: str, key: str, **fields: Any) -> Op:
    keyed = {"fact_key": f"if_{key}"} if kind == CALL else {}
    return Op(kind, f"seen_{key}", catch=True, inspect=True, **keyed, **fields)


def _malformed_draw(rng: Rng, uid: str) -> tuple[Op, Any]:
    """An inspected draw and the malformed record the log holds for it."""
    if rng.chance(0.5):
        return _inspected(NOW, f"{uid}_now"), rng.choice(MALFORMED_DRAWS)
    n = rng.between(1, 8)
    if rng.chance(0.5):
        record: Any = rng.choice(MALFORMED_DRAWS)
    else:  # one byte more or less than asked
        record = {"hex": "ab" * (n + rng.choice((-1, 1)))}
    return _inspected(RANDOM, f"{uid}_rand", n=n), record


def _shifted(history: SeededHistory, state_id: str) -> SeededHistory:
    """`history` with the records of `state_id`'s first-attempt draws one ordinal up."""
    marker = f"|state:{state_id}|attempt:0|ord:"
    facts = []
    for key, payload in history.facts:
        head, sep, ordinal = key.partition(marker)
        if sep and head.startswith("mfm:"):
            key = f"{head}{sep}{int(ordinal) + 1}"
        facts.append((key, payload))
    return attrs.evolve(history, facts=tuple(facts))
