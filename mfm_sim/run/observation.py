"""What a finished schedule leaves behind for the invariant checker: pure data, no behaviour."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
from mfm_engine.config import RunConfig
from mfm_engine.events import EventEnvelope, RunPhase
from mfm_engine.plan import ExecutionPlan

from mfm_sim.faults.appends import Batch, SeqKey, appended_events
from mfm_sim.faults.journal import REQUIRED, HandlerAttempt, TransportUse
from mfm_sim.faults.kinds import HONEST_KINDS, LYING_KINDS, Fault, FaultKind
from mfm_sim.faults.stores import BadRead

__all__ = [
    "REQUIRED",
    "AttemptPrediction",
    "Breach",
    "ContractBreach",
    "CtxRef",
    "FactRef",
    "HandlerAttempt",
    "Incarnation",
    "Observation",
    "OperatorOutcome",
    "Outcome",
    "Prediction",
    "RaisedError",
    "Reference",
    "RunView",
    "StoreAppend",
    "TransportUse",
]

# The same as tuples, for membership by identity: a set lookup calls Enum's Python-level
# __hash__ for every fault of every observation.
_HONEST = tuple(k for k in FaultKind if k in HONEST_KINDS)
_LYING = tuple(k for k in FaultKind if k in LYING_KINDS)


class Outcome(enum.Enum):
    RESULT = "result"  # start/resume returned a RunResult
    ERROR = "error"  # start/resume raised a RunError
    CRASH = "crash"  # the simulated process died
    DEADLOCK = "deadlock"  # nothing ready, no timer, call unfinished
    RUNAWAY = "runaway"  # step or virtual-time bound exceeded


@attrs.frozen
class RaisedError:
    """An error a `start` or `resume` raised, as it was: the `RunError`'s kind and info, and the
    engine error it chains (its class name and kind), when it chains one. A refusal's reason
    (a plan's `PlanValidationError`, an `EnvelopeError`) also leaves its seq, subject and
    message, as plain values."""

    kind: Any
    info: Any  # the ErrorInfo
    cause_type: str | None = None
    cause_kind: Any = None
    cause_seq: Any = None
    cause_subject: Any = None
    cause_message: Any = None


@attrs.frozen
class Incarnation:
    number: int
    call: str  # "start" | "resume" | "idempotent_resume"
    outcome: Outcome
    phase: RunPhase | None = None
    final_snapshot_id: str | None = None
    error_kind: str | None = None
    error_code: str | None = None
    start_ns: int = 0
    end_ns: int = 0
    first_step: int = 0
    last_step: int = 0
    bad_reads: tuple[BadRead, ...] = ()
    # The RunError it raised, as raised (`run/raised.py`): its fields' types are the oracle's.
    raised: RaisedError | None = attrs.field(default=None, eq=False)
    # A `stop_after_handler` fault armed the engine's failpoint in this incarnation, and what
    # the flag held when the call ended (ENGINE.md "One attempt" 4: consumed, cleared).
    failpoint_armed: bool = False
    failpoint_after: Any = False
    result_run_id: uuid.UUID | None = None  # the RunResult's run id, when it returned one
    # The append calls that made events durable; `appended` lists their events.
    appends: tuple[Batch, ...] = attrs.field(default=(), hash=False)
    # Given by synthetic logs, which record no append calls; None: derived from `appends`.
    _appended: tuple[SeqKey, ...] | None = attrs.field(default=None, alias="appended")
    # The derived list, made on first read: most schedules never read it, and every event
    # of every schedule would pay for it. Not an init field, so `evolve` starts afresh.
    _derived: tuple[SeqKey, ...] | None = attrs.field(
        default=None, init=False, eq=False, hash=False, repr=False
    )

    @property
    def appended(self) -> tuple[SeqKey, ...]:
        """(run_id, seq) of every event this incarnation made durable, in order."""
        if self._appended is not None:
            return self._appended
        got = self._derived
        if got is None:
            got = tuple(appended_events(self.appends))
            object.__setattr__(self, "_derived", got)
        return got


class Breach(enum.Enum):
    """How the engine broke its API contract, as the simulation saw it while it ran."""

    UNTYPED = "untyped"  # an exception that is not a RunError escaped the engine
    OWN_FAILURE = "own_failure"  # a call failed on its own, not because of a fault
    REFUSED_VALID_RUN = "refused_valid_run"  # input its own validators accept was refused


@attrs.frozen
class ContractBreach:
    """One breach of the engine's API contract, in the order the simulation saw them."""

    kind: Breach
    run_id: uuid.UUID | None
    incarnation: int
    call: str  # "start" | "resume" | "idempotent_resume"
    error_kind: str | None
    error_code: str | None  # for an untyped exception, its type's name
    detail: str = ""  # for an untyped exception, its text


@attrs.frozen
class OperatorOutcome:
    """What one operator mistake (`mfm_sim.run.operator`) got: the refusal, and whether the
    durable stores changed. `head` is the main run's durable head when it was made (0: before
    the main start), so a check can judge it against the log as it stood then."""

    name: str
    call: str  # "start" | "resume"
    error_kind: str | None  # None: the call returned a result
    error_code: str | None
    wrote: bool
    head: int = 0
    raised: RaisedError | None = attrs.field(default=None, eq=False)
    # The refusal's ErrorInfo category (its value) and retryable flag; None for a result.
    error_category: str | None = None
    error_retryable: bool | None = None
    error_message: object = None  # ErrorInfo.message as the engine set it (a str, ENGINE.md)
    error_subkind: str | None = None  # a ContextError's kind (its value)
    # The events the call appended to the stream of the run it named (`wrote` is every other
    # durable change), in order.
    appended: tuple[Any, ...] = ()
    plan: ExecutionPlan | None = attrs.field(default=None, eq=False)  # the plan it was given
    # A resume's run's durable stream when it was made (what the engine read), else ().
    read: tuple[EventEnvelope, ...] = attrs.field(default=(), eq=False)


@attrs.frozen
class RunView:
    run_id: uuid.UUID
    stream: tuple[EventEnvelope, ...]
    plan: ExecutionPlan | None
    run_config: RunConfig | None
    is_child: bool = False


@attrs.frozen
class StoreAppend:
    """One append a real durable store was asked for (`run/backends.py`), and whether it
    returned (acknowledged) or raised (a crash took the machine down inside it, most often)."""

    run_id: uuid.UUID
    envelopes: tuple[EventEnvelope, ...]
    returned: bool


@attrs.frozen
class Reference:
    """The fault-free outcome of the same scenario and knobs."""

    phase: RunPhase
    final_snapshot: Mapping[str, Any] | None
    # A reference interpreter's detailed prediction (generated workloads), or None.
    prediction: Prediction | None = None
    # namespace -> each service's compared final state (None: not recorded, e.g. a model).
    service_states: Mapping[str, Any] | None = None


@attrs.frozen
class Observation:
    seed: int
    scenario: str
    main_run_id: uuid.UUID | None
    runs: Mapping[uuid.UUID, RunView]
    artifacts: Mapping[str, bytes]  # what a reader of the durable store sees now
    pristine: Mapping[str, bytes]  # the bytes as written (before corruption)
    lost_artifacts: frozenset[str]
    corrupted_artifacts: frozenset[str]
    faults: tuple[Fault, ...]
    incarnations: tuple[Incarnation, ...]
    # (run, seq) -> (incarnation, step of the append call that made it durable)
    seq_step: Mapping[tuple[uuid.UUID, int], tuple[int, int]]
    final_phase: RunPhase | None
    final_snapshot_id: str | None
    reference: Reference | None = None
    model: Reference | None = None
    transparent: bool = True  # the scenario's handlers are deterministic
    recoverable: bool = True  # faults were budgeted, so liveness is judged
    effects: Mapping[str, int] = attrs.field(factory=dict)  # external effects per idempotency key
    effect_limit: int = 1
    seq_task: Mapping[tuple[uuid.UUID, int], str] = attrs.field(factory=dict)  # who appended it
    # Manifest ids whose bytes the harness itself encoded canonically (the operator's manifest).
    operator_manifests: frozenset[str] = frozenset()
    # True when `pristine` is keyed by the hash of its bytes by construction (the store
    # computed every key it holds), so an id present there needs no re-hashing. Synthetic
    # logs leave it False and are verified byte by byte.
    content_addressed: bool = False
    # Breaches of the engine's API contract the simulation saw while it ran, in that order.
    contract_breaches: tuple[ContractBreach, ...] = ()
    # What each handler invocation did through ctx, io and events (`faults/journal.py`), in
    # the order they started; and every transport an incarnation made or called.
    handler_journal: tuple[HandlerAttempt, ...] = ()
    transport_uses: tuple[TransportUse, ...] = ()
    # namespace -> each simulated service's final state, modulo what it declares idempotent
    # (`World.service_states`); compared with the reference's by the `service_state` check.
    service_states: Mapping[str, Any] = attrs.field(factory=dict)
    # The operator's mistaken starts and resumes beside the main run, in the order made.
    operator_calls: tuple[OperatorOutcome, ...] = ()
    # artifact id -> the kind (its value) the durable store recorded for its first put; empty
    # for a store that keeps no kinds.
    artifact_kinds: Mapping[str, str] = attrs.field(factory=dict)
    # (run, seq) of the records a recorded log the operator brought holds
    # (`run/seeded_history.py`): written before any incarnation, by no engine.
    seeded: frozenset[tuple[uuid.UUID, int]] = frozenset()
    # Where the durable stores lived: "memory" (the model stores, which cannot lose what they
    # acknowledged) or a real store on the simulated disk ("sqlite", "jsonl"): invariant 15.
    durable_store: str = "memory"
    # Every append a real store on the simulated disk was asked for, in order; empty for the
    # in-memory store (`durability` judges these: all or nothing).
    store_appends: tuple[StoreAppend, ...] = ()
    # Every run id the engine's id source handed out, in order (None: not recorded, as in a
    # synthetic log); ENGINE.md: `start` takes a new id from the id source it is given.
    issued_run_ids: tuple[uuid.UUID, ...] | None = None
    # How many times the engine's entropy source was drawn from (None: not recorded).
    entropy_draws: int | None = None

    @property
    def fault_kinds(self) -> frozenset[FaultKind]:
        return frozenset(f.kind for f in self.faults)

    @property
    def honest(self) -> bool:
        return all(f.kind in _HONEST for f in self.faults)

    @property
    def store_lied(self) -> bool:
        return any(f.kind in _LYING for f in self.faults)


# A reference interpreter's prediction (`mfm_scenarios.interpreter`), judged by invariant 13.
# Values the interpreter cannot know by value appear inside predicted JSON as symbols, which
# the check resolves against what the log recorded.


@attrs.frozen
class FactRef:
    """The payload recorded under fact `key` (`{run}` stands for the run's id), or its `field`."""

    key: str
    field: str | None = None


@attrs.frozen
class CtxRef:
    """The value of context key `key` in the attempt's base snapshot (null when absent)."""

    key: str


@attrs.frozen
class AttemptPrediction:
    """What attempt `attempt` of a state does, as a function of its number alone."""

    state_id: str
    attempt: int
    skipped: bool
    completed: bool
    # (code, retryable, message as persisted) of the StateFailed, when not completed.
    error: tuple[str, bool, str] | None
    events: tuple[tuple[str, Any, str | None], ...]  # domain events kept: (name, payload, ref)
    derived_facts: tuple[str, ...]  # derived fact keys recorded, `{run}` for the run id
    # The attempt's net change of the context: ("set", key, value) or ("del", key, None).
    effects: tuple[tuple[str, str, Any], ...]
    refusals: tuple[str, ...]  # codes of the refusals it meets (caught or not)


@attrs.frozen
class Prediction:
    """A generated workload's fault-free run, and every attempt any schedule may run."""

    attempts: Mapping[tuple[str, int], AttemptPrediction]  # children's states too
    path: tuple[tuple[str, int], ...]  # the main run's (state, attempt) entered, in order
    explicit_facts: tuple[str, ...]  # keys bound by keyed calls, sorted
    derived_facts: tuple[str, ...]  # derived keys bound, sorted, `{run}` for the run id
    # Predictable fields of recorded payloads: key -> {field: value} (None: the whole payload).
    fact_fields: Mapping[str, Mapping[str, Any]]
    final_context: Mapping[str, Any] | None  # may hold FactRef symbols
    # Operator mistakes: name -> (error kind, error code or None where ENGINE.md names none)
    # a correct engine refuses it with, writing nothing (`mfm_scenarios.operator`).
    operator: Mapping[str, tuple[str, str | None]] = attrs.field(factory=dict)
    # The events a mistake may append to its run's stream, in order (none unless named).
    operator_writes: Mapping[str, tuple[Any, ...]] = attrs.field(factory=dict)
