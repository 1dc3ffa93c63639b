"""The log contract: what every envelope and every failure the engine appends must carry.

ENGINE.md "Events" and "Ids and values": every envelope the engine appends carries its
timestamp as an integer count of milliseconds (never negative); every `StateFailed` names
its error with a lower-snake-case code, an `ErrorCategory` and a non-empty message. A
`handler_exception` failure (a handler raised something that is not a `StateError`) says
which exception: its message starts with the type's name, `ValueError: ...` (never
`NoneType`, which is what a lost exception would print).
"""

from __future__ import annotations

import re

from mfm_engine.errors import ErrorCategory
from mfm_engine.events import StateFailed

from mfm_sim.invariants.derive import FAILED, Out, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_log_contract", "failure_problems"]

HANDLER_EXCEPTION = "handler_exception"
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# "<ExceptionType>: <message>", naming the handler's exception (never `NoneType`).
_HANDLER_MSG = re.compile(r"^(?!NoneType:)[A-Z][A-Za-z0-9_]*: ")


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
    for log in each_run(obs):
        for code, env, ev in log.rows:
            ts = env.ts_millis
            # bool is an int subclass, and no timestamp
            if type(ts) is not int or ts < 0:
                out.add(log.run_id, (env.seq,), f"seq {env.seq} has timestamp {ts!r}")
            if code == FAILED:
                for problem in failure_problems(ev):
                    out.add(log.run_id, (env.seq,), f"seq {env.seq}: {problem}")
    return out.items


INVARIANT = Invariant(
    "log_contract",
    None,
    "every envelope has an integer timestamp; every failure names its code, category, message",
    check_log_contract,
)
