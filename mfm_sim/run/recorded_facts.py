"""The facts a schedule recorded, fed to its fault-free reference run.

A value a handler got from a recorded fact (`now_millis`, `random_bytes`, a keyed call's
reply) is an input of the run, not a dependence on the crash schedule: a crash moves the
virtual clock, so the retry of an interrupted attempt records another time than the
fault-free run would. Crash transparency therefore compares a schedule with the fault-free
run *fed the facts this schedule recorded*: in the reference, each handler's k-th time or
random draw answers with the value the schedule recorded for that state's k-th draw, and a
keyed call answers with the payload the schedule recorded under its key. The reference
still calls its live sources and services (so services apply their effects as before); only
what the handler gets is replaced. A handler whose output depends on anything else (a
counter on `self`, a service's state) still differs.

Derived keys carry the attempt number, which differs between a schedule and its reference
(a crash costs an attempt), so time and random facts are matched by (run, kind, state,
ordinal), from the highest attempt that recorded them: the one whose writes the final
snapshot holds. The main run is matched by role, not by id; a child run by its id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from mfm_engine.events import FACT_RECORDED, DomainEvent
from mfm_engine.hashing import CanonicalJsonError, artifact_id_for_json, decode_json
from mfm_engine.live_io import recorded_now_millis, recorded_random_bytes

from mfm_sim.run.observation import Observation

__all__ = ["MAIN", "FedIo", "RecordedFacts", "feeder", "recorded_facts"]

MAIN = "main"  # the run label of the main run, whatever id it drew
NOW = "now_millis"
RANDOM = "random_bytes"

_DERIVED = re.compile(
    r"mfm:(now_millis|random_bytes)\|run:([^|]*)\|state:([^|]*)\|attempt:(\d+)\|ord:(\d+)"
)

# (run label, kind, state id, ordinal)
Slot = tuple[str, str, str, int]


@attrs.frozen
class RecordedFacts:
    """What a schedule's logs bound: time and random draws by slot, keyed replies by key."""

    derived: Mapping[Slot, Any] = attrs.field(factory=dict)
    keyed: Mapping[str, Any] = attrs.field(factory=dict)

    def __bool__(self) -> bool:
        return bool(self.derived) or bool(self.keyed)

    def digest(self) -> str:
        """A content id of the facts, for the reference cache's key."""
        derived = sorted([list(slot), payload] for slot, payload in self.derived.items())
        keyed = sorted([key, payload] for key, payload in self.keyed.items())
        return artifact_id_for_json({"derived": derived, "keyed": keyed})


def recorded_facts(obs: Observation) -> RecordedFacts:
    """The facts every run of `obs` recorded, with their payloads as written."""
    derived: dict[Slot, tuple[int, Any]] = {}
    keyed: dict[str, Any] = {}
    for run_id in sorted(obs.runs, key=str):
        label = MAIN if run_id == obs.main_run_id else str(run_id)
        for env in obs.runs[run_id].stream:
            event = env.event
            if not isinstance(event, DomainEvent) or event.name != FACT_RECORDED:
                continue
            payload = event.payload if isinstance(event.payload, dict) else {}
            key, payload_id = payload.get("key"), payload.get("payload_id")
            data = obs.pristine.get(payload_id) if isinstance(payload_id, str) else None
            if not isinstance(key, str) or data is None:
                continue
            try:
                value = decode_json(data)
            except (CanonicalJsonError, ValueError):
                continue
            match = _DERIVED.fullmatch(key)
            if match is None:
                keyed.setdefault(key, value)
                continue
            kind, _, state, attempt, ordinal = match.groups()
            slot = (label, kind, state, int(ordinal))
            known = derived.get(slot)
            if known is None or known[0] < int(attempt):
                derived[slot] = (int(attempt), value)
    return RecordedFacts({slot: v for slot, (_, v) in derived.items()}, keyed)


_ABSENT: Any = object()


class FedIo:
    """A handler's IO in the reference run: live as ever, answering with the schedule's facts.

    `main_run` names the reference's main run (its first issued id), so the main run's facts
    match by role."""

    __slots__ = ("_facts", "_inner", "_main_run", "_ordinal")

    def __init__(
        self, inner: Any, facts: RecordedFacts, main_run: Callable[[], uuid.UUID | None]
    ) -> None:
        self._inner = inner
        self._facts = facts
        self._main_run = main_run
        self._ordinal = 0  # ENGINE.md: one ordinal per attempt, shared by both kinds

    def _recorded(self, kind: str) -> Any:
        run_id = getattr(self._inner, "_run_id", None)
        state = getattr(self._inner, "_state_id", None)
        ordinal = self._ordinal
        self._ordinal += 1
        if run_id is None or state is None:
            return _ABSENT
        label = MAIN if run_id == self._main_run() else str(run_id)
        return self._facts.derived.get((label, kind, state, ordinal), _ABSENT)

    async def call(self, call: Any) -> Any:
        result = await self._inner.call(call)
        key = getattr(call, "fact_key", None)
        if key is None:
            return result
        return self._facts.keyed.get(key, result)

    async def now_millis(self) -> int:
        value = await self._inner.now_millis()
        recorded = self._recorded(NOW)
        return value if recorded is _ABSENT else recorded_now_millis(NOW, recorded)

    async def random_bytes(self, n: int) -> bytes:
        value = await self._inner.random_bytes(n)
        recorded = self._recorded(RANDOM)
        if recorded is _ABSENT:
            return value
        return recorded_random_bytes(RANDOM, recorded, n)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def feeder(facts: RecordedFacts, issued: Sequence[uuid.UUID]) -> Callable[[Any], FedIo]:
    """Wraps each handler's IO in a `FedIo`; `issued`: the reference world's run ids, in order
    (the fault-free main run is the first)."""

    def main_run() -> uuid.UUID | None:
        return issued[0] if issued else None

    def wrap(io: Any) -> FedIo:
        return FedIo(io, facts, main_run)

    return wrap
