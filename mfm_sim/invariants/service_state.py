"""Service state: after a schedule, every simulated service ends in the state it ends in on the
fault-free run, modulo what the service declares idempotent (`Service.IDEMPOTENT`).

A double effect that never reaches the context (a read-modify-write that decrements stock
twice across a crash) leaves the final snapshot equal and no effect counted twice, but the
service's state differs. Judged exactly when crash transparency is (honest faults,
deterministic handlers, no attempts used up by faults), against the same reference run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mfm_sim.invariants.crash_transparency import needs_reference
from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_service_state", "differences"]

_SHOWN = 5  # differing paths named per service
_ABSENT = "<absent>"


def differences(got: Any, want: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, here, fault-free) of every leaf where two JSON-like values differ."""
    if isinstance(got, Mapping) and isinstance(want, Mapping):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(got) | set(want), key=str):
            sub = f"{path}.{key}" if path else str(key)
            out += differences(got.get(key, _ABSENT), want.get(key, _ABSENT), sub)
        return out
    return [] if got == want else [(path or "<whole state>", got, want)]


def _short(value: Any, limit: int = 60) -> str:
    text = value if value is _ABSENT else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_service_state(obs: Observation) -> list[Violation]:
    """Each service's compared final state equals the fault-free run's."""
    out = Out(INVARIANT.name, obs)
    ref = obs.reference
    if ref is None or ref.service_states is None or not needs_reference(obs):
        return out.items
    for namespace in sorted(set(obs.service_states) | set(ref.service_states)):
        diffs = differences(
            obs.service_states.get(namespace, _ABSENT), ref.service_states.get(namespace, _ABSENT)
        )
        if not diffs:
            continue
        detail = "; ".join(f"{p}: {_short(g)} != {_short(w)}" for p, g, w in diffs[:_SHOWN])
        more = f" (and {len(diffs) - _SHOWN} more)" if len(diffs) > _SHOWN else ""
        out.add(
            obs.main_run_id,
            (),
            f"service {namespace!r} ended in another state than in the fault-free run: "
            f"{detail}{more}",
        )
    return out.items


INVARIANT = Invariant(
    "service_state",
    None,
    "every service ends as in the fault-free run, modulo what it declares idempotent",
    check_service_state,
)
