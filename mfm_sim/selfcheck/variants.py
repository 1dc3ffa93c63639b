"""Deliberately broken engine variants: the bugs a sweep must catch (checks must be able to fail).

Each built-in variant is one or two small source patches of engine functions, applied through
the seam in `mfm_sim.selfcheck.patch` (see its docstring): a few lines of the function as the
engine has them and the lines that put the bug in their place. The engine's files stay
untouched, and nothing here copies an engine function, so an engine change needs no mirrored
edit; one that moves a variant's snippet makes that variant fail loudly (`StalePatch`).

A `Variant` may also be built from any context-manager factory (tests register their own).
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import attrs
from mfm_engine.errors import StorageError
from mfm_engine.events import Event, EventEnvelope

from mfm_sim.selfcheck.patch import Edit, FunctionPatch, patched

__all__ = ["VARIANTS", "PatchFactory", "UnknownVariant", "Variant", "variant_context"]

PatchFactory = Callable[[], AbstractContextManager[None]]


@attrs.frozen
class Variant:
    """A named broken engine: `patch()` is the context in which the engine has the bug."""

    name: str
    description: str
    patch: PatchFactory
    patches: tuple[FunctionPatch, ...] = ()  # what `patch` swaps in, when built from patches


VARIANTS: dict[str, Variant] = {}


def _register(name: str, description: str, *patches: FunctionPatch) -> None:
    VARIANTS[name] = Variant(name, description, functools.partial(patched, name, patches), patches)


class UnknownVariant(ValueError):
    pass


@contextlib.contextmanager
def variant_context(name: str | None) -> Iterator[None]:
    if name is None:
        yield
        return
    variant = VARIANTS.get(name)
    if variant is None:
        known = ", ".join(sorted(VARIANTS))
        raise UnknownVariant(f"unknown engine variant {name!r}; known: {known}")
    with variant.patch():
        yield


_ENGINE = "mfm_engine.runtime.engine"
_RESUME = "DefaultExecutionEngine._resume"
_RUN_STATES = "DefaultExecutionEngine._run_states"
_ATTEMPT = "mfm_engine.runtime.attempt"


def _patch(module: str, qualname: str, old: str, new: str) -> FunctionPatch:
    return FunctionPatch(module, qualname, (Edit(old, new),))


# ------------------------------------------------------------------------------ recovery

_register(
    "unfixed_orphan",
    "the seed's resume: an orphan attempt is retried at attempt + 1 without first being "
    "closed by StateFailed orphan_attempt_recovered (two StateEntered in a row, no bound)",
    _patch(
        _ENGINE,
        _RESUME,
        "if orphan is not None:",
        """
        if orphan is not None:
            # The seed: retry the orphan at once, leaving its StateEntered open.
            start = _StartAt(orphan.state_id, orphan.attempt + 1, orphan.base_snapshot_id)
            completed = history.completed_states
            return await self._run_states(
                stores, plan, cfg, writer, checkpoint, completed, start, facts
            )
        """,
    ),
)

_register(
    "orphan_retry_unbounded",
    "the orphan is closed, but its retry ignores max_attempts: a crash-looping state "
    "is retried forever",
    _patch(
        _ENGINE,
        _RESUME,
        "if not failure.retryable or nxt >= cfg.retry_policy.max_attempts:",
        """
        unbounded = orphan is not None and orphan.state_id == next_state
        if not unbounded and (not failure.retryable or nxt >= cfg.retry_policy.max_attempts):
        """,
    ),
)

_register(
    "rerun_completed",
    "resume forgets the completed states and runs the plan again from its first state",
    _patch(
        _ENGINE,
        _RESUME,
        "next_state = next((n.id for n in ordered if n.id not in history.completed_states), None)",
        """
        # Forgets which states completed: the plan runs again from its first state.
        return await self._run_states(
            stores, plan, cfg, writer, checkpoint, frozenset(), None, facts
        )
        """,
    ),
)

_register(
    "run_completed_twice",
    "resuming a finished run appends its RunCompleted again instead of returning the result",
    _patch(
        _ENGINE,
        _RESUME,
        "done = history.run_completed",
        """
        done = history.run_completed
        writer = await EventWriter.open(stores.events, run_id, self.clock)
        await writer.append([RunCompleted(done.status, done.final_snapshot_id)])
        """,
    ),
)

_register(
    "wrong_base_snapshot",
    "a retry after resume (orphan or failed attempt) starts from the run's initial snapshot "
    "instead of the failed attempt's base snapshot",
    _patch(
        _ENGINE,
        _RESUME,
        "start = _StartAt(next_state, nxt, failure.base_snapshot_id, delay_first)",
        "start = _StartAt(next_state, nxt, history.started.initial_snapshot_id, delay_first)",
    ),
)

_register(
    "manifest_hash_unchecked",
    "resume decodes the manifest bytes without checking that they hash to the manifest id",
    _patch(
        _ENGINE,
        "read_manifest",
        "if artifact_id_for_bytes(data) != manifest_id:",
        "if False:  # the bug: corrupt bytes are decoded (or fail to decode) as if sound",
    ),
)

# ------------------------------------------------------------------------------ retries

_register(
    "attempt_off_by_one",
    "a failed attempt is retried while attempt + 1 <= max_attempts (one attempt too many)",
    _patch(
        _ENGINE,
        _RESUME,
        "if not failure.retryable or nxt >= cfg.retry_policy.max_attempts:",
        "if not failure.retryable or nxt > cfg.retry_policy.max_attempts:",
    ),
    _patch(
        _ENGINE,
        _RUN_STATES,
        "if outcome.retryable and attempt + 1 < cfg.retry_policy.max_attempts:",
        "if outcome.retryable and attempt + 1 <= cfg.retry_policy.max_attempts:",
    ),
)

_register(
    "retry_non_retryable",
    "a failed attempt is retried whether or not its error is retryable",
    _patch(
        _ENGINE,
        _RESUME,
        "if not failure.retryable or nxt >= cfg.retry_policy.max_attempts:",
        "if nxt >= cfg.retry_policy.max_attempts:",
    ),
    _patch(
        _ENGINE,
        _RUN_STATES,
        "if outcome.retryable and attempt + 1 < cfg.retry_policy.max_attempts:",
        "if attempt + 1 < cfg.retry_policy.max_attempts:",
    ),
)

_register(
    "backoff_ignored",
    "retries start at once: the engine never sleeps the retry policy's backoff",
    # Only the engine's retry loop: the invariants keep judging against the real backoff.
    _patch(
        _ENGINE,
        _RUN_STATES,
        "pause = compute_backoff(cfg.retry_policy.backoff, attempt - 1)",
        "pause = None  # the bug",
    ),
)

# ------------------------------------------------------------------------------ attempts

_register(
    "dropped_state_failed",
    "a failing attempt appends no StateFailed (its redaction path swallows the append), so "
    "the attempt stays open while the engine retries or finishes the run",
    _patch(
        _ATTEMPT,
        "_execute",
        "await a.writer.append([*recorder.events, StateFailed(a.state_id, failure)])",
        "# The bug: the redaction's error path swallowed the append; the attempt stays open.",
    ),
)

_register(
    "skip_tags_ignored",
    "a state whose tags meet run_config.skip_tags still runs its handler",
    _patch(
        _ATTEMPT,
        "_execute",
        "if a.run_config.skip_tags and not set(a.meta.tags).isdisjoint(a.run_config.skip_tags):",
        "if False:  # the bug: skip tags are never looked at",
    ),
)

# ------------------------------------------------------------------------------ the writer

_WRITER_TRIES = 3


async def _retry_at_store_head(
    writer: Any, events: Sequence[Event], ts: int, base: int, envelopes: list[EventEnvelope]
) -> int:
    """The blind writer's append: a retryable store error is retried at the store's new head,
    so after an indeterminate append the same events are written a second time."""
    store, run_id = writer._events, writer.run_id
    for tries in range(1, _WRITER_TRIES + 1):
        try:
            return await store.append(run_id, base, envelopes)
        except StorageError as exc:
            if not exc.info.retryable or tries == _WRITER_TRIES:
                raise
        base = await store.head_seq(run_id)
        envelopes = [EventEnvelope(run_id, base + i, ev, ts) for i, ev in enumerate(events, 1)]
    raise AssertionError("unreachable")


_register(
    "writer_ignores_expected_seq",
    "the event writer ignores the head it appended and re-reads the store's head before "
    "every append, retrying failed appends there: an ambiguous append is written twice",
    FunctionPatch(
        "mfm_engine.runtime.writer",
        "EventWriter.append",
        (
            Edit("base = self.head", "base = await self._events.head_seq(self.run_id)"),
            Edit(
                "self.head = await self._events.append(self.run_id, base, envelopes)",
                "self.head = await _retry_at_store_head(self, events, ts, base, envelopes)",
            ),
        ),
        names=(("_retry_at_store_head", _retry_at_store_head),),
    ),
)

# ------------------------------------------------------------------------------ facts

_register(
    "fact_reexecuted",
    "live IO ignores recorded facts: a retried or resumed attempt calls the transport again",
    _patch(
        "mfm_engine.live_io",
        "LiveIo.call",
        """
        recorded = await self._recorded(call.fact_key)
        if recorded is not NOT_RECORDED:
            return recorded
        """,
        "# The bug: the recorded payload is never consulted; the transport runs every time.",
    ),
)

# ------------------------------------------------------------------------------ child runs

_register(
    "child_started_twice",
    "awaiting a child with no task in this process starts it again from the spawn request "
    "even when its run already exists (a second RunStarted in the child's log)",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        "if existing is None:",
        "if existing is None or isinstance(spawn, dict):  # the bug: exists or not",
    ),
)

_register(
    "supervisor_task_per_spawn",
    "every spawn that reaches the child-run wrapper starts a task of its own, even while the "
    "supervisor holds a live one for that child: two spawns made at once over an artifact store "
    "across a network start the child twice",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_Supervisor.ensure",
        "if task is None:",
        "if True:  # the bug: the live task is not joined",
    ),
)

_register(
    "supervisor_joins_dead_loop",
    "the child-run supervisor hands out a task an earlier event loop left behind: an engine "
    "kept across two loops awaits a child on a task no loop will ever run",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_Supervisor.get",
        "if task is not None and (task.cancelled() or task.get_loop() is not loop):",
        "if task is not None and task.cancelled():  # the bug: another loop's task is kept",
    ),
)

# ------------------------------------------------------------------------------ oracle
# Mistakes in rules the oracle used to take from the engine itself (issue 15): a check that
# asked the engine for the backoff or the plan order would have shared these bugs.

_register(
    "backoff_off_by_one_power",
    "exponential backoff waits base * 2**(attempt + 1): one power of two too many",
    _patch(
        "mfm_engine.config",
        "compute_backoff",
        "scaled = policy.base_delay * (1 << min(attempt, 31))",
        "scaled = policy.base_delay * (1 << min(attempt + 1, 31))  # the bug",
    ),
)

_register(
    "plan_order_lifo",
    "ready states leave Kahn's queue last in, first out (a stack), not in plan order",
    _patch(
        "mfm_engine.plan",
        "topological_order",
        "sid = queue.popleft()",
        "sid = queue.pop()  # the bug: the newest ready state first",
    ),
)

# ------------------------------------------------------------------------------ artifacts

_register(
    "snapshot_unverified",
    "context snapshots are read without checking their hash, so corrupted bytes are used "
    "(or fail to decode) instead of being reported as corruption",
    _patch(
        "mfm_engine.context",
        "read_snapshot",
        "value = await read_json_artifact(artifacts, snapshot_id)",
        # The bug: the bytes are decoded as they come, no content-address check.
        "value = validated_json(await artifacts.get(snapshot_id), snapshot_id)",
    ),
)

_register(
    "snapshot_object_unchecked",
    "a base snapshot that decodes to a JSON value other than an object is loaded into the "
    "context as it is: an operator's recorded run whose initial snapshot is an array runs its "
    "first handler instead of being refused as a context error after its StateEntered",
    _patch(
        "mfm_engine.context",
        "read_snapshot",
        "if not isinstance(value, dict):",
        "if False:  # the bug: any JSON value is taken as the snapshot",
    ),
)

# ------------------------------------------------------------------------------ lying log

_register(
    "fact_conflict_ignored",
    "rebuilding facts from a stream keeps a key's first binding and ignores a second one to "
    "another payload, so a lying log's conflicting fact record goes unrefused",
    _patch(
        _ENGINE,
        _RESUME,
        "facts = FactIndex.from_event_stream(stream)",
        # The bug: a key's first binding wins; a later one to another payload is not compared.
        "facts = FactIndex({e.event.payload['key']: e.event.payload['payload_id'] "
        "for e in reversed(stream) if getattr(e.event, 'name', None) == 'fact_recorded'})",
    ),
)

_register(
    "stream_seqs_unchecked",
    "resume walks a stream's attempt envelopes without checking its seqs, so a lying log's "
    "repeated, skipped or reordered records go unrefused",
    FunctionPatch(
        "mfm_engine.envelopes",
        "analyze_kernel_events",
        (
            Edit("if env.seq <= last_seq:", "if False:  # the bug: no check that seqs rise"),
            Edit(
                "if env.seq != last_seq + 1:  # a stream is read from seq 1: the first must be 1",
                "if False:  # the bug: no check for a gap",
            ),
        ),
    ),
)

_register(
    "gap_called_repeat",
    "the envelope walk names a skipped seq a repeat: the refusal's code is right, but the "
    "reason it chains (seq_not_increasing for a gap) is not the break the stream holds",
    _patch(
        "mfm_engine.envelopes",
        "analyze_kernel_events",
        "if env.seq <= last_seq:",
        "if env.seq != last_seq + 1:  # the bug: a gap is reported as a repeat",
    ),
)

_register(
    "envelope_break_seq_before",
    "an attempt entered while another is open is reported at the seq that opened the other, "
    "not at the StateEntered that broke the envelope",
    _patch(
        "mfm_engine.envelopes",
        "analyze_kernel_events",
        "EnvelopeErrorKind.ENTERED_WHILE_OPEN,\nenv.seq,",
        "EnvelopeErrorKind.ENTERED_WHILE_OPEN,\nopened[1],  # the bug: the open attempt's seq",
    ),
)

_register(
    "plan_duplicate_misnamed",
    "a plan naming a state twice is refused as an invalid state id: the refusal's ErrorInfo "
    "is the seed's, but the reason it chains is not the plan's",
    _patch(
        "mfm_engine.plan",
        "topological_order",
        'PlanErrorKind.DUPLICATE_STATE_ID, f"duplicate state id {node.id}", node.id',
        # The bug: the kind of another check.
        'PlanErrorKind.INVALID_STATE_ID, f"duplicate state id {node.id}", node.id',
    ),
)

_register(
    "put_id_trusted",
    "a put's answer is taken as the artifact's id without comparing it with the bytes' "
    "content address, so a store that answers with another id goes unrefused",
    _patch(
        "mfm_engine.context",
        "put_verified",
        "if got != expected:",
        "if False:  # the bug: the store's answer is not compared with the content address",
    ),
)

_register(
    "failure_under_error_state",
    "a failed attempt is recorded under the state id its StateError names, when the handler "
    "set one, instead of the attempt's own state",
    FunctionPatch(
        _ATTEMPT,
        "_execute",
        (
            Edit(
                "failure: ErrorInfo = redact_error_info(error.info)",
                "failure: ErrorInfo = redact_error_info(error.info)\n"
                "failed_state = error.state_id  # the bug: the error's id, not the attempt's",
            ),
            Edit(
                "await a.writer.append([*recorder.events, StateFailed(a.state_id, failure)])",
                "await a.writer.append([*recorder.events, StateFailed(failed_state, failure)])",
            ),
        ),
    ),
)


# ------------------------------------------------------------------------------ promises
# One variant per promise check of docs/promises.md (the checks added for SPEC §6.14).

_register(
    "secret_event_accepted",
    "the event recorder never scans for secrets: a domain event holding one is kept "
    "(persisted under NORMAL and up) instead of refused with secrets_detected",
    _patch(
        "mfm_engine.recorder",
        "EventRecorder.emit",
        "if string_has_secret(name) or contains_secrets(payload):",
        "if False:  # the bug: the secret scan was dropped",
    ),
)

_register(
    "error_details_kept",
    "redaction keeps a failed state's error message and details as they are: a secret in "
    "either reaches the log",
    _patch(
        "mfm_engine.hashing",
        "redact_error_info",
        "return ErrorInfo(error.code, error.category, error.retryable, message, None)",
        "return ErrorInfo(error.code, error.category, error.retryable, error.message, "
        "error.details)",
    ),
)

_register(
    "child_id_per_attempt",
    "a child run's id is derived from the spawn key and the spawning attempt, not from the "
    "key alone: a retried spawn starts a second child",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._spawn",
        "child_id = child_run_id(self._env.run_id, call.fact_key)",
        'child_id = child_run_id(self._env.run_id, f"{call.fact_key}|{self._env.attempt}")',
    ),
)

_register(
    "derived_key_ignores_attempt",
    "time and random facts are keyed without the attempt: a retry gets the failed "
    "attempt's recorded time and bytes under attempt 0's keys",
    _patch(
        "mfm_engine.live_io",
        "_IoBase._next_key",
        "key = derived_fact_key(kind, self._run_id, self._state_id, self._attempt, self._ordinal)",
        "key = derived_fact_key(kind, self._run_id, self._state_id, 0, self._ordinal)",
    ),
)


class _LeakySnapshots:
    """Per artifact store (one per incarnation), the snapshot values read through it. A holder
    hashed by identity: a patch's extra names are part of its (cached, hashed) identity."""

    def __init__(self) -> None:
        self.stores: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


_register(
    "failed_writes_leak",
    "snapshots are cached per store and the staged context writes through to its base: a "
    "retry in the same process reads the failed attempt's writes",
    FunctionPatch(
        "mfm_engine.context",
        "read_snapshot",
        (
            Edit(
                "value = await read_json_artifact(artifacts, snapshot_id)",
                """
                cache = _leaky.stores.setdefault(artifacts, {})
                if snapshot_id not in cache:
                    cache[snapshot_id] = await read_json_artifact(artifacts, snapshot_id)
                value = cache[snapshot_id]
                """,
            ),
        ),
        names=(("_leaky", _LeakySnapshots()),),
    ),
    _patch(
        "mfm_engine.context",
        "StagedContext.write",
        "self._writes[key] = value",
        "self._writes[key] = value\nself._base[key] = value  # the bug: written through",
    ),
)

_register(
    "staged_delete_dropped",
    "a staged delete never reaches the snapshot: dump keeps the base's value of a deleted key",
    _patch(
        "mfm_engine.context",
        "StagedContext.dump",
        "out = {k: v for k, v in self._base.items() if k not in self._deletes}",
        "out = dict(self._base)  # the bug: deletes are forgotten",
    ),
)

_register(
    "profile_ignored",
    "the event recorder ignores the profile: MINIMAL keeps every domain event",
    _patch(
        "mfm_engine.recorder",
        "EventRecorder.emit",
        "if self._profile is EventProfile.MINIMAL and name != FACT_RECORDED:",
        "if False:  # the bug: the profile is never looked at",
    ),
)

_register(
    "replay_uses_live_io",
    "an attempt gets live IO whatever the run's io mode: replay mode makes (and calls) transports",
    _patch(
        _ATTEMPT,
        "_execute",
        "if a.run_config.io_mode is IoMode.REPLAY:",
        "if False:  # the bug: the io mode is never looked at",
    ),
)

# ------------------------------------------------------------------------------ operator input

_register(
    "start_contract_unchecked",
    "start never checks the manifest against the run: a wrong manifest id, op id or run config "
    "starts a run instead of being refused before anything is written",
    _patch(
        _ENGINE,
        "DefaultExecutionEngine._start",
        "validate_start_run_contract(run)",
        "pass  # the bug: the start's contract is never checked",
    ),
)

_register(
    "resume_plan_states_unchecked",
    "resume never checks that the plan holds every state the history names: a wrong build's "
    "plan runs over the history instead of being refused (recovery_state_not_in_plan)",
    _patch(
        _ENGINE,
        _RESUME,
        "if state_id not in known:",
        "if False:  # the bug: the history's states are never looked up",
    ),
)

_register(
    "run_started_op_unchecked",
    "resume never compares the history's RunStarted op with the manifest's: a lying log's "
    "forged RunStarted of another op goes unrefused (run_started_op_id_mismatch)",
    _patch(
        _ENGINE,
        _RESUME,
        "if history.started.op_id != manifest.op_id:",
        "if False:  # the bug: RunStarted's op is never looked at",
    ),
)

# ------------------------------------------------------------- replay over a recorded log

_register(
    "replay_ignores_log",
    "replay mode never finds a recorded fact: every keyed call, time or random draw it "
    "answers from a recorded log is missing_fact",
    _patch(
        "mfm_engine.replay_io",
        "ReplayIo._require",
        "if recorded is NOT_RECORDED:",
        "if True:  # the bug: the recorded fact is looked up and then ignored",
    ),
)

_register(
    "refusal_kind_lost",
    "replay's missing_fact is raised as an IoError of kind OTHER: a handler that catches it "
    "cannot tell a missing record from any other refusal",
    _patch(
        "mfm_engine.replay_io",
        "ReplayIo._require",
        "IoErrorKind.MISSING_FACT,",
        "IoErrorKind.OTHER,  # the bug: the kind ENGINE.md names is lost",
    ),
)

_register(
    "await_snapshot_id_dropped",
    "an await's response leaves out the child's final snapshot id (the snapshot itself is "
    "still there)",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        '"final_snapshot_id": result.final_snapshot_id,',
        '"final_snapshot_id": None,  # the bug: the id ENGINE.md names is dropped',
    ),
)

_register(
    "spawn_names_manifest_as_snapshot",
    "a spawn's response names the child's manifest id where its initial snapshot id belongs",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._spawn",
        '"child_initial_snapshot_id": initial_snapshot_id,',
        '"child_initial_snapshot_id": manifest_id,  # the bug: the wrong artifact is named',
    ),
)

_register(
    "replayed_bytes_length_unchecked",
    "a recorded random_bytes fact is replayed whatever its length: a record of the wrong "
    "length reaches the handler instead of fact_payload_invalid",
    _patch(
        "mfm_engine.live_io",
        "recorded_random_bytes",
        "if len(value) != n:",
        "if False:  # the bug: the length asked for is never compared",
    ),
)

_register(
    "spawn_over_other_manifest",
    "a spawn whose child run exists with another manifest resumes that child instead of "
    "refusing with child_run_conflict",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._spawn",
        "if existing is not None and existing != manifest_id:",
        "if False:  # the bug: the stored child's manifest is never compared",
    ),
)

_register(
    "await_manifest_unchecked",
    "an await that names another manifest than the stored child's joins the child anyway "
    "instead of refusing with child_run_conflict",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        "if existing is not None and expected is not None and existing != expected:",
        "if False:  # the bug: the manifest the await names is never compared",
    ),
)

_register(
    "wildcard_route_literal",
    "the router takes a `g.*` route for a literal namespace: a call to `g.x` through it is "
    "io_unknown_namespace",
    _patch(
        "mfm_engine.live_io",
        "_route_matches",
        """
        if pattern.endswith(".*"):
            prefix = pattern[:-1]
            return len(prefix) if namespace.startswith(prefix) else -1
        """,
        "# the bug: `.*` is not special; the pattern must match as a plain prefix",
    ),
)

_register(
    "fan_out_accepted",
    "a run config with a FanOutJoin execution mode is run sequentially instead of refused "
    "with unsupported_execution_mode",
    _patch(
        "mfm_engine.runtime.engine",
        "validate_execution_mode",
        "if cfg.execution_mode is not ExecutionMode.SEQUENTIAL:",
        "if False:  # the bug: the execution mode is never looked at",
    ),
)

# ------------------------------------------ calls made at once, a cancelled child, no services

_register(
    "rival_binding_accepted",
    "a fact key already bound to another payload is bound again, not refused: of two calls "
    "made at once under one key, the second answers its own payload instead of "
    "fact_payload_conflict",
    _patch(
        "mfm_engine.live_io",
        "FactIndex.bind",
        "if bound != payload_id:",
        "if False:  # the bug: the bound payload is never compared",
    ),
)

_register(
    "twin_binding_refused",
    "a fact key already bound is refused whatever the payload: of two calls made at once "
    "with the same answer, the second gets fact_payload_conflict",
    _patch(
        "mfm_engine.live_io",
        "FactIndex.bind",
        "if bound != payload_id:",
        "if True:  # the bug: any second binding is a conflict, the same payload too",
    ),
)

_register(
    "repeated_fact_refused",
    "rebuilding facts from a stream refuses a key recorded twice with the same payload (what "
    "two calls made at once record) as fact_recorded_conflict",
    _patch(
        _ENGINE,
        _RESUME,
        "facts = FactIndex.from_event_stream(stream)",
        # The bug: a key's records are compared by count, not by payload.
        "facts = FactIndex.from_event_stream(stream)\n"
        "_keys = [e.event.payload['key'] for e in stream "
        "if getattr(e.event, 'name', None) == 'fact_recorded']\n"
        "if len(set(_keys)) != len(_keys):\n"
        "    raise corruption('fact_recorded_conflict', 'a fact recorded twice')",
    ),
)

_register(
    "await_status_collapsed",
    "an await reports every child run that did not complete as failed: a cancelled child "
    "is reported failed",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        'status = "failed" if phase is RunPhase.RUNNING else phase.value',
        'status = "completed" if phase is RunPhase.COMPLETED else "failed"  # the bug',
    ),
)

_register(
    "wrapper_alone_unimplemented",
    "the child-run wrapper with no transport factory inside answers a call to any other "
    "namespace io_unimplemented, as if no transport were installed, not io_unknown_namespace",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport.call",
        '"io_unknown_namespace",',
        '"io_unimplemented",  # the bug',
    ),
)

_register(
    "manifest_not_revalidated",
    "resume decodes a manifest whose bytes hash to its id without re-validating them: a "
    "manifest stored as non-canonical JSON is run instead of refused (artifact_not_canonical)",
    _patch(
        _ENGINE,
        "read_manifest",
        "value = validated_json(data, manifest_id)",
        "value = __import__('json').loads(data)  # the bug: decoded, never re-validated",
    ),
)

# ------------------------------------------------------------------------ failpoint, error shape

_register(
    "failpoint_ignored",
    "the engine never looks at its stop_after_handler_once failpoint: a run it was set for "
    "goes on past the handler instead of returning RUNNING",
    _patch(
        _ATTEMPT,
        "_execute",
        "if a.failpoints is not None and a.failpoints.should_stop_after_handler():",
        "if False:  # the bug: the failpoint is never consulted",
    ),
)

_register(
    "orphan_failure_without_message",
    "the StateFailed that closes an orphan attempt carries no message (None, not a str)",
    _patch(
        _ENGINE,
        _RESUME,
        'f"attempt {orphan.attempt} was interrupted; recovered on resume",',
        "None,  # the bug: the message is left out",
    ),
)

_register(
    "run_not_found_without_kind",
    "resuming a run with no history raises a StorageError with no kind (None, not NOT_FOUND)",
    _patch(
        _ENGINE,
        _RESUME,
        'StorageErrorKind.NOT_FOUND, "run_not_found", "run event stream was not found"',
        'None, "run_not_found", "run event stream was not found"  # the bug: no kind',
    ),
)

_register(
    "result_without_run_id",
    "a run that ends returns a RunResult naming no run (run_id None) instead of its own",
    _patch(
        _ENGINE,
        _RUN_STATES,
        "return RunResult(run_id, PHASE_FOR_STATUS[status], current_snapshot_id)",
        "return RunResult(None, PHASE_FOR_STATUS[status], current_snapshot_id)  # the bug",
    ),
)

_register(
    "run_id_not_from_source",
    "start names the run with an id of its own making instead of one from its id source",
    _patch(
        _ENGINE,
        "DefaultExecutionEngine._start",
        "run_id = self.ids.new_run_id()",
        "run_id = uuid.UUID(int=0x5EED)  # the bug: the id source is never asked",
    ),
)

_register(
    "state_error_left_unnamed",
    "a failing handler's StateError that names no state is persisted under the attempt's "
    "state but never given it (its state id stays None)",
    _patch(
        _ATTEMPT,
        "_execute",
        "error.state_id = a.state_id",
        "pass  # the bug: the error's state id is never filled",
    ),
)


class _ZeroEntropy:
    """An entropy of the variant's own: zero bytes, deterministic, and not the given source."""

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)


_OWN_ENTROPY = FunctionPatch(
    _ATTEMPT,
    "_execute",
    (Edit("a.entropy,", "_own_entropy,  # the bug: the given entropy is never used"),),
    names=(("_own_entropy", _ZeroEntropy()),),
)
VARIANTS["entropy_not_from_source"] = Variant(
    "entropy_not_from_source",
    "live IO draws random bytes from an entropy of its own making instead of the source the "
    "engine was given",
    functools.partial(patched, "entropy_not_from_source", (_OWN_ENTROPY,)),
    (_OWN_ENTROPY,),
)

# ------------------------------------------------------------------------------ transports
# How a user installs transports (`mfm_scenarios.routing`) and a child's own child
# (`mfm_scenarios.grandchildren`): the engine's router, its default, nested child runs.

_register(
    "router_drops_env",
    "the engine's RouterTransportFactory makes each route's transport without the attempt's "
    "LiveIoEnv, so a user's factory never learns which attempt it serves",
    _patch(
        "mfm_engine.live_io",
        "RouterTransportFactory.make",
        "return NamespaceRouter({p: f.make(env) for p, f in self._routes.items()})",
        "return NamespaceRouter({p: f.make(None) for p, f in self._routes.items()})  # the bug",
    ),
)

_register(
    "short_prefix_unrouted",
    "the namespace router only takes a match longer than one character, so a one-letter "
    "route (`g`) never answers `g` or `g.x`",
    _patch(
        "mfm_engine.live_io",
        "NamespaceRouter.route",
        "best, best_len = None, -1",
        "best, best_len = None, 1  # the bug",
    ),
)

_register(
    "unimplemented_own_code",
    "with no transport installed the engine refuses a call with a code of the port's own "
    "making (io_unknown_namespace), not the original's io_unimplemented",
    _patch(
        "mfm_engine.live_io",
        "UnimplementedTransport.call",
        '"io_unimplemented",',
        '"io_unknown_namespace",  # the bug',
    ),
)

_register(
    "grandchild_without_wrapper",
    "a child run's engine is built without the child-run wrapper, so a child that spawns a "
    "child of its own gets the engine's default transport (io_unimplemented)",
    _patch(
        "mfm_engine.runtime.child_runs",
        "ChildRunLiveIoTransportFactory.engine",
        "return self._engine_factory(self)",
        "return self._engine_factory(None)  # the bug",
    ),
)

_register(
    "backoff_exponent_uncapped",
    "exponential backoff caps the exponent at 32, not 31: the retry after attempt 32 waits "
    "twice as long as ENGINE.md's min(base * 2**min(attempt, 31), max_delay)",
    _patch(
        "mfm_engine.config",
        "compute_backoff",
        "scaled = policy.base_delay * (1 << min(attempt, 31))",
        "scaled = policy.base_delay * (1 << min(attempt, 32))  # the bug",
    ),
)

_register(
    "payload_ref_dropped",
    "the event recorder keeps a domain event without the artifact its handler cited: "
    "events.emit(name, payload, payload_ref=...) records payload_ref None",
    _patch(
        "mfm_engine.recorder",
        "EventRecorder.emit",
        "self.events.append(DomainEvent(name, payload, payload_ref))",
        "self.events.append(DomainEvent(name, payload))  # the bug: the reference is lost",
    ),
)

_register(
    "fact_record_without_meta",
    "the engine's fact_recorded payload leaves out ENGINE.md's empty `meta`: {key, payload_id}",
    _patch(
        "mfm_engine.live_io",
        "LiveIo._record",
        '[DomainEvent(FACT_RECORDED, {"key": key, "payload_id": payload_id, "meta": {}})]',
        '[DomainEvent(FACT_RECORDED, {"key": key, "payload_id": payload_id})]  # the bug',
    ),
)

_register(
    "secret_scan_stops_at_float",
    "the secret scan stops at the first float it queued, so a secret in a container queued "
    "before it is never looked at: [[secret], 1.5] is accepted",
    _patch(
        "mfm_engine.hashing",
        "_scan",
        'problem = problem or FloatNotAllowed("floats are not allowed in canonical JSON")\n'
        "continue",
        'problem = problem or FloatNotAllowed("floats are not allowed in canonical JSON")\n'
        "break  # the bug",
    ),
)

# -------------------------------------------- values at the edges (`mfm_scenarios.edge_values`)

_register(
    "careful_scan_never_leaves",
    "the careful scan (past 100,000 containers) never forgets a container it has left, so a "
    "member met again is taken for a cycle: a list of 100,001 references to one list is "
    "refused as not canonical",
    _patch(
        "mfm_engine.hashing",
        "_scan",
        "active.discard(item.key)",
        "pass  # the bug: a container left stays on the path",
    ),
)

_register(
    "cycle_not_refused",
    "the careful scan skips a container that contains itself instead of refusing it, so the "
    "encoder, which has no cycle check of its own, recurses until Python gives up",
    _patch(
        "mfm_engine.hashing",
        "_scan",
        'problem = problem or NotJson("circular reference: a value contains itself")',
        "pass  # the bug: the cycle is skipped, not refused",
    ),
)

_register(
    "decode_ignores_trailing_bytes",
    "decoding stored JSON returns the first value and ignores the bytes after it: "
    "b'{\"a\":1} x' decodes (refused later as not canonical, not as undecodable)",
    _patch(
        "mfm_engine.hashing",
        "decode_json",
        "if end != len(text):\n"
        "    return json.loads(text)  # trailing whitespace is fine, anything else an error",
        "pass  # the bug: whatever follows the value is ignored",
    ),
)

_register(
    "history_ids_unchecked",
    "resume reads a log's records without validating their ids, so a record a store returns "
    "without decoding it (an invalid state or artifact id) is carried into the run",
    _patch(
        "mfm_engine.runtime.history",
        "read_run_history",
        "check_event_ids(event)",
        "pass  # the bug: ids are trusted",
    ),
)

_register(
    "await_reports_child_running",
    "an await that finds its child still RUNNING (its engine stopped after a handler) "
    "reports status running, not ENGINE.md's failed",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        'status = "failed" if phase is RunPhase.RUNNING else phase.value',
        "status = phase.value  # the bug: a RUNNING child is reported running",
    ),
)

# ------------------------------------------------- child-run awaits (`mfm_scenarios.child_awaits`)

_register(
    "await_never_starts_child",
    "an await of a child that has no run and no task answers run_not_found even when it "
    "carries the spawn to start it from (a crash between spawn and await loses the child)",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        "if not isinstance(spawn, dict):",
        "if True:  # the bug: the spawn the await carries is never used",
    ),
)

_register(
    "spawn_default_version_other",
    "a spawn request without op_version gives the child's manifest op_version 0, not 1",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_spawn_manifest",
        'op_version=str(req.get("op_version", "1")),',
        'op_version=str(req.get("op_version", "0")),  # the bug: the wrong default',
    ),
)

_register(
    "spawn_response_without_parent",
    "a spawn's response leaves out parent_run_id",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._spawn",
        '"parent_run_id": str(self._env.run_id),',
        "# the bug: parent_run_id is left out",
    ),
)

_register(
    "await_kind_unchecked",
    "an await request of another kind is served like child_run_await_v1 when it names a "
    "valid child run id",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        'if not isinstance(req, dict) or req.get("kind") != AWAIT_KIND:',
        "if not isinstance(req, dict):  # the bug: the kind is never compared",
    ),
)

_register(
    "await_ignores_live_task",
    "an await looks only at the store for its child, never at the supervisor's live task: "
    "awaited without its spawn before the child wrote RunStarted, it answers run_not_found",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        "task = self._factory._supervisor.get(child_id)",
        "task = None  # the bug: the live task is never looked up",
    ),
)

_register(
    "await_resumes_unstarted_child",
    "an await that must start its child from the spawn it carries resumes it instead: the "
    "child that never wrote RunStarted is run_not_found",
    _patch(
        "mfm_engine.runtime.child_runs",
        "_ChildRunTransport._await",
        "task = self._launch(child_id, manifest, manifest_id, initial, False)",
        "task = self._launch(child_id, manifest, manifest_id, initial, True)  # the bug",
    ),
)
