"""Promise: one child run per (parent run, spawn key), and each child executed once (ENGINE.md,
"Ids and values": a child's id is uuid5(namespace=parent run id, name=fact key); "Child runs":
an existing child is resumed, never started again; a supervisor keeps one task per child).

- A recorded spawn response names its parent and the child id uuid5(parent, spawn key).
- Every child run in the store is uuid5(parent, key) of a parent run and a key that parent's
  handlers spawned under (journal) or recorded (log): no child comes from anywhere else but
  a recorded log the operator brought (`Observation.seeded`).
- No handler of any live run ran twice for one (run, state, attempt): a child started or
  resumed twice side by side would.
"""

from __future__ import annotations

import uuid

from mfm_sim.invariants.attempt_spans import decoded
from mfm_sim.invariants.derive import FACT, Out, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_child_runs_once"]

SPAWN_NAMESPACE = "machine.child_run.spawn"


def _spawn_keys(obs: Observation, out: Out) -> set[tuple[uuid.UUID, str]]:
    """(parent, key) of every spawn a handler made or a log recorded; checks recorded ones."""
    keys: set[tuple[uuid.UUID, str]] = set()
    for entry in obs.handler_journal:
        if entry.run_id is None:
            continue
        for op in entry.ops:
            if op[0] == "calling" and op[1] == SPAWN_NAMESPACE and isinstance(op[2], str):
                keys.add((entry.run_id, op[2]))
    for log in each_run(obs):
        for code, env, ev in log.rows:
            if code != FACT or not isinstance(ev.payload, dict):
                continue
            key = ev.payload.get("key")
            response = decoded(obs, ev.payload.get("payload_id"))
            if not isinstance(key, str) or not isinstance(response, dict):
                continue
            if "child_run_id" not in response or "parent_run_id" not in response:
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
    keys = _spawn_keys(obs, out)
    derived = {uuid.uuid5(parent, key) for parent, key in keys}
    # Without a journal (a log made by hand) the spawns a handler made are unknown.
    journaled = bool(obs.handler_journal)
    for log in each_run(obs):
        # A child a recorded log the operator brought holds was started by that log's process.
        brought = (log.run_id, 1) in obs.seeded
        if journaled and log.is_child and log.run_id not in derived and not brought:
            out.add(log.run_id, (), "child run is not uuid5(parent, spawn key) of any spawn")
    seen: dict[tuple[uuid.UUID, str, int], int] = {}
    for entry in obs.handler_journal:
        if entry.run_id is None or entry.attempt is None or entry.replay:
            continue
        triple = (entry.run_id, entry.state_id, entry.attempt)
        seen[triple] = seen.get(triple, 0) + 1
    for (run_id, state, attempt), n in sorted(
        seen.items(), key=lambda kv: (str(kv[0][0]), kv[0][1], kv[0][2])
    ):
        if n > 1:
            out.add(run_id, (), f"{state} attempt {attempt}: its handler ran {n} times")
    return out.items


INVARIANT = Invariant(
    "child_runs_once",
    None,
    "one child run per (parent, spawn key), and no attempt's handler runs twice",
    check_child_runs_once,
)
