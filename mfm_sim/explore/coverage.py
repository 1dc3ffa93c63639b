"""Coverage of recovery paths, derived from what a schedule left behind (SPEC §7).

No probes in the engine: every path is read off an `Observation` (the durable logs, which
incarnation appended which event, the faults that fired, the incarnations' outcomes).

Paths (`KNOWN_PATHS` lists them all):

- `resume:orphan`: a resume appended StateFailed `orphan_attempt_recovered` first.
- `resume:failed_state_retry`: a resume's first event re-entered a state whose last attempt
  had failed retryably.
- `resume:failed_exhausted`: a resume's first event was RunCompleted FAILED (the failed
  state had no attempts left, or its failure was fatal).
- `resume:next_state`: a resume's first event entered a state afresh (the next state).
- `resume:all_done`: a resume's first event was RunCompleted COMPLETED (every state had
  completed; only the end was missing).
- `resume:already_finished`: a resume of a finished run returned and appended nothing.
  Only operator resumes count (`call == "resume"`), not the harness's idempotence probe.
- `fault:<kind>@<site>`: a fault of that kind fired at that site.
- `fact:replayed`: a state recorded a fact, and a later attempt of that state was entered
  without recording that fact again (it was served from the log, not the transport).
- `child:spawned`, `child:resumed`: a child run exists; a child run's log was appended by
  more than one incarnation (it was continued after a crash).
- `retry:backoff`: within one incarnation, a retryable StateFailed was followed by the
  next attempt of that state (the engine slept its backoff).
- `run:completed`, `run:failed`: the main run's final status.
- `detected:corruption`, `detected:lost_write`: an incarnation read corrupted (or
  dropped) bytes and ended in an error or a crash rather than a result.

`ALL_PATHS` are the paths a full sweep of the `all` mix is expected to fire;
`expected_paths(scenarios)` narrows them to what the given scenarios can fire (their
fault kinds; service faults only with live IO; child paths only with child runs).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable

from mfm_engine.events import (
    FACT_RECORDED,
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)

from mfm_sim.faults.kinds import DISK_SITES, SITE_KINDS, FaultKind
from mfm_sim.run.observation import Observation, Outcome, RunView
from mfm_sim.run.scenario import Scenario
from mfm_sim.world.rng import Streams

ORPHAN_CODE = "orphan_attempt_recovered"

RESUME_PATHS: tuple[str, ...] = (
    "resume:orphan",
    "resume:failed_state_retry",
    "resume:next_state",
    "resume:all_done",
    "resume:already_finished",
)
# Users' own fault points fire at `buggify:<name>` sites that only their code knows, so no
# sweep of the built-in scenarios can be expected to reach them; the disk's sites only a real
# store reaches (`DISK_FAULT_PATHS`), never the memory stores.
FAULT_PATHS: tuple[str, ...] = tuple(
    f"fault:{kind.value}@{site}"
    for site in sorted(SITE_KINDS)
    if site != "buggify" and site not in DISK_SITES
    for kind in SITE_KINDS[site]
)
DISK_FAULT_PATHS: tuple[str, ...] = tuple(
    f"fault:{kind.value}@{site}" for site in sorted(DISK_SITES) for kind in SITE_KINDS[site]
)
OTHER_PATHS: tuple[str, ...] = (
    "fact:replayed",
    "child:spawned",
    "child:resumed",
    "retry:backoff",
    "run:completed",
    "run:failed",
    "detected:corruption",
    "detected:lost_write",
)
# Paths a full sweep of the `all` mix is expected to fire.
ALL_PATHS: tuple[str, ...] = RESUME_PATHS + FAULT_PATHS + OTHER_PATHS
# Everything coverage_of can report (the rest are informational).
KNOWN_PATHS: tuple[str, ...] = (*ALL_PATHS, *DISK_FAULT_PATHS, "resume:failed_exhausted")


def _first_appended(appended: Iterable[tuple[uuid.UUID, int]], run_id: uuid.UUID) -> int | None:
    seqs = [seq for rid, seq in appended if rid == run_id]
    return min(seqs) if seqs else None


def _resume_paths(obs: Observation, out: set[str]) -> None:
    run_id = obs.main_run_id
    view = obs.runs.get(run_id) if run_id is not None else None
    if view is None:
        return
    stream = view.stream
    by_seq = {env.seq: env for env in stream}
    for inc in obs.incarnations:
        if inc.call not in ("resume", "idempotent_resume"):
            continue
        first = _first_appended(inc.appended, view.run_id)
        if first is None:
            finished_before = any(
                isinstance(env.event, RunCompleted)
                and obs.seq_step.get((view.run_id, env.seq), (inc.number,))[0] < inc.number
                for env in stream
            )
            if inc.call == "resume" and inc.outcome is Outcome.RESULT and finished_before:
                out.add("resume:already_finished")
            continue
        env = by_seq.get(first)
        if env is None:
            continue
        ev = env.event
        if isinstance(ev, StateFailed) and ev.error.code == ORPHAN_CODE:
            out.add("resume:orphan")
        elif isinstance(ev, RunCompleted):
            out.add(
                "resume:all_done" if ev.status is RunStatus.COMPLETED else "resume:failed_exhausted"
            )
        elif isinstance(ev, StateEntered):
            prev = _last_terminal(stream, ev.state_id, first)
            if isinstance(prev, StateFailed) and prev.error.retryable:
                out.add("resume:failed_state_retry")
            else:
                out.add("resume:next_state")


def _last_terminal(stream: tuple[EventEnvelope, ...], state_id: str, before: int) -> object:
    last: object = None
    for env in stream:
        if env.seq >= before:
            break
        ev = env.event
        if isinstance(ev, (StateCompleted, StateFailed)) and ev.state_id == state_id:
            last = ev
    return last


def _stream_paths(obs: Observation, view: RunView, out: set[str]) -> None:
    facts_by_state: dict[str, set[str]] = {}
    current: str | None = None  # the state whose attempt is open
    pending_retry: dict[str, int] = {}  # state -> incarnation of its retryable StateFailed
    watching: dict[str, set[str]] = {}  # re-entered state -> facts not yet re-recorded
    incarnations: set[int] = set()
    for env in view.stream:
        ev = env.event
        inc = obs.seq_step.get((view.run_id, env.seq), (-1, -1))[0]
        incarnations.add(inc)
        if isinstance(ev, StateEntered):
            sid = ev.state_id
            current = sid
            failed_in = pending_retry.pop(sid, None)
            if failed_in is not None and failed_in == inc and inc >= 0:
                out.add("retry:backoff")
            if facts_by_state.get(sid):
                watching[sid] = set(facts_by_state[sid])
        elif isinstance(ev, DomainEvent) and ev.name == FACT_RECORDED:
            key = ev.payload.get("key") if isinstance(ev.payload, dict) else None
            if current is not None and isinstance(key, str):
                facts_by_state.setdefault(current, set()).add(key)
                if current in watching:
                    watching[current].discard(key)
        elif isinstance(ev, (StateCompleted, StateFailed)):
            sid = ev.state_id
            if sid in watching and watching.pop(sid) and isinstance(ev, StateCompleted):
                out.add("fact:replayed")
            if isinstance(ev, StateFailed) and ev.error.retryable:
                pending_retry[sid] = inc
            current = None
    if view.is_child:
        out.add("child:spawned")
        if len(incarnations - {-1}) > 1:
            out.add("child:resumed")


def coverage_of(observation: Observation) -> frozenset[str]:
    """The recovery paths one schedule fired."""
    obs = observation
    out: set[str] = set()
    for f in obs.faults:
        out.add(f"fault:{f.kind.value}@{f.site}")
    _resume_paths(obs, out)
    for run_id in sorted(obs.runs, key=str):
        _stream_paths(obs, obs.runs[run_id], out)
    phase = obs.final_phase
    if phase is not None:
        if phase.value == "completed":
            out.add("run:completed")
        elif phase.value == "failed":
            out.add("run:failed")
    for inc in obs.incarnations:
        if not inc.bad_reads or inc.outcome is Outcome.RESULT:
            continue
        kinds = {b.kind for b in inc.bad_reads}
        if FaultKind.CORRUPTED_ARTIFACT in kinds:
            out.add("detected:corruption")
        if FaultKind.DROPPED_WRITE in kinds:
            out.add("detected:lost_write")
    return frozenset(out)


class Coverage:
    """Path counts over many schedules (how often each path fired)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.schedules = 0

    def add(self, observation: Observation | Iterable[str]) -> frozenset[str]:
        paths = (
            coverage_of(observation)
            if isinstance(observation, Observation)
            else frozenset(observation)
        )
        self.schedules += 1
        self.counts.update(paths)
        return paths

    def missing(self, expected: Iterable[str] = ALL_PATHS) -> list[str]:
        return [p for p in expected if not self.counts.get(p)]

    def rows(self, expected: Iterable[str] = ALL_PATHS) -> list[tuple[str, int]]:
        """(path, count) for the expected paths in order, then any others by name."""
        exp = list(expected)
        seen = set(exp)
        extra = sorted(p for p in self.counts if p not in seen)
        return [(p, self.counts.get(p, 0)) for p in [*exp, *extra]]


def expected_paths(scenarios: Iterable[Scenario], *, seeds: int = 4) -> tuple[str, ...]:
    """ALL_PATHS narrowed to what these scenarios can fire (checked on a few seed instances)."""
    kinds: set[FaultKind] = set()
    io = child = False
    for sc in scenarios:
        kinds.update(sc.faults)
        for seed in range(seeds):
            inst = sc.build(Streams(seed).stream("scenario"))
            io = io or inst.transports is not None
            child = child or inst.child_runs
    out: list[str] = []
    for path in ALL_PATHS:
        if path.startswith("fault:"):
            kind_name, _, site = path[len("fault:") :].partition("@")
            if FaultKind(kind_name) not in kinds or (site == "service" and not io):
                continue
        if path.startswith("child:") and not child:
            continue
        if path == "detected:corruption" and FaultKind.CORRUPTED_ARTIFACT not in kinds:
            continue
        if path == "detected:lost_write" and FaultKind.DROPPED_WRITE not in kinds:
            continue
        out.append(path)
    return tuple(out)


__all__ = [
    "ALL_PATHS",
    "DISK_FAULT_PATHS",
    "FAULT_PATHS",
    "KNOWN_PATHS",
    "OTHER_PATHS",
    "RESUME_PATHS",
    "Coverage",
    "coverage_of",
    "expected_paths",
]
