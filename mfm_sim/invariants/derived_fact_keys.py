"""Promise: `now_millis` and `random_bytes` are facts under derived keys
`mfm:{kind}|run:{run_id}|state:{state_id}|attempt:{n}|ord:{k}`, `ord` from 0 per attempt and
shared by both kinds, and what a handler gets is the recorded value (ENGINE.md, "Facts").

- In the log: every `mfm:` fact key is well formed, names its own run and the attempt open
  where it is recorded (a recorded log the operator brought binds its facts before any
  attempt), and is recorded once.
- In the journal: the k-th time or random draw of an invocation (counting both kinds) is the
  fact under that attempt's key with `ord:k`, bound in the run's log, and the handler got
  exactly its recorded payload (`{"now_millis": v}`, `{"hex": h}` of the asked length): on
  a first draw, on a retry and on a resume alike.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from mfm_sim.invariants.attempt_spans import decoded
from mfm_sim.invariants.derive import ENTERED, FACT, Out, derive, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_derived_fact_keys", "derived_key"]

_DRAWS = frozenset(("now", "random"))  # the journal's ops of a time or random draw
_KEY = re.compile(
    r"mfm:(now_millis|random_bytes)\|run:([^|]*)\|state:([^|]*)\|attempt:(\d+)\|ord:(\d+)"
)


def derived_key(kind: str, run_id: uuid.UUID, state_id: str, attempt: int, ordinal: int) -> str:
    """The key ENGINE.md derives for a time or random fact."""
    return f"mfm:{kind}|run:{run_id}|state:{state_id}|attempt:{attempt}|ord:{ordinal}"


def _log_keys(obs: Observation, out: Out) -> dict[int, dict[str, tuple[int, Any]]]:
    """Check the log's derived keys; return each run's bindings (key -> (seq, payload id)),
    under the run id's number (a UUID's own hash is Python-level)."""
    bound: dict[int, dict[str, tuple[int, Any]]] = {}
    for log in each_run(obs):
        mine = bound[log.run_id.int] = {}
        open_attempt: tuple[str, int] | None = None
        for code, env, ev in log.rows:
            if code == ENTERED:
                open_attempt = (ev.state_id, ev.attempt)
                continue
            if code != FACT or not isinstance(ev.payload, dict):
                continue
            key = ev.payload.get("key")
            if not isinstance(key, str):
                continue
            if key in mine:
                if key.startswith("mfm:"):
                    out.add(
                        log.run_id, (mine[key][0], env.seq), f"derived fact {key!r} recorded twice"
                    )
                continue
            mine[key] = (env.seq, ev.payload.get("payload_id"))
            if not key.startswith("mfm:"):
                continue
            m = _KEY.fullmatch(key)
            if m is None:
                out.add(log.run_id, (env.seq,), f"derived fact key {key!r} is malformed")
                continue
            kind, run, state, attempt = m.group(1), m.group(2), m.group(3), int(m.group(4))
            if (log.run_id, env.seq) in obs.seeded:
                # A recorded log the operator brought binds facts before any attempt; what a
                # handler got from one is still judged against it below.
                if run != str(log.run_id):
                    out.add(log.run_id, (env.seq,), f"derived fact {key!r} names another run")
            elif run != str(log.run_id):
                out.add(log.run_id, (env.seq,), f"derived fact {key!r} names another run")
            elif open_attempt != (state, attempt):
                out.add(
                    log.run_id,
                    (env.seq,),
                    f"derived {kind} fact {key!r} recorded while attempt {open_attempt} is open",
                )
    return bound


def _journal(obs: Observation, out: Out, bound: dict[int, dict[str, tuple[int, Any]]]) -> None:
    for entry in obs.handler_journal:
        if entry.run_id is None or entry.attempt is None:
            continue
        mine = bound.get(entry.run_id.int)
        if mine is None:
            continue
        ordinal = 0
        for op in entry.ops:
            if op[0] not in ("now", "random"):
                continue
            kind = "now_millis" if op[0] == "now" else "random_bytes"
            key = derived_key(kind, entry.run_id, entry.state_id, entry.attempt, ordinal)
            ordinal += 1
            got = op[1] if kind == "now_millis" else op[2]
            if (op[2] if kind == "now_millis" else op[3]) is not None:
                continue  # the draw failed: the handler got no value
            where = f"{entry.state_id} attempt {entry.attempt}"
            binding = mine.get(key)
            if binding is None:
                out.add(entry.run_id, (), f"{where}: {kind} draw {ordinal - 1} has no fact {key!r}")
                continue
            payload_id = binding[1]
            if payload_id in obs.lost_artifacts or payload_id not in obs.pristine:
                continue  # the store lost it: detection judges that
            recorded = decoded(obs, payload_id)
            want = (
                recorded.get("now_millis" if kind == "now_millis" else "hex")
                if isinstance(recorded, dict)
                else None
            )
            if kind == "random_bytes" and isinstance(want, str) and len(want) != 2 * op[1]:
                out.add(entry.run_id, (binding[0],), f"{where}: {key!r} holds the wrong length")
            elif got != want or type(got) is not type(want):
                out.add(
                    entry.run_id,
                    (binding[0],),
                    f"{where}: {kind} returned {got!r}, the fact {key!r} recorded {want!r}",
                )


def check_derived_fact_keys(obs: Observation) -> list[Violation]:
    """Derived time and random facts: one key per attempt and draw, replayed as recorded."""
    out = Out(INVARIANT.name, obs)
    derived = derive(obs)
    if not derived.has_facts and derived.op_names.isdisjoint(_DRAWS):
        return out.items  # no fact in any log and no draw in the journal: nothing to judge
    bound = _log_keys(obs, out)
    _journal(obs, out, bound)
    return out.items


INVARIANT = Invariant(
    "derived_fact_keys",
    None,
    "time and random facts are keyed per run, state, attempt and draw, and replayed as recorded",
    check_derived_fact_keys,
)
