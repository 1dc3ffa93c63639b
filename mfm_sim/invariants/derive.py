"""What every invariant derives from an observation, once, and the helpers they share.

An observation is read as the immutable record it is: what the checks derive from it (each
run's classified stream, whether faults used up attempts) is remembered for that object, so
the checks of one observation derive it once. Change one with `attrs.evolve`, which makes
a new object, never by editing its mappings in place.

Runs are visited in a fixed order: the main run first and the others by id (never by
mapping order); a run whose plan or run config is unknown (None) skips the parts that
need them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

from mfm_engine.events import (
    FACT_RECORDED,
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunPhase,
    RunStarted,
    StateCompleted,
    StateEntered,
    StateFailed,
)

from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation, RunView

__all__ = [
    "COMPLETED",
    "DOMAIN",
    "ENTERED",
    "FACT",
    "FAILED",
    "FINISHED",
    "INJECTED_PREFIX",
    "ORPHAN_CODE",
    "OTHER",
    "STARTED",
    "TERMINAL_PHASES",
    "Derived",
    "Log",
    "Out",
    "derive",
    "each_run",
    "event_kind",
    "main_log",
]

ORPHAN_CODE = "orphan_attempt_recovered"  # mfm_engine.runtime.engine.ORPHAN_ATTEMPT_RECOVERED
INJECTED_PREFIX = "sim_"  # codes of failures the simulator injected
# A tuple, not a set: membership by identity, without Enum's Python-level __hash__.
TERMINAL_PHASES = (RunPhase.COMPLETED, RunPhase.FAILED, RunPhase.CANCELLED)


def _rid(run_id: uuid.UUID | None) -> str | None:
    return None if run_id is None else str(run_id)


def _seqs(*seqs: int | None) -> tuple[int, ...]:
    return tuple(sorted({s for s in seqs if s is not None}))


# Event kinds as small ints. Each run's stream is classified once per observation (`Log`),
# so an invariant tests `code == ENTERED` instead of an isinstance chain per event.
STARTED, ENTERED, COMPLETED, FAILED, FINISHED, FACT, DOMAIN, OTHER = range(8)
_CODES: dict[type, int] = {
    RunStarted: STARTED,
    StateEntered: ENTERED,
    StateCompleted: COMPLETED,
    StateFailed: FAILED,
    RunCompleted: FINISHED,
    DomainEvent: DOMAIN,
}


def _code(event: Any) -> int:
    code = _CODES.get(type(event))
    if code is None:  # a subclass, or not an event at all
        code = next((c for cls, c in _CODES.items() if isinstance(event, cls)), OTHER)
    if code == DOMAIN and event.name == FACT_RECORDED:
        return FACT
    return code


class Log:
    """One run's view with its stream classified: rows of (code, envelope, event).

    Also indexed in the same pass, so a check that judges only some kinds walks only those:
    `kernel`, the rows of the run's own events (STARTED to FINISHED: no domain event, no
    fact, nothing unknown), and `failed`, the StateFailed rows; both in stream order."""

    __slots__ = (
        "failed",
        "finish",
        "has_facts",
        "is_child",
        "kernel",
        "plan",
        "rows",
        "run_config",
        "run_id",
        "stream",
        "view",
    )

    def __init__(self, view: RunView) -> None:
        self.view = view
        self.run_id = view.run_id
        self.stream = view.stream
        self.plan = view.plan
        self.run_config = view.run_config
        self.is_child = view.is_child
        rows = []
        kernel = []
        failed = []
        finish: EventEnvelope | None = None  # the first RunCompleted, which several compare
        has_facts = False  # any `fact_recorded`: the fact checks have nothing to judge without
        codes = _CODES
        for env in view.stream:
            ev = env.event
            code = codes.get(type(ev))
            if code is None:
                code = _code(ev)
                has_facts = has_facts or code == FACT
            if code <= FINISHED:  # the codes are numbered so: the run's own events
                row = (code, env, ev)
                rows.append(row)
                kernel.append(row)
                if code == FAILED:
                    failed.append(row)
                elif code == FINISHED and finish is None:
                    finish = env
                continue
            if code == DOMAIN and ev.name == FACT_RECORDED:
                code = FACT  # `_code`'s last step, inline for the common exact type
                has_facts = True
            rows.append((code, env, ev))
        self.rows = tuple(rows)
        self.kernel = kernel
        self.failed = failed
        self.finish = finish
        self.has_facts = has_facts


class Derived:
    """What the checks derive from one observation, once: every run classified (the main
    run, the one under `main_run_id`, first; the others ordered by id, never by mapping
    order), and whether faults used up attempts (computed when first asked). `memo` holds
    what several checks derive from the same observation (decoded artifacts, the journal
    matched to spans, replayed context ops), keyed by what it is, so each is derived once."""

    __slots__ = ("_by_key", "_op_names", "consumed", "logs", "main", "memo", "obs")

    def __init__(self, obs: Observation) -> None:
        self.obs = obs
        main = obs.runs.get(obs.main_run_id) if obs.main_run_id is not None else None
        others = sorted(
            (v for k, v in obs.runs.items() if k != obs.main_run_id), key=lambda v: str(v.run_id)
        )
        views = ((main,) if main is not None else ()) + tuple(others)
        self.logs = tuple(Log(v) for v in views)
        self.main = self.logs[0] if main is not None else None
        self.consumed: bool | None = None
        self.memo: dict[Any, Any] = {}
        self._op_names: frozenset[str] | None = None
        self._by_key: tuple[tuple[uuid.UUID, Log], ...] | None = None

    @property
    def by_key(self) -> tuple[tuple[uuid.UUID, Log], ...]:
        """Every run's classified log under its key in `obs.runs`, in that mapping's order:
        for a check whose violations come out in that order."""
        found = self._by_key
        if found is None:
            runs = self.obs.runs
            if len(runs) == 1:  # nearly every schedule: one run, one log
                found = ((*runs, self.logs[0]),)
            else:
                logs = {id(log.view): log for log in self.logs}
                found = tuple([(k, logs[id(v)]) for k, v in runs.items()])
            self._by_key = found
        return found

    @property
    def op_names(self) -> frozenset[str]:
        """The names of every op the handler journal holds ("read", "emit", "now", ...),
        so a check can tell in O(1) that the journal holds nothing it judges."""
        names = self._op_names
        if names is None:
            # All in C: no Python frame per entry or op.
            ops = chain.from_iterable(map(attrgetter("ops"), self.obs.handler_journal))
            names = self._op_names = frozenset(map(itemgetter(0), ops))
        return names

    @property
    def has_facts(self) -> bool:
        """Whether any run's stream holds a `fact_recorded` event."""
        return any(log.has_facts for log in self.logs)


_last: Derived | None = None


def derive(obs: Observation) -> Derived:
    global _last
    # Every invariant asks about the same observation in turn: derive it once.
    last = _last
    if last is None or last.obs is not obs:
        last = _last = Derived(obs)
    return last


def each_run(obs: Observation) -> tuple[Log, ...]:
    """The main run first, then the others ordered by id (never by mapping order)."""
    return derive(obs).logs


def main_log(obs: Observation) -> Log | None:
    """The run `obs.runs` holds under the main run's id, if any."""
    return derive(obs).main


def event_kind(env: EventEnvelope) -> str:
    ev = env.event
    if isinstance(ev, DomainEvent):
        return f"DomainEvent({ev.name})"
    return type(ev).__name__


class Out:
    """Collects one invariant's violations for one observation."""

    __slots__ = ("invariant", "items", "seed")

    def __init__(self, invariant: str, obs: Observation) -> None:
        self.invariant = invariant
        self.seed = obs.seed
        self.items: list[Violation] = []

    def add(self, run_id: uuid.UUID | None, seqs: Iterable[int | None], message: str) -> None:
        self.items.append(Violation(self.invariant, _rid(run_id), _seqs(*seqs), message, self.seed))
