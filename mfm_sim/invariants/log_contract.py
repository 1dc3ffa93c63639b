"""The log contract: what every envelope and every failure the engine appends must carry.

ENGINE.md "Events" and "Ids and values": every envelope the engine appends carries its
timestamp as an integer count of milliseconds (never negative); every `StateFailed` names
its error with a lower-snake-case code, an `ErrorCategory` and a non-empty message. A
`handler_exception` failure (a handler raised something that is not a `StateError`) says
which exception: its message starts with the type's name, `ValueError: ...` (never
`NoneType`, which is what a lost exception would print). Every `fact_recorded` it appends
has exactly the payload ENGINE.md names, `{key, payload_id, meta: {}}`: a string key, the
payload's artifact id and an empty `meta` (a recorded log the operator brought is not the
engine's, `Observation.seeded`).
"""

from __future__ import annotations

import re

from mfm_engine.errors import ErrorCategory
from mfm_engine.events import StateFailed

from mfm_sim.invariants.derive import FACT, FAILED, Out, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.spec.facts import is_artifact_id
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_log_contract", "fact_problem", "failure_problems"]

HANDLER_EXCEPTION = "handler_exception"
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# "<ExceptionType>: <message>", naming the handler's exception (never `NoneType`).
_HANDLER_MSG = re.compile(r"^(?!NoneType:)[A-Z][A-Za-z0-9_]*: ")
_FACT_FIELDS = frozenset(("key", "payload_id", "meta"))


def fact_problem(payload: object) -> str | None:
    """What is wrong with one `fact_recorded` payload the engine wrote, worded; None if it is
    `{key, payload_id, meta: {}}` (ENGINE.md "Events")."""
    if type(payload) is not dict or payload.keys() != _FACT_FIELDS:
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        return f"fact_recorded payload has {keys}, not key, meta and payload_id"
    if not isinstance(payload["key"], str):
        return f"fact_recorded key {payload['key']!r} is not a string"
    pid = payload["payload_id"]
    if not is_artifact_id(pid):
        return f"fact_recorded payload_id {pid!r} is not an artifact id"
    if payload["meta"] != {} or type(payload["meta"]) is not dict:
        return f"fact_recorded meta {payload['meta']!r} is not an empty object"
    return None


def failure_problems(event: StateFailed) -> list[str]:
    """What is wrong with one `StateFailed`'s error, worded; empty when it keeps the contract."""
    err = event.error
    out: list[str] = []
    if not (isinstance(err.code, str) and _CODE.match(err.code)):
        out.append(f"error code {err.code!r} is not lower snake case")
    if not isinstance(err.category, ErrorCategory):
        out.append(f"error category {err.category!r} is not an ErrorCategory")
    if not (isinstance(err.message, str) and err.message):
        out.append(f"error message {err.message!r} is empty")
    elif err.code == HANDLER_EXCEPTION and not _HANDLER_MSG.match(err.message):
        out.append(f"handler_exception message {err.message!r} does not name the exception")
    return out


def check_log_contract(obs: Observation) -> list[Violation]:
    """Every run's stream: integer timestamps, and failures that name their error."""
    out = Out(INVARIANT.name, obs)
    seeded = obs.seeded
    for log in each_run(obs):
        for code, env, ev in log.rows:
            ts = env.ts_millis
            # bool is an int subclass, and no timestamp
            if type(ts) is not int or ts < 0:
                out.add(log.run_id, (env.seq,), f"seq {env.seq} has timestamp {ts!r}")
            if code == FAILED:
                for problem in failure_problems(ev):
                    out.add(log.run_id, (env.seq,), f"seq {env.seq}: {problem}")
            elif (
                code == FACT
                and (log.run_id, env.seq) not in seeded
                and (problem := fact_problem(ev.payload)) is not None
            ):
                out.add(log.run_id, (env.seq,), f"seq {env.seq}: {problem}")
    return out.items


INVARIANT = Invariant(
    "log_contract",
    None,
    "every envelope has an integer timestamp; every failure names its code, category, message",
    check_log_contract,
)
