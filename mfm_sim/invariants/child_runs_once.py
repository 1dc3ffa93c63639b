"""Promise: one child run per (parent run, spawn key), and each child executed once (ENGINE.md,
"Ids and values": a child's id is uuid5(namespace=parent run id, name=fact key); "Child runs":
an existing child is resumed, never started again; a supervisor keeps one task per child).

- A recorded spawn response names its parent and the child id uuid5(parent, spawn key); the
  response of a spawn a live handler made holds both fields.
- Every child run in the store is uuid5(parent, key) of a parent run and a key that parent's
  handlers spawned under (journal) or recorded (log): no child comes from anywhere else but
  a recorded log the operator brought (`Observation.seeded`).
- No handler of any live run ran twice for one (run, state, attempt): a child started or
  resumed twice side by side would.
"""

from __future__ import annotations

import uuid
from typing import Any

from mfm_sim.invariants.attempt_spans import decoded
from mfm_sim.invariants.derive import FACT, Out, derive, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_child_runs_once"]

SPAWN_NAMESPACE = "machine.child_run.spawn"
_NAMED = ("parent_run_id", "child_run_id")  # what a spawn's response names (ENGINE.md)


def _spawn_keys(obs: Observation, out: Out) -> set[tuple[uuid.UUID, str]]:
    """(parent, key) of every spawn a handler made or a log recorded; checks recorded ones."""
    keys: set[tuple[uuid.UUID, str]] = set()
    for entry in obs.handler_journal:
        if entry.run_id is None:
            continue
        for op in entry.ops:
            if op[0] == "calling" and op[1] == SPAWN_NAMESPACE and isinstance(op[2], str):
                keys.add((entry.run_id, op[2]))
    called = set(keys)
    for log in each_run(obs):
        for code, env, ev in log.rows:
            if code != FACT or not isinstance(ev.payload, dict):
                continue
            key = ev.payload.get("key")
            response = decoded(obs, ev.payload.get("payload_id"))
            if not isinstance(key, str) or not isinstance(response, dict):
                continue
            # ENGINE.md, "Later checks": the response of a spawn a handler made names both; one
            # no handler here made (in a log the operator brought) is judged if it names both.
            made = (log.run_id, key) in called and (log.run_id, env.seq) not in obs.seeded
            named = [f for f in _NAMED if f in response]
            if made and len(named) < len(_NAMED):
                missing = [f for f in _NAMED if f not in named]
                out.add(log.run_id, (env.seq,), f"spawn {key!r} recorded no {', '.join(missing)}")
                continue
            if len(named) < len(_NAMED):
                continue
            keys.add((log.run_id, key))
            want = uuid.uuid5(log.run_id, key)
            if response["child_run_id"] != str(want) or response["parent_run_id"] != str(
                log.run_id
            ):
                out.add(
                    log.run_id,
                    (env.seq,),
                    f"spawn {key!r} recorded child {response['child_run_id']} of parent "
                    f"{response['parent_run_id']}, not uuid5(parent, key) = {want}",
                )
    return keys


def check_child_runs_once(obs: Observation) -> list[Violation]:
    """Children are uuid5(parent, spawn key), one per key, each attempt run once."""
    out = Out(INVARIANT.name, obs)
    derived = derive(obs)
    # Spawns show only as "calling" ops in the journal and as facts in a log.
    spawns = derived.has_facts or "calling" in derived.op_names
    keys = _spawn_keys(obs, out) if spawns else set()
    derived = {uuid.uuid5(parent, key) for parent, key in keys}
    # Without a journal (a log made by hand) the spawns a handler made are unknown.
    journaled = bool(obs.handler_journal)
    for log in each_run(obs):
        # A child a recorded log the operator brought holds was started by that log's process.
        brought = (log.run_id, 1) in obs.seeded
        if journaled and log.is_child and log.run_id not in derived and not brought:
            out.add(log.run_id, (), "child run is not uuid5(parent, spawn key) of any spawn")
    # Keyed by the id's number (a UUID's own hash is Python-level); the first entry of each
    # triple is kept to name it. Only the repeats are sorted, by run id text, state, attempt.
    seen: dict[tuple[int, str, int], list[Any]] = {}
    for entry in obs.handler_journal:
        if entry.run_id is None or entry.attempt is None or entry.replay:
            continue
        triple = (entry.run_id.int, entry.state_id, entry.attempt)
        found = seen.get(triple)
        if found is None:
            seen[triple] = [entry, 1]
        else:
            found[1] += 1
    repeats = [(first, n) for first, n in seen.values() if n > 1]
    repeats.sort(key=lambda fn: (str(fn[0].run_id), fn[0].state_id, fn[0].attempt))
    for first, n in repeats:
        out.add(
            first.run_id, (), f"{first.state_id} attempt {first.attempt}: its handler ran {n} times"
        )
    return out.items


INVARIANT = Invariant(
    "child_runs_once",
    None,
    "one child run per (parent, spawn key), and no attempt's handler runs twice",
    check_child_runs_once,
)
