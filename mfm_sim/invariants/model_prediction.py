"""Invariant 13's detailed half: a run against a reference interpreter's `Prediction`.

Two kinds of comparison, by what a fault can change:

- **Per attempt** (every schedule, every run): an attempt's behaviour is a function of its
  number, so each attempt the log closes with `StateCompleted`, or with a `StateFailed` of
  the program's own (not an orphan recovery, not an injected `sim_` failure), must show the
  predicted outcome (completed, or the failure's code, retryability and persisted message),
  the domain events kept, the derived fact keys recorded, and (completed) a snapshot equal
  to its base snapshot with the predicted effects applied.
- **Per run** (when the only faults were latency, which changes no attempt): the states and
  attempts entered, the fact keys bound, the predictable fields of recorded payloads, and the
  final context, its symbols resolved against the facts the log recorded.

Only engine data types are used; payloads are decoded with `json`, not the engine's helpers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.derive import (
    COMPLETED,
    DOMAIN,
    ENTERED,
    FACT,
    FAILED,
    INJECTED_PREFIX,
    ORPHAN_CODE,
    Log,
    Out,
    each_run,
)
from mfm_sim.invariants.outcome import _plain
from mfm_sim.run.observation import CtxRef, FactRef, Observation, Prediction

__all__ = ["attempts_shifted", "check_prediction"]

_UNKNOWN = object()  # a symbol or artifact the log cannot resolve: nothing to compare
_DERIVED = "mfm:"


def _load(obs: Observation, artifact_id: str | None) -> Any:
    if artifact_id is None or artifact_id in obs.lost_artifacts:
        return _UNKNOWN
    data = obs.pristine.get(artifact_id)
    if data is None:
        return _UNKNOWN
    try:
        return json.loads(data)
    except ValueError:
        return _UNKNOWN


class _Facts:
    """A run's recorded facts: key -> payload (first binding), decoded on first use."""

    def __init__(self, obs: Observation, log: Log) -> None:
        self.obs = obs
        self.run_id = log.run_id
        self.ids: dict[str, str] = {}
        for code, _env, ev in log.rows:
            if code == FACT and isinstance(ev.payload, Mapping):
                self.ids.setdefault(str(ev.payload.get("key")), str(ev.payload.get("payload_id")))

    def key(self, template: str) -> str:
        return template.replace("{run}", str(self.run_id))

    def payload(self, key: str) -> Any:
        pid = self.ids.get(self.key(key))
        return _UNKNOWN if pid is None else _load(self.obs, pid)

    def resolve(self, value: Any, base: Mapping[str, Any]) -> Any:
        """`value` with its symbols replaced; `_UNKNOWN` if one cannot be resolved."""
        if isinstance(value, FactRef):
            got = self.payload(value.key)
            if got is _UNKNOWN or value.field is None:
                return got
            return got.get(value.field, _UNKNOWN) if isinstance(got, dict) else _UNKNOWN
        if isinstance(value, CtxRef):
            return base.get(value.key)
        if isinstance(value, Mapping):
            out = {str(k): self.resolve(v, base) for k, v in value.items()}
            return _UNKNOWN if any(v is _UNKNOWN for v in out.values()) else out
        if isinstance(value, (list, tuple)):
            items = [self.resolve(v, base) for v in value]
            return _UNKNOWN if any(v is _UNKNOWN for v in items) else items
        return value


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _diff(got: Mapping[str, Any], want: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(got) | set(want) if got.get(k, ...) != want.get(k, ...))
    return "; ".join(
        f"{k}: {_short(got.get(k, '<absent>'), 60)} != {_short(want.get(k, '<absent>'), 60)}"
        for k in keys[:4]
    )


def _check_attempts(obs: Observation, out: Out, log: Log, pred: Prediction) -> None:
    facts = _Facts(obs, log)
    rid = log.run_id
    open_: tuple[str, int, str, int] | None = None
    events: list[tuple[str, Any, str | None]] = []
    derived: list[str] = []
    for code, env, ev in log.rows:
        if code == ENTERED:
            open_ = (ev.state_id, ev.attempt, ev.base_snapshot_id, env.seq)
            events, derived = [], []
        elif open_ is None:
            continue
        elif code == DOMAIN:
            events.append((ev.name, _plain(ev.payload), ev.payload_ref))
        elif code == FACT:
            key = ev.payload.get("key") if isinstance(ev.payload, Mapping) else None
            if isinstance(key, str) and key.startswith(_DERIVED):
                derived.append(key)
        elif code in (COMPLETED, FAILED):
            sid, attempt, base_id, entered = open_
            open_ = None
            p = pred.attempts.get((sid, attempt))
            if p is None or ev.state_id != sid:
                continue
            seqs = (entered, env.seq)
            where = f"state {sid} attempt {attempt}"
            if code == FAILED:
                err = ev.error
                if err.code == ORPHAN_CODE or err.code.startswith(INJECTED_PREFIX):
                    continue  # a fault's doing, not the program's
                if p.completed:
                    out.add(
                        rid, seqs, f"{where}: failed with {err.code}, the model says it completes"
                    )
                    continue
                assert p.error is not None
                code_, retryable, message = p.error
                if (err.code, err.retryable) != (code_, retryable) or (
                    message is not None and err.message != message
                ):
                    out.add(
                        rid,
                        seqs,
                        f"{where}: failure {err.code} retryable={err.retryable} "
                        f"message={err.message!r}, the model says {code_} "
                        f"retryable={retryable}" + (f" message={message!r}" if message else ""),
                    )
            elif not p.completed:
                assert p.error is not None
                out.add(rid, seqs, f"{where}: completed, the model says it fails with {p.error[0]}")
                continue
            want_events = [(n, _plain(v), ref) for n, v, ref in p.events]
            if events != want_events:
                out.add(
                    rid,
                    seqs,
                    f"{where}: domain events kept {_short(events)}, the model says "
                    f"{_short(want_events)}",
                )
            want_derived = [facts.key(k) for k in p.derived_facts]
            if derived != want_derived:
                out.add(
                    rid,
                    seqs,
                    f"{where}: derived facts recorded {_short(derived)}, the model says "
                    f"{_short(want_derived)}",
                )
            if code == COMPLETED:
                _check_effects(obs, out, facts, where, seqs, base_id, ev.context_snapshot_id, p)


def _check_effects(
    obs: Observation,
    out: Out,
    facts: _Facts,
    where: str,
    seqs: tuple[int, ...],
    base_id: str,
    snapshot_id: str,
    p: Any,
) -> None:
    base = _load(obs, base_id)
    got = _load(obs, snapshot_id)
    if base is _UNKNOWN or got is _UNKNOWN or not isinstance(base, dict):
        return
    want = dict(base)
    for what, key, value in p.effects:
        if what == "del":
            want.pop(key, None)
            continue
        resolved = facts.resolve(value, base)
        if resolved is _UNKNOWN:
            return
        want[key] = resolved
    if got != want:
        detail = _diff(got, want) if isinstance(got, dict) else _short(got)
        out.add(facts.run_id, seqs, f"{where}: snapshot differs from base + effects: {detail}")


def _check_run(obs: Observation, out: Out, log: Log, pred: Prediction) -> None:
    rid = log.run_id
    facts = _Facts(obs, log)
    path = [(ev.state_id, ev.attempt) for code, _e, ev in log.rows if code == ENTERED]
    want_path = list(pred.path)
    if path != want_path:
        at = next(
            (i for i, (a, b) in enumerate(zip(path, want_path, strict=False)) if a != b),
            min(len(path), len(want_path)),
        )
        got_at = path[at] if at < len(path) else "<end>"
        want_at = want_path[at] if at < len(want_path) else "<end>"
        out.add(
            rid,
            (),
            f"attempts entered: #{at} is {got_at}, the model says {want_at} "
            f"({len(path)} entered, the model says {len(want_path)})",
        )
    explicit = sorted(k for k in facts.ids if not k.startswith(_DERIVED))
    if explicit != list(pred.explicit_facts):
        out.add(rid, (), f"fact keys bound {explicit}, the model says {list(pred.explicit_facts)}")
    derived = sorted(k for k in facts.ids if k.startswith(_DERIVED))
    want_derived = sorted(facts.key(k) for k in pred.derived_facts)
    if derived != want_derived:
        out.add(
            rid,
            (),
            f"derived fact keys bound: {len(derived)}, the model says {len(want_derived)} "
            f"({_short(sorted(set(derived) ^ set(want_derived)))})",
        )
    for key in sorted(pred.fact_fields):
        payload = facts.payload(key)
        if not isinstance(payload, dict):
            continue
        for field, value in pred.fact_fields[key].items():
            if payload.get(field, _UNKNOWN) != _plain(value):
                out.add(
                    rid,
                    (),
                    f"fact {key}: {field} is {_short(payload.get(field, '<absent>'))}, the model "
                    f"says {_short(_plain(value))}",
                )
    if pred.final_context is None:
        return
    got = _load(obs, obs.final_snapshot_id)
    want = facts.resolve(pred.final_context, {})
    if got is _UNKNOWN or want is _UNKNOWN or got == want:
        return
    detail = _diff(got, want) if isinstance(got, dict) else _short(got)
    seqs = (log.finish.seq,) if log.finish is not None else ()
    out.add(rid, seqs, f"final context differs from the model: {detail}")


def attempts_shifted(obs: Observation) -> bool:
    """A fault used up an attempt of some run: an orphan recovery or an injected failure."""
    for log in each_run(obs):
        for code, _env, ev in log.rows:
            if code == FAILED and (
                ev.error.code == ORPHAN_CODE or ev.error.code.startswith(INJECTED_PREFIX)
            ):
                return True
    return False


def check_prediction(obs: Observation, out: Out, pred: Prediction, whole_run: bool) -> None:
    """Compare every run's attempts; with `whole_run`, the main run's path, facts, context."""
    logs = each_run(obs)
    for log in logs:
        _check_attempts(obs, out, log, pred)
    only_latency = all(f.kind is FaultKind.LATENCY for f in obs.faults)
    if whole_run and only_latency and logs and logs[0].run_id == obs.main_run_id:
        _check_run(obs, out, logs[0], pred)
