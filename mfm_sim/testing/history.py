"""History replay: is a handler change safe for runs already in flight? (SPEC §8)

Like Temporal's workflow replayer: take the event log of a real run, exported as JSON lines,
and replay the user's *current* handler code over it in replay mode (`IoMode.REPLAY`: every
IO answer comes from the recorded facts, nothing reaches a transport), attempt by attempt,
in the recorded order. The first place where the new code would not reproduce the history
is reported:

- `missing_fact`: the new code asks for a fact the history lacks (with its key);
- `missing_fact_key`: the new code makes a call without a fact key (impossible to replay);
- `state_order` / `state_not_in_plan`: the current plan runs states in another order, or
  no longer has a state the history ran;
- `snapshot`: a state's handler, given the recorded input snapshot and facts, writes a
  different context (the state id and the differing keys);
- `handler_failed`: the handler fails where the history records a completion;
- `fact_not_requested`: the new code no longer asks for a fact the recorded attempt
  recorded (the old code's call is gone);
- `plan_op_id` / `invalid_plan`: the current plan cannot run this history at all.

Only attempts that completed are replayed: a failed attempt's cause (a transport error, a
crash) is not recorded as a fact, so it cannot be reproduced; the order check still covers it.

The export format, `mfm-history/1`, is JSON lines:

    {"format": "mfm-history/1", "run_id": "..."}                   (header, optional)
    {"run_id": ..., "seq": 1, "ts_millis": ..., "event": {...}}     (EventEnvelope.to_json)
    ...
    {"artifact": "<sha256 hex>", "kind": "fact_payload", "bytes_b64": "..."}

with one artifact line for every artifact the events cite: the manifest, context snapshots
and fact payloads. `export_run(stores, run_id)` writes it from any `Stores`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
from mfm_engine.config import IoMode, RunManifest
from mfm_engine.context import StagedContext, snapshot_bytes
from mfm_engine.errors import EngineError, ErrorCategory, IoError, IoErrorKind, RunError, info
from mfm_engine.events import (
    FACT_RECORDED,
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunStarted,
    StateCompleted,
    StateEntered,
    StateFailed,
    envelope_from_json_line,
    envelope_to_json_line,
)
from mfm_engine.hashing import artifact_id_for_bytes
from mfm_engine.live_io import FactIndex
from mfm_engine.plan import ExecutionPlan, PlanValidationError, topological_order
from mfm_engine.recorder import EventRecorder
from mfm_engine.replay_io import ReplayIo
from mfm_engine.stores import ArtifactKind, InMemoryArtifactStore, InMemoryEventStore, Stores

from mfm_sim.world.clock import VirtualClock
from mfm_sim.world.loop import SimLoop
from mfm_sim.world.scope import handler_scope

__all__ = [
    "HISTORY_FORMAT",
    "Divergence",
    "History",
    "HistoryError",
    "HistoryReport",
    "aexport_run",
    "export_run",
    "load_history",
    "replay_history",
]

HISTORY_FORMAT = "mfm-history/1"


class HistoryError(ValueError):
    """An export that cannot be replayed (malformed, incomplete); the message says what."""


# ------------------------------------------------------------------------------ export


def _cited(env: EventEnvelope) -> list[tuple[str, ArtifactKind]]:
    ev = env.event
    if isinstance(ev, RunStarted):
        return [
            (ev.manifest_id, ArtifactKind.MANIFEST),
            (ev.initial_snapshot_id, ArtifactKind.CONTEXT_SNAPSHOT),
        ]
    if isinstance(ev, StateEntered):
        return [(ev.base_snapshot_id, ArtifactKind.CONTEXT_SNAPSHOT)]
    if isinstance(ev, StateCompleted):
        return [(ev.context_snapshot_id, ArtifactKind.CONTEXT_SNAPSHOT)]
    if isinstance(ev, StateFailed) and ev.failure_snapshot_id:
        return [(ev.failure_snapshot_id, ArtifactKind.CONTEXT_SNAPSHOT)]
    if isinstance(ev, RunCompleted) and ev.final_snapshot_id:
        return [(ev.final_snapshot_id, ArtifactKind.CONTEXT_SNAPSHOT)]
    if isinstance(ev, DomainEvent):
        out: list[tuple[str, ArtifactKind]] = []
        payload = ev.payload
        if ev.name == FACT_RECORDED and isinstance(payload, Mapping):
            pid = payload.get("payload_id")
            if isinstance(pid, str):
                out.append((pid, ArtifactKind.FACT_PAYLOAD))
        if ev.payload_ref:
            out.append((ev.payload_ref, ArtifactKind.OTHER))
        return out
    return []


async def aexport_run(stores: Stores, run_id: uuid.UUID) -> list[str]:
    """The run's events and every artifact they cite, as `mfm-history/1` JSON lines."""
    stream = await stores.events.read_range(run_id, 1, None)
    if not stream:
        raise HistoryError(f"run {run_id} has no events to export")
    lines = [json.dumps({"format": HISTORY_FORMAT, "run_id": str(run_id)}, sort_keys=True)]
    lines += [envelope_to_json_line(env) for env in stream]
    seen: dict[str, None] = {}
    for env in stream:
        for artifact_id, kind in _cited(env):
            if artifact_id in seen:
                continue
            seen[artifact_id] = None
            data = await stores.artifacts.get(artifact_id)
            lines.append(
                json.dumps(
                    {
                        "artifact": artifact_id,
                        "kind": kind.value,
                        "bytes_b64": base64.b64encode(data).decode("ascii"),
                    },
                    sort_keys=True,
                )
            )
    return lines


def export_run(stores: Stores, run_id: uuid.UUID) -> list[str]:
    """`aexport_run` for synchronous callers (not from inside a running event loop)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(aexport_run(stores, run_id))
    finally:
        loop.close()


# ------------------------------------------------------------------------------ load


@attrs.frozen
class History:
    run_id: uuid.UUID
    events: tuple[EventEnvelope, ...]
    artifacts: Mapping[str, bytes]


def _lines(source: str | os.PathLike[str] | Iterable[str]) -> list[str]:
    if isinstance(source, (str, os.PathLike)) and not str(source).lstrip().startswith("{"):
        try:
            with open(source, encoding="utf-8") as fh:
                return fh.read().splitlines()
        except OSError as exc:
            raise HistoryError(f"cannot read history file {source}: {exc.strerror}") from None
    if isinstance(source, str):
        return source.splitlines()
    return [line for chunk in source for line in chunk.splitlines()]


def load_history(source: str | os.PathLike[str] | Iterable[str]) -> History:
    """Parse an export (a path, its text, or its lines); artifacts are checked against their ids."""
    run_id: uuid.UUID | None = None
    events: list[EventEnvelope] = []
    artifacts: dict[str, bytes] = {}
    for number, raw in enumerate(_lines(source), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HistoryError(f"line {number} is not JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise HistoryError(f"line {number} is not a JSON object")
        if "format" in value:
            if value["format"] != HISTORY_FORMAT:
                raise HistoryError(
                    f"line {number}: format {value['format']!r}, expected {HISTORY_FORMAT!r}"
                )
            if value.get("run_id"):
                run_id = uuid.UUID(str(value["run_id"]))
            continue
        if "artifact" in value:
            try:
                data = base64.b64decode(value["bytes_b64"], validate=True)
            except (KeyError, ValueError, TypeError):
                raise HistoryError(f"line {number}: artifact without valid bytes_b64") from None
            artifact_id = str(value["artifact"])
            if artifact_id_for_bytes(data) != artifact_id:
                raise HistoryError(
                    f"line {number}: artifact {artifact_id[:12]} does not hash to its id"
                )
            artifacts[artifact_id] = data
            continue
        try:
            events.append(envelope_from_json_line(line))
        except RunError as exc:
            raise HistoryError(f"line {number}: {exc.info.message}") from None
    if not events:
        raise HistoryError("the history holds no events")
    if run_id is None:
        run_id = events[0].run_id
    mine = tuple(sorted((e for e in events if e.run_id == run_id), key=lambda e: e.seq))
    if not mine:
        raise HistoryError(f"the history holds no events of run {run_id}")
    return History(run_id, mine, artifacts)


# ------------------------------------------------------------------------------ replay


@attrs.frozen
class Divergence:
    """Where the current code stops reproducing the history."""

    kind: str
    seq: int | None  # the history event it diverges at
    state_id: str | None
    attempt: int | None
    message: str
    key: str | None = None  # the fact key, for fact divergences
    keys: tuple[str, ...] = ()  # the differing context keys, for snapshot divergences

    def describe(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "start"
        state = f" {self.state_id}" if self.state_id else ""
        attempt = f" attempt {self.attempt}" if self.attempt is not None else ""
        return f"[{self.kind}] at {where}{state}{attempt}: {self.message}"


@attrs.frozen
class HistoryReport:
    run_id: uuid.UUID
    divergence: Divergence | None
    attempts_replayed: int
    states: tuple[str, ...]  # the states the history ran, in order
    finished: bool  # the history ends with RunCompleted

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def describe(self) -> str:
        if self.divergence is None:
            return (
                f"history of run {self.run_id}: {self.attempts_replayed} completed attempt(s) of "
                f"{len(self.states)} state(s) replayed against the current code: no divergence"
            )
        return (
            f"history of run {self.run_id}: the current code diverges; first divergence "
            f"{self.divergence.describe()}"
        )


@attrs.frozen
class _Attempt:
    state_id: str
    attempt: int
    base: str
    entered_seq: int
    end: EventEnvelope | None
    facts: tuple[tuple[str, int], ...]  # (key, seq) recorded inside the attempt


def _attempts(events: Sequence[EventEnvelope]) -> list[_Attempt]:
    out: list[_Attempt] = []
    current: StateEntered | None = None
    entered_seq = 0
    facts: list[tuple[str, int]] = []
    for env in events:
        ev = env.event
        if isinstance(ev, StateEntered):
            if current is not None:
                raise HistoryError(f"seq {env.seq}: {ev.state_id} entered while an attempt is open")
            current, entered_seq, facts = ev, env.seq, []
        elif isinstance(ev, (StateCompleted, StateFailed)):
            if current is None or current.state_id != ev.state_id:
                raise HistoryError(f"seq {env.seq}: a terminal event with no matching attempt")
            out.append(
                _Attempt(
                    current.state_id,
                    current.attempt,
                    current.base_snapshot_id,
                    entered_seq,
                    env,
                    tuple(facts),
                )
            )
            current = None
        elif isinstance(ev, DomainEvent) and ev.name == FACT_RECORDED and current is not None:
            payload = ev.payload if isinstance(ev.payload, Mapping) else {}
            key = payload.get("key")
            if isinstance(key, str):
                facts.append((key, env.seq))
    if current is not None:
        out.append(
            _Attempt(
                current.state_id,
                current.attempt,
                current.base_snapshot_id,
                entered_seq,
                None,
                tuple(facts),
            )
        )
    return out


class _TracingReplayIo(ReplayIo):
    """The engine's replay IO, remembering every fact key the handler asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[str] = []
        self.missing: str | None = None

    async def _require(self, key: str) -> Any:
        self.asked.append(key)
        try:
            return await super()._require(key)
        except IoError:
            if self.missing is None:
                self.missing = key
            raise


def _plan_from(plan_or_resolver: Any, manifest: RunManifest) -> ExecutionPlan:
    if isinstance(plan_or_resolver, ExecutionPlan):
        return plan_or_resolver
    resolve = getattr(plan_or_resolver, "resolve", None)
    if resolve is not None:
        return resolve(manifest)
    if callable(plan_or_resolver):
        made = plan_or_resolver()
        if isinstance(made, ExecutionPlan):
            return made
    raise TypeError(
        "plan_or_resolver is an ExecutionPlan, a PlanResolver or a callable() -> ExecutionPlan"
    )


def _decode(history: History, artifact_id: str, what: str) -> Any:
    data = history.artifacts.get(artifact_id)
    if data is None:
        raise HistoryError(f"the export lacks the {what} artifact {artifact_id[:12]}")
    try:
        return json.loads(data)
    except ValueError:
        raise HistoryError(f"the {what} artifact {artifact_id[:12]} is not JSON") from None


def _missing_info() -> Any:
    return info("missing_fact", ErrorCategory.RPC, "the handler swallowed a missing fact")


def _diff(got: Any, want: Any) -> tuple[str, ...]:
    if isinstance(got, Mapping) and isinstance(want, Mapping):
        return tuple(sorted(k for k in set(got) | set(want) if got.get(k, ...) != want.get(k, ...)))
    return () if got == want else ("<whole snapshot>",)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Replayer:
    def __init__(self, history: History, plan: ExecutionPlan, manifest: RunManifest) -> None:
        self.h = history
        self.plan = plan
        self.manifest = manifest
        self.cfg = attrs.evolve(
            manifest.run_config, io_mode=IoMode.REPLAY, replay_missing_fact_retryable=False
        )
        artifacts = InMemoryArtifactStore()
        artifacts.data.update(history.artifacts)
        self.stores = Stores(artifacts, InMemoryEventStore())
        try:
            self.facts = FactIndex.from_event_stream(history.events)
        except EngineError as exc:  # the engine's StorageError CORRUPTION for a bad record
            raise HistoryError(f"the history's facts are malformed: {exc.info.message}") from None
        bound = self.facts.keys()
        for key in bound:
            pid = self.facts.get(key)
            if pid is not None and pid not in history.artifacts:
                raise HistoryError(f"the export lacks the payload of fact {key!r} ({pid[:12]})")
        self.replayed = 0

    async def run(self) -> Divergence | None:
        plan = self.plan
        if plan.op_id != self.manifest.op_id:
            return Divergence(
                "plan_op_id",
                1,
                None,
                None,
                f"the current plan's op id is {plan.op_id!r}, the history's is "
                f"{self.manifest.op_id!r}",
            )
        try:
            order = [n.id for n in topological_order(plan)]
        except PlanValidationError as exc:
            return Divergence("invalid_plan", 1, None, None, f"the current plan is invalid: {exc}")
        nodes = {n.id: n for n in plan.graph.states}
        seen: list[str] = []
        for att in _attempts(self.h.events):
            if att.state_id not in seen:
                if att.state_id not in nodes:
                    return Divergence(
                        "state_not_in_plan",
                        att.entered_seq,
                        att.state_id,
                        att.attempt,
                        f"the history runs {att.state_id}, which the current plan no longer has",
                    )
                expected = order[len(seen)] if len(seen) < len(order) else None
                if expected != att.state_id:
                    return Divergence(
                        "state_order",
                        att.entered_seq,
                        att.state_id,
                        att.attempt,
                        f"the history runs {att.state_id} as state #{len(seen) + 1}; the current "
                        f"plan runs {expected or 'nothing'} there (order: {' -> '.join(order)})",
                    )
                seen.append(att.state_id)
            if att.end is None or not isinstance(att.end.event, StateCompleted):
                continue
            found = await self._replay(att, nodes[att.state_id].state)
            if found is not None:
                return found
        return None

    async def _replay(self, att: _Attempt, state: Any) -> Divergence | None:
        assert att.end is not None and isinstance(att.end.event, StateCompleted)
        recorded = _decode(self.h, att.end.event.context_snapshot_id, "snapshot")
        base = _decode(self.h, att.base, "base snapshot")
        meta = state.meta()
        io = _TracingReplayIo(
            self.stores, self.facts, self.h.run_id, att.state_id, att.attempt, self.cfg
        )
        self.replayed += 1
        if self.cfg.skip_tags and not set(meta.tags).isdisjoint(self.cfg.skip_tags):
            value: Any = base
        else:
            ctx = StagedContext(dict(base))
            recorder = EventRecorder(self.cfg.event_profile)
            try:
                with handler_scope(att.state_id):
                    await state.handle(ctx, io, recorder)
            except Exception as exc:
                return self._failure(att, io, exc)
            if io.missing is not None:
                return self._failure(att, io, IoError(IoErrorKind.MISSING_FACT, _missing_info()))
            value = ctx.dump()
            try:
                value = json.loads(snapshot_bytes(value))
            except EngineError as exc:
                return Divergence(
                    "handler_failed",
                    att.end.seq,
                    att.state_id,
                    att.attempt,
                    f"the new code's context cannot be stored: {exc.info.message}",
                )
        keys = _diff(value, recorded)
        if keys:
            shown = "; ".join(
                f"{k}: {_short(value.get(k, '<absent>'))} now, "
                f"{_short(recorded.get(k, '<absent>'))} in the history"
                if isinstance(value, Mapping) and isinstance(recorded, Mapping)
                else f"{_short(value)} now, {_short(recorded)} in the history"
                for k in keys[:5]
            )
            return Divergence(
                "snapshot",
                att.end.seq,
                att.state_id,
                att.attempt,
                f"the handler's context differs from the recorded snapshot: {shown}",
                keys=keys,
            )
        unasked = [(k, s) for k, s in att.facts if k not in io.asked]
        if unasked:
            key, seq = unasked[0]
            return Divergence(
                "fact_not_requested",
                seq,
                att.state_id,
                att.attempt,
                f"the history's attempt recorded fact {key!r}, which the new code no longer "
                f"asks for",
                key=key,
            )
        return None

    def _failure(self, att: _Attempt, io: _TracingReplayIo, exc: Exception) -> Divergence:
        assert att.end is not None
        if isinstance(exc, IoError) and exc.kind is IoErrorKind.MISSING_FACT:
            key = io.missing
            return Divergence(
                "missing_fact",
                att.end.seq,
                att.state_id,
                att.attempt,
                f"the new code asks for fact {key!r}, which the history lacks",
                key=key,
            )
        if isinstance(exc, IoError) and exc.kind is IoErrorKind.MISSING_FACT_KEY:
            return Divergence(
                "missing_fact_key",
                att.end.seq,
                att.state_id,
                att.attempt,
                f"the new code makes a call without a fact key, which cannot be replayed "
                f"({exc.info.message})",
            )
        message = (
            exc.info.message if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
        )
        return Divergence(
            "handler_failed",
            att.end.seq,
            att.state_id,
            att.attempt,
            f"the history records a completion; the new code fails: {message}",
        )


def replay_history(
    jsonl_path_or_lines: str | os.PathLike[str] | Iterable[str] | History,
    plan_or_resolver: Any,
    *,
    manifest: RunManifest | None = None,
) -> HistoryReport:
    """Replay an exported run against the current handlers; report the first divergence.

    `plan_or_resolver`: the current `ExecutionPlan`, a `PlanResolver` (given the run's
    manifest), or a `callable()` returning the plan. `manifest`: the run's manifest, when the
    export does not carry it. Handlers run on a virtual clock in replay mode; nothing they
    do reaches a transport."""
    history = (
        jsonl_path_or_lines
        if isinstance(jsonl_path_or_lines, History)
        else load_history(jsonl_path_or_lines)
    )
    first = history.events[0].event
    if not isinstance(first, RunStarted):
        raise HistoryError("the history does not start with RunStarted")
    if manifest is None:
        data = history.artifacts.get(first.manifest_id)
        if data is None:
            raise HistoryError(
                "the export lacks the run's manifest artifact; pass manifest=RunManifest(...)"
            )
        try:
            manifest = RunManifest.from_json(json.loads(data))
        except (ValueError, KeyError, TypeError, RunError) as exc:  # RunError: invalid op id
            raise HistoryError(f"the manifest artifact is malformed: {exc}") from None
    plan = _plan_from(plan_or_resolver, manifest)
    replayer = _Replayer(history, plan, manifest)
    loop = SimLoop(VirtualClock())
    try:
        divergence = loop.run_until_complete(replayer.run())
    finally:
        loop.close()
    states: list[str] = []
    for env in history.events:
        if isinstance(env.event, StateEntered) and env.event.state_id not in states:
            states.append(env.event.state_id)
    finished = any(isinstance(e.event, RunCompleted) for e in history.events)
    return HistoryReport(history.run_id, divergence, replayer.replayed, tuple(states), finished)
