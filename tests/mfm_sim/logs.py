"""A small builder of synthetic event logs and observations, for the invariant checker's tests.

The builder writes what the engine would write: real canonical snapshots and a real manifest
(so hashes check out), attempts numbered per state, bases at the last checkpoint, retries
after the policy's backoff on the virtual clock, crashes that start a new incarnation, and
orphan recovery on resume. Tests then break one thing and see one invariant fire.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import attrs
from mfm_engine import (
    DependencyEdge,
    EventProfile,
    ExecutionPlan,
    Fixed,
    FnState,
    RetryPolicy,
    RunConfig,
    RunManifest,
    StateGraph,
    StateNode,
)
from mfm_engine.config import Backoff, compute_backoff
from mfm_engine.errors import ErrorCategory, ErrorInfo
from mfm_engine.events import (
    FACT_RECORDED,
    PHASE_FOR_STATUS,
    DomainEvent,
    Event,
    EventEnvelope,
    RunCompleted,
    RunPhase,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from mfm_engine.hashing import artifact_id_for_bytes, canonical_json_bytes

from mfm_sim.faults.kinds import Fault, FaultKind
from mfm_sim.faults.stores import BadRead
from mfm_sim.invariants import ORPHAN_CODE
from mfm_sim.run.observation import Incarnation, Observation, Outcome, Reference, RunView

OP = "demo"
S1, S2, S3 = "demo.s.one", "demo.s.two", "demo.s.three"
STATES = (S1, S2, S3)
RUN_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
CHILD_ID = uuid.UUID("00000000-0000-4000-8000-000000000002")
SEED = 4242
RESTART_MS = 1000  # an incarnation starts a virtual second after the previous one died


async def _noop(ctx: Any, io: Any, events: Any) -> None:
    return None


def linear_plan(states: Sequence[str] = STATES, op: str = OP) -> ExecutionPlan:
    nodes = tuple(StateNode(s, FnState(_noop)) for s in states)
    edges = tuple(DependencyEdge(a, b) for a, b in itertools.pairwise(states))
    return ExecutionPlan(op, StateGraph(nodes, edges))


def config(max_attempts: int = 3, backoff: Backoff | None = None) -> RunConfig:
    return RunConfig(
        retry_policy=RetryPolicy(
            max_attempts, backoff if backoff is not None else Fixed(timedelta(milliseconds=100))
        ),
        event_profile=EventProfile.MINIMAL,
    )


@attrs.define
class Entry:
    event: Event
    incarnation: int
    ts: int | None
    step: int


@attrs.define
class _Inc:
    call: str
    outcome: Outcome = Outcome.CRASH
    phase: RunPhase | None = None
    final_snapshot_id: str | None = None
    error_code: str | None = None
    bad_reads: tuple[BadRead, ...] = ()
    appended: tuple[tuple[uuid.UUID, int], ...] | None = None  # None: derived from the entries
    first_step: int = 0


class LogBuilder:
    """Builds one run's log step by step; `observation()` turns it into an `Observation`."""

    def __init__(
        self,
        *,
        plan: ExecutionPlan | None = None,
        run_config: RunConfig | None = None,
        run_id: uuid.UUID = RUN_ID,
        initial: dict[str, Any] | None = None,
        seed: int = SEED,
        start_ms: int = 5_000,
    ) -> None:
        self.plan = plan if plan is not None else linear_plan()
        self.run_config = run_config if run_config is not None else config()
        self.run_id = run_id
        self.seed = seed
        self.ctx: dict[str, Any] = dict(initial or {})
        self.artifacts: dict[str, bytes] = {}
        self.entries: list[Entry] = []
        self.faults: list[Fault] = []
        self.incs: list[_Inc] = [_Inc("start")]
        self.ts = start_ms
        self.step = 0
        self.checkpoint: str | None = None
        self.next_attempt: dict[str, int] = {}
        self.open: StateEntered | None = None
        self.last_entered: dict[str, StateEntered] = {}
        self._retry: tuple[str, int, int] | None = None  # (state, failed attempt, incarnation)
        self.manifest_id = self.put(
            RunManifest(self.plan.op_id, "1", {}, self.run_config).to_json()
        )

    # -------------------------------------------------------------- basics

    @property
    def incarnation(self) -> int:
        return len(self.incs) - 1

    def put(self, value: Any) -> str:
        data = canonical_json_bytes(value)
        artifact_id = artifact_id_for_bytes(data)
        self.artifacts[artifact_id] = data
        return artifact_id

    def append(self, event: Event, *, ts: int | None = None) -> int:
        """Append one event at the current virtual time (one fault point); returns its seq."""
        self.step += 1
        self.entries.append(
            Entry(event, self.incarnation, self.ts if ts is None else ts, self.step)
        )
        return len(self.entries)

    def advance(self, ms: int) -> None:
        self.ts += ms

    def latency(self, ms: int) -> Fault:
        """A latency fault fires at the next fault point and costs `ms` of virtual time."""
        self.step += 1
        fault = Fault(self.step, FaultKind.LATENCY, "events.append", ms, self.incarnation)
        self.faults.append(fault)
        self.ts += ms
        return fault

    def fault(self, kind: FaultKind, site: str = "artifacts.put", arg: int = 0) -> Fault:
        self.step += 1
        fault = Fault(self.step, kind, site, arg, self.incarnation)
        self.faults.append(fault)
        return fault

    # -------------------------------------------------------------- what the engine writes

    def start(self) -> int:
        self.checkpoint = self.put(dict(self.ctx))
        return self.append(RunStarted(self.plan.op_id, self.manifest_id, self.checkpoint))

    def enter(self, state: str, attempt: int | None = None, base: str | None = None) -> int:
        if (
            self._retry is not None
            and self._retry[0] == state
            and self._retry[2] == self.incarnation
        ):
            self.ts += compute_backoff(
                self.run_config.retry_policy.backoff, self._retry[1]
            ) // timedelta(milliseconds=1)
        self._retry = None
        if attempt is None:
            attempt = self.next_attempt.get(state, 0)
        if base is None:
            base = self.checkpoint
        assert base is not None, "start() first"
        ev = StateEntered(state, attempt, base)
        self.next_attempt[state] = attempt + 1
        self.open = ev
        self.last_entered[state] = ev
        return self.append(ev)

    def complete(self, state: str | None = None, snapshot: dict[str, Any] | None = None) -> int:
        state = state or self._open_state()
        if snapshot is None:
            self.ctx = {**self.ctx, "path": [*self.ctx.get("path", []), state]}
        else:
            self.ctx = dict(snapshot)
        self.checkpoint = self.put(self.ctx)
        self.open = None
        return self.append(StateCompleted(state, self.checkpoint))

    def fail(self, state: str | None = None, code: str = "flaky", retryable: bool = True) -> int:
        state = state or self._open_state()
        attempt = self.last_entered[state].attempt if state in self.last_entered else 0
        error = ErrorInfo(code, ErrorCategory.RPC, retryable, f"{code} failure")
        self.open = None
        if retryable:
            self._retry = (state, attempt, self.incarnation)
        return self.append(StateFailed(state, error))

    def crash(self, kind: FaultKind = FaultKind.CRASH_BEFORE_EFFECT) -> None:
        """The process dies at the next fault point; a new incarnation resumes a bit later."""
        self.fault(kind, "events.append")
        self.incs[-1].outcome = Outcome.CRASH
        self.incs.append(_Inc("resume", first_step=self.step + 1))
        self.ts += RESTART_MS
        self._retry = None

    def recover_orphan(self) -> int:
        """On resume: close the open attempt with `orphan_attempt_recovered` (retryable)."""
        assert self.open is not None, "no orphan to recover"
        state, attempt = self.open.state_id, self.open.attempt
        error = ErrorInfo(
            ORPHAN_CODE, ErrorCategory.UNKNOWN, True, f"attempt {attempt} was interrupted"
        )
        self.open = None
        self._retry = (state, attempt, self.incarnation)
        return self.append(StateFailed(state, error))

    def fact(self, key: str, payload: Any) -> int:
        payload_id = self.put(payload)
        return self.append(
            DomainEvent(FACT_RECORDED, {"key": key, "payload_id": payload_id, "meta": {}})
        )

    def finish(self, status: RunStatus = RunStatus.COMPLETED) -> int:
        seq = self.append(RunCompleted(status, self.checkpoint))
        inc = self.incs[-1]
        inc.outcome, inc.phase, inc.final_snapshot_id = (
            Outcome.RESULT,
            PHASE_FOR_STATUS[status],
            self.checkpoint,
        )
        return seq

    def idempotent_resume(self, **changes: Any) -> None:
        """A later incarnation resumes the finished run: by default it returns the same result."""
        last = self.incs[-1]
        self.incs.append(
            _Inc(
                "idempotent_resume",
                Outcome.RESULT,
                last.phase,
                last.final_snapshot_id,
                appended=(),
                first_step=self.step + 1,
            )
        )
        for name, value in changes.items():
            setattr(self.incs[-1], name, value)

    def run_state(self, state: str, *, failures: int = 0, orphans: int = 0) -> None:
        """Enter `state`; fail retryably `failures` times, crash `orphans` times; then complete."""
        for _ in range(failures):
            self.enter(state)
            self.fail(state)
        for _ in range(orphans):
            self.enter(state)
            self.crash()
            self.recover_orphan()
        self.enter(state)
        self.complete(state)

    def _open_state(self) -> str:
        assert self.open is not None, "no open attempt"
        return self.open.state_id

    # -------------------------------------------------------------- the observation

    def envelopes(self) -> tuple[EventEnvelope, ...]:
        return tuple(
            EventEnvelope(self.run_id, i, e.event, e.ts)
            for i, e in enumerate(self.entries, start=1)
        )

    def seq_steps(self) -> dict[tuple[uuid.UUID, int], tuple[int, int]]:
        return {
            (self.run_id, i): (e.incarnation, e.step) for i, e in enumerate(self.entries, start=1)
        }

    def view(self, *, is_child: bool = False) -> RunView:
        return RunView(self.run_id, self.envelopes(), self.plan, self.run_config, is_child)

    def final_snapshot(self) -> dict[str, Any] | None:
        import json

        sid = self.final_result()[1]
        return None if sid is None else json.loads(self.artifacts[sid])

    def final_result(self) -> tuple[RunPhase | None, str | None]:
        phase, sid = None, None
        for inc in self.incs:
            if (
                inc.outcome is Outcome.RESULT
                and inc.phase is not None
                and inc.phase is not RunPhase.RUNNING
            ):
                phase, sid = inc.phase, inc.final_snapshot_id
        return phase, sid

    def reference(self) -> Reference | None:
        """The run's own outcome as a reference (a clean run agrees with itself)."""
        phase = self.final_result()[0]
        return None if phase is None else Reference(phase, self.final_snapshot())

    def incarnations(self) -> tuple[Incarnation, ...]:
        out = []
        for n, inc in enumerate(self.incs):
            appended = inc.appended
            if appended is None:
                appended = tuple(
                    (self.run_id, i)
                    for i, e in enumerate(self.entries, start=1)
                    if e.incarnation == n
                )
            last_step = self.incs[n + 1].first_step - 1 if n + 1 < len(self.incs) else self.step
            out.append(
                Incarnation(
                    number=n,
                    call=inc.call,
                    outcome=inc.outcome,
                    phase=inc.phase,
                    final_snapshot_id=inc.final_snapshot_id,
                    error_kind="storage" if inc.outcome is Outcome.ERROR else None,
                    error_code=inc.error_code,
                    first_step=inc.first_step,
                    last_step=last_step,
                    bad_reads=inc.bad_reads,
                    appended=appended,
                    result_run_id=self.run_id if inc.outcome is Outcome.RESULT else None,
                )
            )
        return tuple(out)

    def observation(self, *, children: Iterable[LogBuilder] = (), **changes: Any) -> Observation:
        runs = {self.run_id: self.view()}
        artifacts = dict(self.artifacts)
        seq_step = self.seq_steps()
        faults = list(self.faults)
        for child in children:
            runs[child.run_id] = child.view(is_child=True)
            artifacts.update(child.artifacts)
            seq_step.update(child.seq_steps())
            faults.extend(child.faults)
        phase, sid = self.final_result()
        obs = Observation(
            seed=self.seed,
            scenario="synthetic",
            main_run_id=self.run_id,
            runs=runs,
            artifacts=dict(artifacts),
            pristine=artifacts,
            lost_artifacts=frozenset(),
            corrupted_artifacts=frozenset(),
            faults=tuple(sorted(faults, key=lambda f: f.step)),
            incarnations=self.incarnations(),
            seq_step=seq_step,
            final_phase=phase,
            final_snapshot_id=sid,
        )
        return attrs.evolve(obs, **changes) if changes else obs


def with_stream(
    obs: Observation, stream: Sequence[EventEnvelope], run_id: uuid.UUID | None = None
) -> Observation:
    """The observation with one run's stream replaced (the main run's by default)."""
    rid = run_id if run_id is not None else obs.main_run_id
    assert rid is not None
    runs = dict(obs.runs)
    runs[rid] = attrs.evolve(runs[rid], stream=tuple(stream))
    return attrs.evolve(obs, runs=runs)


def renumber(stream: Sequence[EventEnvelope]) -> tuple[EventEnvelope, ...]:
    return tuple(attrs.evolve(env, seq=i) for i, env in enumerate(stream, start=1))


def clean_builder(**kwargs: Any) -> LogBuilder:
    """A finished run that exercises every recovery path the checker knows:
    S1 fails retryably once and is retried after the backoff; S2 records a fact, then its
    process crashes mid-attempt and resume recovers the orphan and retries it; S3 completes;
    the run completes; a later resume of the finished run changes nothing."""
    b = LogBuilder(**kwargs)
    b.start()
    b.enter(S1)
    b.fail()
    b.enter(S1)
    b.complete()
    b.enter(S2)
    b.fact("charge:alice", {"receipt": 1})
    b.crash()
    b.recover_orphan()
    b.enter(S2)
    b.complete()
    b.enter(S3)
    b.complete()
    b.finish()
    b.idempotent_resume()
    return b


def clean_observation(**changes: Any) -> Observation:
    b = clean_builder()
    ref = b.reference()
    return b.observation(**{"reference": ref, "model": ref, **changes})
