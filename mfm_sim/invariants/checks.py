"""The thirteen invariants (SPEC §6), checked on what a finished schedule left behind.

`check(obs)` is pure and deterministic: it reads an `Observation` (see `observation.py`),
never the world, and returns violations in a fixed order (invariant number, then run: the
main run first and the others by id, then stream order). Each invariant walks each run's
stream once; artifact hashes are computed once per id per call.

Every check applies to every run the observation holds (the main run and child runs); a run
whose plan or run config is unknown (None) skips the parts that need them.

An observation is read as the immutable record it is: what the checks derive from it (each
run's classified stream, whether faults used up attempts) is remembered for that object, so
the 13 checks of one observation derive it once. Change one with `attrs.evolve`, which makes
a new object, never by editing its mappings in place.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import attrs
from mfm_engine.config import compute_backoff
from mfm_engine.events import (
    FACT_RECORDED,
    PHASE_FOR_STATUS,
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunPhase,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateEntered,
    StateFailed,
)
from mfm_engine.hashing import CanonicalJsonError, artifact_id_for_json, decode_json
from mfm_engine.plan import predecessors

from mfm_sim.run.observation import FaultKind, Observation, Outcome, RunView

__all__ = [
    "CHECKS",
    "INVARIANTS",
    "ORPHAN_CODE",
    "STORAGE_ERROR_CODES",
    "Violation",
    "check",
    "check_attempt_envelopes",
    "check_crash_transparency",
    "check_detected_not_silent",
    "check_effects_at_most_once",
    "check_exactly_once",
    "check_hash_integrity",
    "check_idempotent_resume",
    "check_liveness",
    "check_log_well_formed",
    "check_model_agreement",
    "check_monotone_attempts",
    "check_order",
    "check_retry_timing",
    "invariant_names",
]

ORPHAN_CODE = "orphan_attempt_recovered"  # mfm_engine.runtime.engine.ORPHAN_ATTEMPT_RECOVERED
INJECTED_PREFIX = "sim_"  # codes of failures the simulator injected
# A tuple, not a set: membership by identity, without Enum's Python-level __hash__.
TERMINAL_PHASES = (RunPhase.COMPLETED, RunPhase.FAILED, RunPhase.CANCELLED)
# What an incarnation that read dropped or corrupted bytes may end with.
STORAGE_ERROR_CODES = frozenset(
    {
        "not_found",
        "artifact_not_found",
        "manifest_not_found",
        "artifact_content_address_mismatch",
        "manifest_corrupt",
        "manifest_artifact_mismatch",  # start reads its manifest back before writing anything
    }
)
_MS = timedelta(milliseconds=1)


@attrs.frozen
class Violation:
    """One broken invariant: which, in which run, at which events (seqs), and the seed."""

    invariant: str
    run_id: str | None
    seqs: tuple[int, ...]
    message: str
    seed: int

    def describe(self) -> str:
        run = self.run_id[:8] if self.run_id else "-"
        seqs = ",".join(map(str, self.seqs)) if self.seqs else "-"
        return f"[{self.invariant}] seed={self.seed} run={run} seqs={seqs}: {self.message}"


INVARIANTS: tuple[tuple[str, int, str], ...] = (
    ("log_well_formed", 1, "seqs contiguous from 1, one RunStarted first, one run id"),
    (
        "exactly_once",
        2,
        "at most one StateCompleted per state, all of them if completed; one RunCompleted, last",
    ),
    (
        "monotone_attempts",
        3,
        "attempts 0,1,2,...; retry only after a retryable failure within max_attempts",
    ),
    (
        "attempt_envelopes",
        4,
        "each attempt closed once before the next; orphans retried from their base",
    ),
    ("order", 5, "a state is entered only after all its plan predecessors completed"),
    (
        "hash_integrity",
        6,
        "cited artifacts exist and hash to their ids; bases are the last checkpoint",
    ),
    ("crash_transparency", 7, "honest faults do not change the final status and snapshot"),
    ("idempotent_resume", 8, "resuming a finished run appends nothing and returns the same result"),
    ("effects_at_most_once", 9, "an external effect is applied at most once per idempotency key"),
    ("liveness", 10, "no deadlock or runaway; once faults stop, the run reaches a terminal status"),
    (
        "detected_not_silent",
        11,
        "reads of lost or corrupt bytes end in a storage error, never a result",
    ),
    ("retry_timing", 12, "within an incarnation, a retry waits exactly the policy's backoff"),
    ("model_agreement", 13, "the final status and snapshot match the scenario's model"),
)


def invariant_names() -> tuple[str, ...]:
    return tuple(name for name, _, _ in INVARIANTS)


# ------------------------------------------------------------------------------ helpers


def _rid(run_id: uuid.UUID | None) -> str | None:
    return None if run_id is None else str(run_id)


def _seqs(*seqs: int | None) -> tuple[int, ...]:
    return tuple(sorted({s for s in seqs if s is not None}))


# Event kinds as small ints. Each run's stream is classified once per observation (`_Log`),
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


class _Log:
    """One run's view with its stream classified: rows of (code, envelope, event)."""

    __slots__ = ("finish", "is_child", "plan", "rows", "run_config", "run_id", "stream")

    def __init__(self, view: RunView) -> None:
        self.run_id = view.run_id
        self.stream = view.stream
        self.plan = view.plan
        self.run_config = view.run_config
        self.is_child = view.is_child
        rows = []
        finish: EventEnvelope | None = None  # the first RunCompleted, which several compare
        codes = _CODES
        for env in view.stream:
            ev = env.event
            code = codes.get(type(ev))
            if code is None or code == DOMAIN:
                code = _code(ev)
            if code == FINISHED and finish is None:
                finish = env
            rows.append((code, env, ev))
        self.rows = tuple(rows)
        self.finish = finish


class _Derived:
    """What the checks derive from one observation, once: every run classified (the main
    run, the one under `main_run_id`, first; the others ordered by id, never by mapping
    order), and whether faults used up attempts (computed when first asked)."""

    __slots__ = ("consumed", "logs", "main", "obs")

    def __init__(self, obs: Observation) -> None:
        self.obs = obs
        main = obs.runs.get(obs.main_run_id) if obs.main_run_id is not None else None
        others = sorted(
            (v for k, v in obs.runs.items() if k != obs.main_run_id), key=lambda v: str(v.run_id)
        )
        views = ((main,) if main is not None else ()) + tuple(others)
        self.logs = tuple(_Log(v) for v in views)
        self.main = self.logs[0] if main is not None else None
        self.consumed: bool | None = None


_last: _Derived | None = None


def _derived(obs: Observation) -> _Derived:
    global _last
    # Every invariant asks about the same observation in turn: derive it once.
    last = _last
    if last is None or last.obs is not obs:
        last = _last = _Derived(obs)
    return last


def _runs(obs: Observation) -> tuple[_Log, ...]:
    """The main run first, then the others ordered by id (never by mapping order)."""
    return _derived(obs).logs


def _main_log(obs: Observation) -> _Log | None:
    """The run `obs.runs` holds under the main run's id, if any."""
    return _derived(obs).main


def _kind(env: EventEnvelope) -> str:
    ev = env.event
    if isinstance(ev, DomainEvent):
        return f"DomainEvent({ev.name})"
    return type(ev).__name__


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    """Mappings and sequences as dicts and lists: a model's tuples equal JSON lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Out:
    """Collects one invariant's violations for one observation."""

    __slots__ = ("invariant", "items", "seed")

    def __init__(self, invariant: str, obs: Observation) -> None:
        self.invariant = invariant
        self.seed = obs.seed
        self.items: list[Violation] = []

    def add(self, run_id: uuid.UUID | None, seqs: Iterable[int | None], message: str) -> None:
        self.items.append(Violation(self.invariant, _rid(run_id), _seqs(*seqs), message, self.seed))


# ------------------------------------------------------------------------------ 1


def check_log_well_formed(obs: Observation) -> list[Violation]:
    """Seqs contiguous from 1; exactly one RunStarted, first; every envelope has the run's id."""
    out = _Out("log_well_formed", obs)
    for log in _runs(obs):
        if not log.rows:
            continue  # nothing of this run became durable
        rid = log.run_id
        prev = 0
        foreign: list[int] = []
        starts: list[int] = []
        for code, env, _ in log.rows:
            seq = env.seq
            if seq != prev + 1:
                if seq <= prev:
                    out.add(rid, (prev, seq), f"seq {seq} follows seq {prev}: not increasing")
                elif prev == 0:
                    out.add(rid, (seq,), f"the log starts at seq {seq}, not 1")
                else:
                    out.add(rid, (prev, seq), f"gap: seqs {prev + 1}..{seq - 1} are missing")
            prev = seq
            if env.run_id is not rid and env.run_id != rid:  # `is` first: UUID eq is slow
                foreign.append(seq)
            if code == STARTED:
                starts.append(seq)
        code, first, _ = log.rows[0]
        if code != STARTED:
            where = f"RunStarted at seq {starts[0]}" if starts else "no RunStarted at all"
            out.add(
                rid,
                (first.seq, *starts[:1]),
                f"the first event is {_kind(first)}, not RunStarted ({where})",
            )
        if len(starts) > 1:
            out.add(rid, starts, f"{len(starts)} RunStarted events; exactly one is allowed")
        if foreign:
            out.add(rid, foreign, f"{len(foreign)} envelope(s) carry another run id than {rid}")
    return out.items


# ------------------------------------------------------------------------------ 2


def check_exactly_once(obs: Observation) -> list[Violation]:
    """At most one StateCompleted per state, one per plan state if the run completed; one
    RunCompleted, last; and the main run's returned result is the one its log records."""
    out = _Out("exactly_once", obs)
    for log in _runs(obs):
        rid = log.run_id
        stream = log.stream
        completed_at: dict[str, int] = {}
        finishes: list[EventEnvelope] = []
        for code, env, ev in log.rows:
            if code == COMPLETED:
                first = completed_at.get(ev.state_id)
                if first is not None:
                    out.add(
                        rid,
                        (first, env.seq),
                        f"{ev.state_id} completed twice (seqs {first} and {env.seq})",
                    )
                else:
                    completed_at[ev.state_id] = env.seq
            elif code == FINISHED:
                finishes.append(env)
        if len(finishes) > 1:
            out.add(
                rid,
                [e.seq for e in finishes],
                f"{len(finishes)} RunCompleted events; at most one is allowed",
            )
        if finishes and finishes[0] is not stream[-1]:
            last = stream[-1]
            out.add(
                rid,
                (finishes[0].seq, last.seq),
                f"RunCompleted at seq {finishes[0].seq} is not the last event "
                f"({_kind(last)} at seq {last.seq})",
            )
        done = next((e for e in finishes if e.event.status is RunStatus.COMPLETED), None)  # type: ignore[union-attr]
        if done is not None and log.plan is not None:
            missing = [n.id for n in log.plan.graph.states if n.id not in completed_at]
            if missing:
                out.add(
                    rid,
                    (done.seq,),
                    f"run completed but plan state(s) never completed: {', '.join(missing)}",
                )
        if rid == obs.main_run_id and obs.final_phase in TERMINAL_PHASES:
            phase = obs.final_phase._value_  # type: ignore[union-attr]
            if not finishes:
                out.add(
                    rid,
                    (stream[-1].seq,) if stream else (),
                    f"the engine returned {phase} but the log holds no RunCompleted",
                )
            else:
                rc = finishes[0].event
                assert isinstance(rc, RunCompleted)
                logged = PHASE_FOR_STATUS[rc.status]
                if logged is not obs.final_phase or rc.final_snapshot_id != obs.final_snapshot_id:
                    out.add(
                        rid,
                        (finishes[0].seq,),
                        f"the engine returned {phase} / {obs.final_snapshot_id} "
                        f"but the log records "
                        f"{logged.value} / {rc.final_snapshot_id}",
                    )
    return out.items


# ------------------------------------------------------------------------------ 3


def check_monotone_attempts(obs: Observation) -> list[Violation]:
    """Per state, attempts 0,1,2,...; a retry only after a retryable failure and below
    max_attempts; nothing after the state completed; a FAILED run gave up only when it had to."""
    out = _Out("monotone_attempts", obs)
    for log in _runs(obs):
        rid = log.run_id
        max_attempts = (
            log.run_config.retry_policy.max_attempts if log.run_config is not None else None
        )
        last_entered: dict[str, tuple[int, int]] = {}  # state -> (attempt, seq)
        # state -> its latest StateCompleted/StateFailed, and whether that was a failure
        last_terminal: dict[str, tuple[EventEnvelope, bool]] = {}
        completed_seq: dict[str, int] = {}
        # The latest StateCompleted/StateFailed of any state, and whether it was a failure.
        last_close: EventEnvelope | None = None
        last_close_failed = False
        for code, env, ev in log.rows:
            if code == ENTERED:
                sid = ev.state_id
                if sid in completed_seq:
                    out.add(
                        rid,
                        (completed_seq[sid], env.seq),
                        f"{sid} entered (attempt {ev.attempt}) after it completed "
                        f"at seq {completed_seq[sid]}",
                    )
                prev = last_entered.get(sid)
                expected = 0 if prev is None else prev[0] + 1
                if ev.attempt != expected:
                    out.add(
                        rid,
                        (prev[1] if prev else None, env.seq),
                        f"{sid} entered at attempt {ev.attempt}, expected attempt {expected}",
                    )
                if max_attempts is not None and ev.attempt >= max_attempts:
                    out.add(
                        rid,
                        (env.seq,),
                        f"{sid} attempt {ev.attempt} is beyond max_attempts {max_attempts}",
                    )
                term = last_terminal.get(sid)
                if term is not None and term[1] and not term[0].event.error.retryable:  # type: ignore[union-attr]
                    out.add(
                        rid,
                        (term[0].seq, env.seq),
                        f"{sid} retried after a non-retryable failure ({term[0].event.error.code})",  # type: ignore[union-attr]
                    )
                last_entered[sid] = (ev.attempt, env.seq)
            elif code == COMPLETED:
                completed_seq.setdefault(ev.state_id, env.seq)
                last_terminal[ev.state_id] = (env, False)
                last_close, last_close_failed = env, False
            elif code == FAILED:
                last_terminal[ev.state_id] = (env, True)
                last_close, last_close_failed = env, True
            elif code == FINISHED and ev.status is RunStatus.FAILED:
                if last_close is None or not last_close_failed:
                    out.add(rid, (env.seq,), "RunCompleted(FAILED) without a preceding StateFailed")
                    continue
                failed = last_close.event
                assert isinstance(failed, StateFailed)
                if not failed.error.retryable or max_attempts is None:
                    continue
                attempt = last_entered.get(failed.state_id, (None, None))[0]
                if attempt is not None and attempt + 1 < max_attempts:
                    out.add(
                        rid,
                        (last_close.seq, env.seq),
                        f"run FAILED although {failed.state_id}'s retryable failure "
                        f"at attempt {attempt} "
                        f"allowed a retry (max_attempts {max_attempts})",
                    )
    return out.items


# ------------------------------------------------------------------------------ 4


def check_attempt_envelopes(obs: Observation) -> list[Violation]:
    """Each StateEntered is closed by exactly one terminal of its state before the next one;
    only the last attempt of an unfinished run may stay open; a retry after
    `orphan_attempt_recovered` starts from the orphan's base snapshot."""
    out = _Out("attempt_envelopes", obs)
    for log in _runs(obs):
        rid = log.run_id
        open_env: EventEnvelope | None = None
        o: Any = None  # the open attempt's StateEntered
        # state -> (seq of the closing failure, orphan's base)
        orphans: dict[str, tuple[int, str]] = {}
        for code, env, ev in log.rows:
            if code == ENTERED:
                if open_env is not None:
                    out.add(
                        rid,
                        (open_env.seq, env.seq),
                        f"{ev.state_id} entered while attempt {o.attempt} of {o.state_id} "
                        f"(seq {open_env.seq}) is still open",
                    )
                if orphans:
                    orphan = orphans.pop(ev.state_id, None)
                    if orphan is not None and ev.base_snapshot_id != orphan[1]:
                        out.add(
                            rid,
                            (orphan[0], env.seq),
                            f"{ev.state_id} retried after orphan recovery from base "
                            f"{ev.base_snapshot_id[:12]}, "
                            f"not the orphan's base {orphan[1][:12]}",
                        )
                open_env, o = env, ev
            elif code in (COMPLETED, FAILED):
                if open_env is None:
                    out.add(
                        rid, (env.seq,), f"{_kind(env)} of {ev.state_id} closes no open attempt"
                    )
                    continue
                if o.state_id != ev.state_id:
                    out.add(
                        rid,
                        (open_env.seq, env.seq),
                        f"{_kind(env)} of {ev.state_id} closes the attempt of {o.state_id} "
                        f"(seq {open_env.seq})",
                    )
                elif code == FAILED and ev.error.code == ORPHAN_CODE:
                    orphans[ev.state_id] = (env.seq, o.base_snapshot_id)
                open_env = o = None
            elif code in (STARTED, FINISHED) and open_env is not None:
                out.add(
                    rid,
                    (open_env.seq, env.seq),
                    f"{_kind(env)} inside the open attempt {o.attempt} of {o.state_id}",
                )
                open_env = o = None
        if open_env is not None and log.finish is not None:
            out.add(
                rid,
                (open_env.seq,),
                f"attempt {o.attempt} of {o.state_id} is open in a finished run",
            )
    return out.items


# ------------------------------------------------------------------------------ 5


def check_order(obs: Observation) -> list[Violation]:
    """A state is entered only after all its plan predecessors completed (needs the plan)."""
    out = _Out("order", obs)
    for log in _runs(obs):
        if log.plan is None:
            continue
        rid = log.run_id
        preds = predecessors(log.plan)
        completed: set[str] = set()
        for code, env, ev in log.rows:
            if code == ENTERED:
                needed = preds.get(ev.state_id)
                if needed is None:
                    out.add(rid, (env.seq,), f"{ev.state_id} entered but it is not in the plan")
                    continue
                if completed.issuperset(needed):
                    continue
                missing = [p for p in needed if p not in completed]
                if missing:
                    out.add(
                        rid,
                        (env.seq,),
                        f"{ev.state_id} entered before its predecessor(s) completed: "
                        f"{', '.join(missing)}",
                    )
            elif code == COMPLETED:
                completed.add(ev.state_id)
    return out.items


# ------------------------------------------------------------------------------ 6


class _ArtifactJudge:
    """Verifies artifact ids against the bytes as written, hashing each id at most once."""

    def __init__(self, obs: Observation) -> None:
        self._obs = obs
        self._verdicts: dict[str, str | None] = {}
        self._manifests: dict[str, str | None] = {}

    def problem(self, artifact_id: str) -> str | None:
        if artifact_id in self._verdicts:
            return self._verdicts[artifact_id]
        obs = self._obs
        verdict: str | None = None
        if artifact_id not in obs.lost_artifacts:  # lost by the store: excused
            data = obs.pristine.get(artifact_id)
            if data is None:
                verdict = "does not exist"
            elif not obs.content_addressed:
                actual = hashlib.sha256(data).hexdigest()
                if actual != artifact_id:
                    verdict = f"holds bytes hashing to {actual[:12]}"
        self._verdicts[artifact_id] = verdict
        return verdict

    def manifest_problem(self, manifest_id: str) -> str | None:
        if manifest_id in self._manifests:
            return self._manifests[manifest_id]
        verdict: str | None = None
        data = self._obs.pristine.get(manifest_id)
        # The operator's manifest is canonical by construction: the store keys bytes by their
        # hash, so whatever sits under its id is the bytes the harness encoded.
        trusted = manifest_id in self._obs.operator_manifests
        if data is not None and not trusted and manifest_id not in self._obs.lost_artifacts:
            try:
                canonical = artifact_id_for_json(json.loads(data))
            except (ValueError, UnicodeDecodeError, CanonicalJsonError) as exc:
                verdict = f"manifest bytes are not canonical JSON ({type(exc).__name__})"
            else:
                if canonical != manifest_id:
                    verdict = (
                        f"manifest id is not the canonical hash of the manifest ({canonical[:12]})"
                    )
        self._manifests[manifest_id] = verdict
        return verdict


def check_hash_integrity(obs: Observation) -> list[Violation]:
    """Every artifact the log cites exists (unless the store lost it) and hashes to its id on
    the bytes as written; the manifest id is its canonical hash; each StateEntered's base and
    RunCompleted's final snapshot are the last checkpoint."""
    out = _Out("hash_integrity", obs)
    judge = _ArtifactJudge(obs)

    def cite(rid: uuid.UUID, env: EventEnvelope, what: str, artifact_id: str | None) -> None:
        if artifact_id is None:
            return
        problem = judge.problem(artifact_id)
        if problem is not None:
            out.add(rid, (env.seq,), f"{what} {artifact_id[:12]} cited by {_kind(env)} {problem}")

    # When the store is content-addressed, an id present in it is sound (see _ArtifactJudge);
    # only ids missing from it need the judge.
    sound: Mapping[str, bytes] = obs.pristine if obs.content_addressed else {}
    for log in _runs(obs):
        rid = log.run_id
        checkpoint: str | None = None
        checkpoint_seq: int | None = None
        for code, env, ev in log.rows:
            if code == ENTERED:
                base = ev.base_snapshot_id
                if base not in sound:
                    cite(rid, env, "base snapshot", base)
                if checkpoint is not None and base != checkpoint:
                    out.add(
                        rid,
                        (checkpoint_seq, env.seq),
                        f"{ev.state_id} attempt {ev.attempt} starts from "
                        f"{base[:12]}, "
                        f"not the last checkpoint {checkpoint[:12]} (seq {checkpoint_seq})",
                    )
            elif code == COMPLETED:
                checkpoint, checkpoint_seq = ev.context_snapshot_id, env.seq
                if checkpoint not in sound:
                    cite(rid, env, "snapshot", checkpoint)
            elif code == FAILED:
                if ev.failure_snapshot_id not in sound:
                    cite(rid, env, "failure snapshot", ev.failure_snapshot_id)
            elif code == STARTED:
                cite(rid, env, "manifest", ev.manifest_id)
                cite(rid, env, "initial snapshot", ev.initial_snapshot_id)
                problem = judge.manifest_problem(ev.manifest_id)
                if problem is not None:
                    out.add(rid, (env.seq,), problem)
                if checkpoint is None:
                    checkpoint, checkpoint_seq = ev.initial_snapshot_id, env.seq
            elif code == FINISHED:
                if ev.final_snapshot_id not in sound:
                    cite(rid, env, "final snapshot", ev.final_snapshot_id)
                if checkpoint is not None and ev.final_snapshot_id != checkpoint:
                    final = (ev.final_snapshot_id or "None")[:12]
                    out.add(
                        rid,
                        (checkpoint_seq, env.seq),
                        f"final snapshot {final} is not the last checkpoint {checkpoint[:12]} "
                        f"(seq {checkpoint_seq})",
                    )
            elif code == FACT:
                payload = ev.payload
                payload_id = payload.get("payload_id") if isinstance(payload, Mapping) else None
                if not isinstance(payload_id, str):
                    out.add(rid, (env.seq,), "fact_recorded without a payload_id")
                elif payload_id not in sound:
                    cite(rid, env, f"fact payload ({payload.get('key')})", payload_id)
    return out.items


# ------------------------------------------------------------------------------ 7 and 13


def _interrupted_by_fault(obs: Observation, run_id: uuid.UUID, entered_seq: int | None) -> bool:
    """The attempt entered at `entered_seq` was left open by a crash or a storage fault.

    An attempt the engine abandoned by failing on its own (a non-storage error) is not
    excused: that orphan is the engine's doing, not the fault schedule's.
    """
    if entered_seq is None:
        return False
    where = obs.seq_step.get((run_id, entered_seq))
    if where is None:
        return True  # appended outside any recorded incarnation (synthetic logs)
    for inc in obs.incarnations:
        if inc.number == where[0]:
            return inc.outcome is Outcome.CRASH or (
                inc.outcome is Outcome.ERROR and inc.error_kind == "storage"
            )
    return True


def _failing_state_excusable(obs: Observation, log: _Log) -> bool:
    """The run ended FAILED at a state whose failures include a recovery from a crash (or
    storage fault) or an injected failure."""
    finish = log.finish
    if finish is None or finish.event.status is not RunStatus.FAILED:  # type: ignore[union-attr]
        return False
    failing: str | None = None
    excusable: dict[str, bool] = {}
    entered: dict[str, int] = {}
    for code, env, ev in log.rows:
        if code == ENTERED:
            entered[ev.state_id] = env.seq
        elif code == FAILED:
            error_code = ev.error.code
            if error_code.startswith(INJECTED_PREFIX) or (
                error_code == ORPHAN_CODE
                and _interrupted_by_fault(obs, log.run_id, entered.get(ev.state_id))
            ):
                excusable[ev.state_id] = True
            failing = ev.state_id
        elif code == FINISHED:
            if failing is None:
                return False
            return excusable.get(failing, False)
    return False


def _faults_consumed_attempts(obs: Observation) -> bool:
    """Crashes or injected failures used up a state's attempts: the main run (or a child it
    awaited) ended FAILED because of them, so its outcome may differ from a fault-free one."""
    derived = _derived(obs)
    if derived.consumed is None:  # asked by invariants 7 and 13 and the runner in turn
        main = derived.main
        derived.consumed = (
            obs.final_phase is RunPhase.FAILED
            and main is not None
            and _failing_state_excusable(obs, main)
        ) or any(log.is_child and _failing_state_excusable(obs, log) for log in derived.logs)
    return derived.consumed


def _final_snapshot(obs: Observation) -> tuple[bool, Any]:
    """(available, value) of the main run's final snapshot."""
    sid = obs.final_snapshot_id
    if sid is None:
        return True, None
    data = obs.pristine.get(sid)
    if data is None:
        data = obs.artifacts.get(sid)
    if data is None:
        return False, None
    try:
        return True, decode_json(data)
    except (ValueError, UnicodeDecodeError):
        return False, None


def _compare_outcome(
    obs: Observation,
    out: _Out,
    expected_phase: RunPhase,
    expected_snapshot: Mapping[str, Any] | None,
    against: str,
) -> None:
    rid = obs.main_run_id
    main = _main_log(obs)
    rc = main.finish if main is not None else None
    seqs = (rc.seq,) if rc is not None else ()
    phase = obs.final_phase
    assert phase is not None
    if phase is not expected_phase:
        out.add(rid, seqs, f"final status {phase.value}, {against} says {expected_phase.value}")
        return
    if expected_snapshot is None:
        return
    available, value = _final_snapshot(obs)
    if not available and obs.final_snapshot_id in obs.lost_artifacts:
        return  # the store lost the bytes after acknowledging them: nothing to compare
    if not available:
        out.add(
            rid,
            seqs,
            f"final snapshot {(obs.final_snapshot_id or '')[:12]} is unreadable; "
            f"{against} has {_short(_plain(expected_snapshot))}",
        )
        return
    if value == expected_snapshot:
        return  # equal as they are, so equal as plain JSON too
    want = _plain(expected_snapshot)
    got = _plain(value)
    if got != want:
        if isinstance(got, dict) and isinstance(want, dict):
            keys = sorted(k for k in set(got) | set(want) if got.get(k, ...) != want.get(k, ...))
            detail = "; ".join(
                f"{k}: {_short(got.get(k, '<absent>'), 60)} "
                f"!= {_short(want.get(k, '<absent>'), 60)}"
                for k in keys[:5]
            )
        else:
            detail = f"{_short(got)} != {_short(want)}"
        out.add(rid, seqs, f"final snapshot differs from {against}: {detail}")


def _finished(obs: Observation) -> bool:
    return obs.final_phase is not None and obs.final_phase is not RunPhase.RUNNING


def check_crash_transparency(obs: Observation) -> list[Violation]:
    """Deterministic handlers under honest faults reach the fault-free status and snapshot.

    Excused: the run ended FAILED because crashes (orphan recoveries) or injected failures
    used up a state's attempts."""
    out = _Out("crash_transparency", obs)
    ref = obs.reference
    if ref is None or not needs_reference(obs):
        return out.items
    _compare_outcome(obs, out, ref.phase, ref.final_snapshot, "the fault-free run")
    return out.items


def needs_reference(obs: Observation) -> bool:
    """Whether crash transparency would compare this run with the fault-free run.

    The runner asks before paying for a reference run; most faulty schedules are excused.
    """
    return obs.transparent and obs.honest and _finished(obs) and not _faults_consumed_attempts(obs)


def check_model_agreement(obs: Observation) -> list[Violation]:
    """The finished main run matches the scenario's model (status, and snapshot if predicted).

    Excused like crash transparency: a FAILED run whose attempts were used up by crashes or
    injected failures (the model predicts the fault-free outcome)."""
    out = _Out("model_agreement", obs)
    model = obs.model
    if model is None or not _finished(obs) or _faults_consumed_attempts(obs):
        return out.items
    _compare_outcome(obs, out, model.phase, model.final_snapshot, "the model")
    return out.items


# ------------------------------------------------------------------------------ 8


def check_idempotent_resume(obs: Observation) -> list[Violation]:
    """An `idempotent_resume` incarnation returns a result, appends nothing, and returns what
    the last terminal result before it returned (or, lacking one, what the log records)."""
    out = _Out("idempotent_resume", obs)
    rid = obs.main_run_id
    main = _main_log(obs)
    rc = main.finish if main is not None else None
    logged: tuple[RunPhase, str | None] | None = None
    if rc is not None:
        assert isinstance(rc.event, RunCompleted)
        logged = (PHASE_FOR_STATUS[rc.event.status], rc.event.final_snapshot_id)
    rc_seqs = (rc.seq,) if rc is not None else ()
    previous: tuple[RunPhase, str | None] | None = None
    for inc in obs.incarnations:
        if inc.call == "idempotent_resume":
            if inc.outcome is not Outcome.RESULT:
                code = f" ({inc.error_code})" if inc.error_code else ""
                out.add(
                    rid,
                    rc_seqs,
                    f"incarnation {inc.number}: resuming a finished run ended in "
                    f"{inc.outcome.value}{code}",
                )
            if inc.appended:
                by_run: dict[uuid.UUID, list[int]] = {}
                for run_id, seq in inc.appended:
                    by_run.setdefault(run_id, []).append(seq)
                for run_id in sorted(by_run, key=str):
                    seqs = by_run[run_id]
                    out.add(
                        run_id,
                        seqs,
                        f"incarnation {inc.number}: resuming a finished run appended "
                        f"{len(seqs)} event(s)",
                    )
            expected = previous if previous is not None else logged
            if inc.outcome is Outcome.RESULT and expected is not None:
                got = (inc.phase, inc.final_snapshot_id)
                if got != expected:
                    phase = inc.phase.value if inc.phase else None
                    out.add(
                        rid,
                        rc_seqs,
                        f"incarnation {inc.number}: resume returned "
                        f"{phase} / {inc.final_snapshot_id}, "
                        f"before it {expected[0].value} / {expected[1]}",
                    )
        if inc.outcome is Outcome.RESULT and inc.phase in TERMINAL_PHASES:
            previous = (inc.phase, inc.final_snapshot_id)
    return out.items


# ------------------------------------------------------------------------------ 9


def check_effects_at_most_once(obs: Observation) -> list[Violation]:
    """Every external effect was applied at most `effect_limit` times per key."""
    out = _Out("effects_at_most_once", obs)
    for key in sorted(obs.effects):
        count = obs.effects[key]
        if count > obs.effect_limit:
            out.add(
                obs.main_run_id,
                (),
                f"effect {key!r} applied {count} times (limit {obs.effect_limit})",
            )
    return out.items


# ------------------------------------------------------------------------------ 10


def check_liveness(obs: Observation) -> list[Violation]:
    """No incarnation deadlocks or runs away (in any mode); in recoverable mode with an honest
    store, the main run reaches a terminal status."""
    out = _Out("liveness", obs)
    rid = obs.main_run_id
    main = _main_log(obs)
    head = (main.stream[-1].seq,) if main is not None and main.stream else ()
    for inc in obs.incarnations:
        if inc.outcome in (Outcome.DEADLOCK, Outcome.RUNAWAY):
            out.add(
                rid, head, f"incarnation {inc.number} ({inc.call}) ended in {inc.outcome.value}"
            )
    if out.items or not obs.recoverable or obs.store_lied:
        return out.items
    if obs.final_phase not in TERMINAL_PHASES:
        last = obs.incarnations[-1] if obs.incarnations else None
        how = ""
        if last is not None:
            code = f" {last.error_code}" if last.error_code else ""
            how = (
                f"; last incarnation {last.number} ({last.call}) "
                f"ended in {last.outcome.value}{code}"
            )
        phase = obs.final_phase.value if obs.final_phase else "no result"
        out.add(
            rid, head, f"faults stopped but the run never reached a terminal status ({phase}){how}"
        )
    return out.items


# ------------------------------------------------------------------------------ 11


def check_detected_not_silent(obs: Observation) -> list[Violation]:
    """An incarnation that read dropped or corrupted bytes ends in a storage error (or crashed),
    never in a result, and appends nothing after that read. Deadlock and runaway are liveness's."""
    out = _Out("detected_not_silent", obs)
    rid = obs.main_run_id
    for inc in obs.incarnations:
        if not inc.bad_reads:
            continue
        first = min(inc.bad_reads, key=lambda b: (b.step, b.artifact_id))
        what = f"{first.kind.value} artifact {first.artifact_id[:12]} read at step {first.step}"
        if inc.outcome is Outcome.RESULT:
            phase = inc.phase.value if inc.phase else None
            out.add(
                rid,
                (),
                f"incarnation {inc.number} returned {phase} after reading bad bytes ({what})",
            )
        elif inc.outcome is Outcome.ERROR:
            code = inc.error_code or ""
            if code not in STORAGE_ERROR_CODES and not code.startswith(INJECTED_PREFIX):
                out.add(
                    rid,
                    (),
                    f"incarnation {inc.number} failed with {code or 'no code'!s}, "
                    f"not a storage error, after reading bad bytes ({what})",
                )
        # Runs of one process (a parent and its children) run in separate tasks; a task that
        # read bad bytes must stop, but another task may go on until the error reaches it.
        late: dict[uuid.UUID, list[int]] = {}
        for run_id, seq in inc.appended:
            where = obs.seq_step.get((run_id, seq))
            if where is None or where[0] != inc.number:
                continue
            task = obs.seq_task.get((run_id, seq), "")
            if any(
                where[1] > b.step and (not b.task or not task or b.task == task)
                for b in inc.bad_reads
            ):
                late.setdefault(run_id, []).append(seq)
        for run_id in sorted(late, key=str):
            out.add(
                run_id,
                late[run_id],
                f"incarnation {inc.number} appended {len(late[run_id])} event(s) "
                f"after reading bad bytes ({what})",
            )
    return out.items


# ------------------------------------------------------------------------------ 12


def check_retry_timing(obs: Observation) -> list[Violation]:
    """Within one incarnation, a retryable StateFailed and the next StateEntered of that state
    are the policy's backoff apart: never less, and exactly that without latency in between."""
    out = _Out("retry_timing", obs)
    latency: list[int] | None = None  # steps of latency faults, sorted; made when needed
    seq_step = obs.seq_step
    for log in _runs(obs):
        if log.run_config is None:
            continue
        rid = log.run_id
        policy = log.run_config.retry_policy.backoff
        attempt_of: dict[str, int] = {}
        pending: dict[str, tuple[EventEnvelope, int]] = {}
        for code, env, ev in log.rows:
            if code == ENTERED:
                attempt_of[ev.state_id] = ev.attempt
                if not pending:
                    continue
                failed = pending.pop(ev.state_id, None)
                if failed is None:
                    continue
                fenv, attempt = failed
                a, b = seq_step.get((rid, fenv.seq)), seq_step.get((rid, env.seq))
                if (
                    a is None
                    or b is None
                    or a[0] != b[0]
                    or fenv.ts_millis is None
                    or env.ts_millis is None
                ):
                    continue
                gap = env.ts_millis - fenv.ts_millis
                backoff = compute_backoff(policy, attempt)
                low = backoff // _MS
                high = low if backoff % _MS == timedelta(0) else low + 1
                if gap < low:
                    out.add(
                        rid,
                        (fenv.seq, env.seq),
                        f"{ev.state_id} retried {gap} ms after failing attempt {attempt}; "
                        f"the backoff is {low} ms",
                    )
                elif gap > high:
                    lo_step, hi_step = min(a[1], b[1]), max(a[1], b[1])
                    if latency is None:
                        latency = sorted(f.step for f in obs.faults if f.kind is FaultKind.LATENCY)
                    i = bisect.bisect_left(latency, lo_step)
                    if i >= len(latency) or latency[i] > hi_step:
                        out.add(
                            rid,
                            (fenv.seq, env.seq),
                            f"{ev.state_id} retried {gap} ms after failing attempt {attempt} "
                            f"with no "
                            f"latency in between; the backoff is exactly {low} ms",
                        )
            elif code == FAILED:
                attempt = attempt_of.get(ev.state_id)
                if ev.error.retryable and attempt is not None:
                    pending[ev.state_id] = (env, attempt)
                elif pending:
                    pending.pop(ev.state_id, None)
            elif code == COMPLETED and pending:
                pending.pop(ev.state_id, None)
    return out.items


# ------------------------------------------------------------------------------ all

CHECKS: Mapping[str, Callable[[Observation], list[Violation]]] = {
    "log_well_formed": check_log_well_formed,
    "exactly_once": check_exactly_once,
    "monotone_attempts": check_monotone_attempts,
    "attempt_envelopes": check_attempt_envelopes,
    "order": check_order,
    "hash_integrity": check_hash_integrity,
    "crash_transparency": check_crash_transparency,
    "idempotent_resume": check_idempotent_resume,
    "effects_at_most_once": check_effects_at_most_once,
    "liveness": check_liveness,
    "detected_not_silent": check_detected_not_silent,
    "retry_timing": check_retry_timing,
    "model_agreement": check_model_agreement,
}
assert tuple(CHECKS) == invariant_names()


def check(obs: Observation, only: Sequence[str] | None = None) -> list[Violation]:
    """Every invariant (or those named in `only`) on one observation, in INVARIANTS order."""
    out: list[Violation] = []
    for name, _, _ in INVARIANTS:
        if only is None or name in only:
            out.extend(CHECKS[name](obs))
    return out
