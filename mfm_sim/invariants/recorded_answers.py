"""Invariant 13's recorded answers: a keyed call that answered has its fact in the log.

ENGINE.md, "Facts": a keyed `io.call` answers from a bound fact (one the log holds, or one
this process recorded) or calls the transport, and then its result is stored, bound and "a
`fact_recorded` event is appended at once"; "a failed recording rolls the binding back". So
every keyed call the handler journal saw answer (no error) names a fact the run's durable log
records. An engine that kept a binding whose recording failed answers a handler that retries
the call (`mfm_scenarios.storage_retry`) from a payload no log holds, and a resume would
never find it.

Judged where the log told the truth and kept what it acknowledged (no lie about the log,
the in-memory stores): a rewritten history may bind a key no record of the engine holds.
"""

from __future__ import annotations

from collections.abc import Mapping

from mfm_engine.events import FACT_RECORDED, DomainEvent

from mfm_sim.faults.kinds import LOG_LIE_KINDS
from mfm_sim.invariants.derive import Out
from mfm_sim.run.observation import Observation

__all__ = ["check_recorded_answers"]

_LOG_LIES = frozenset(LOG_LIE_KINDS)


def _recorded(obs: Observation) -> dict[object, set[str]]:
    """Each run's fact keys its durable log records."""
    keys: dict[object, set[str]] = {}
    for run_id, view in obs.runs.items():
        bound = keys.setdefault(run_id, set())
        for env in view.stream:
            event = env.event
            if isinstance(event, DomainEvent) and event.name == FACT_RECORDED:
                payload = event.payload
                key = payload.get("key") if isinstance(payload, Mapping) else None
                if isinstance(key, str):
                    bound.add(key)
    return keys


def check_recorded_answers(obs: Observation, out: Out) -> None:
    if obs.fault_kinds & _LOG_LIES or obs.durable_store != "memory":
        return
    answered = [
        (entry, op[2])
        for entry in obs.handler_journal
        for op in entry.ops
        if op[0] == "call" and op[2] is not None and op[4] is None
    ]
    if not answered:
        return
    recorded = _recorded(obs)
    for entry, key in answered:
        bound = recorded.get(entry.run_id)
        if bound is not None and key not in bound:
            out.add(
                entry.run_id,
                (),
                f"state {entry.state_id} attempt {entry.attempt} (incarnation "
                f"{entry.incarnation}) got an answer of keyed call {key!r}, which the run's "
                "log never recorded (ENGINE.md: a keyed call's result is recorded, "
                "fact_recorded appended at once; a failed recording rolls the binding back)",
            )
