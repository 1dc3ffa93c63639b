"""Error shape: every error the engine hands out carries the fields ENGINE.md gives it.

ENGINE.md "Ids and values": an `ErrorInfo` is `(code: str, category: ErrorCategory,
retryable: bool, message: str, details)`; a `RunError` has a kind of its own and wraps the
underlying error's info, so a `StorageError`, `ContextError` or `IoError` it chains carries a
kind of its class's enum and the `RunError`'s kind is that class's (STORAGE, CONTEXT, IO,
STATE). Where ENGINE.md names the kind a code has, the chained error has it. A state's error
persisted in `StateFailed` is redacted: `details` always dropped; `orphan_attempt_recovered`
is retryable, category UNKNOWN.

Judged: the errors `start` and `resume` raised (each incarnation, each operator mistake, as
`RaisedError`) and every `StateFailed` of every stream.
"""

from __future__ import annotations

from typing import Any

from mfm_engine.errors import (
    ContextErrorKind,
    ErrorCategory,
    IoErrorKind,
    RunErrorKind,
    StorageErrorKind,
)
from mfm_engine.events import StateFailed

from mfm_sim.invariants.derive import Out, derive
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation, RaisedError

__all__ = ["INVARIANT", "check_error_shape", "detail_problems", "info_problems", "raised_problems"]

# The chained error's class -> (its kind enum, the RunError kind that wraps it).
_WRAPS: dict[str, tuple[type | None, RunErrorKind]] = {
    "StorageError": (StorageErrorKind, RunErrorKind.STORAGE),
    "ContextError": (ContextErrorKind, RunErrorKind.CONTEXT),
    "IoError": (IoErrorKind, RunErrorKind.IO),
    "StateError": (None, RunErrorKind.STATE),
}
# Codes whose storage kind ENGINE.md names ("Attempt envelopes", "Later checks").
_CODE_KIND = {
    "artifact_content_address_mismatch": StorageErrorKind.CORRUPTION,
    "manifest_corrupt": StorageErrorKind.CORRUPTION,
    "manifest_artifact_mismatch": StorageErrorKind.CORRUPTION,
    "fact_recorded_malformed": StorageErrorKind.CORRUPTION,
    "fact_recorded_conflict": StorageErrorKind.CORRUPTION,
    "artifact_not_canonical": StorageErrorKind.CORRUPTION,
    "artifact_float_not_allowed": StorageErrorKind.CORRUPTION,
    "artifact_json_decode_failed": StorageErrorKind.CORRUPTION,
    "event_store_concurrency": StorageErrorKind.CONCURRENCY,
}
# Codes whose details ENGINE.md fixes ("Later checks": `{"seq": N}` and `{"seq": N, "key": K}`,
# never payload contents): the keys each carries.
_DETAIL_KEYS = {
    "fact_recorded_malformed": frozenset({"seq"}),
    "fact_recorded_conflict": frozenset({"seq", "key"}),
}
ORPHAN_CODE = "orphan_attempt_recovered"
# ENGINE.md "Later checks": start reads its manifest back and refuses bytes that do not hash
# to its id with `manifest_artifact_mismatch`; `manifest_corrupt` is resume's code for the
# same bytes. A start raises resume's only through a child run it resumed (its storage error
# escapes the parent's handler), so only a schedule with no child run is judged.
_START_NEVER = "manifest_corrupt"


def info_problems(info: Any) -> list[str]:
    """What in `info` is not an ErrorInfo's field of ENGINE.md's type."""
    out = []
    code = getattr(info, "code", None)
    if not isinstance(code, str) or not code:
        out.append(f"code {code!r} is not a non-empty str")
    category = getattr(info, "category", None)
    if not isinstance(category, ErrorCategory):
        out.append(f"category {category!r} is not an ErrorCategory")
    retryable = getattr(info, "retryable", None)
    if not isinstance(retryable, bool):
        out.append(f"retryable {retryable!r} is not a bool")
    message = getattr(info, "message", None)
    if not isinstance(message, str):
        out.append(f"message {message!r} is not a str")
    return out


def raised_problems(raised: RaisedError) -> list[str]:
    """What in a raised error breaks ENGINE.md's shape of a RunError and what it wraps."""
    out = info_problems(raised.info)
    kind = raised.kind
    if isinstance(kind, ContextErrorKind) and raised.cause_type is None:
        return out  # the operator's bad context, refused by JsonContext itself
    if not isinstance(kind, RunErrorKind):
        out.append(f"kind {kind!r} is not a RunErrorKind")
    wraps = _WRAPS.get(raised.cause_type or "")
    if wraps is None:
        return out
    kinds, run_kind = wraps
    if kind is not run_kind:
        out.append(f"a {raised.cause_type} is wrapped as {kind!r}, not {run_kind!r}")
    if kinds is not None and not isinstance(raised.cause_kind, kinds):
        out.append(f"the {raised.cause_type}'s kind {raised.cause_kind!r} is no {kinds.__name__}")
    want = _CODE_KIND.get(getattr(raised.info, "code", None))  # type: ignore[arg-type]
    if want is not None and raised.cause_type == "StorageError" and raised.cause_kind is not want:
        out.append(f"{raised.info.code} is a StorageError {want.name}, not {raised.cause_kind!r}")
    return out + detail_problems(raised.info)


def detail_problems(info: Any) -> list[str]:
    """What breaks the details ENGINE.md fixes for a code: `{"seq": N}` for a malformed fact
    record, `{"seq": N, "key": K}` for a conflicting one (N a seq, K the fact's key)."""
    code = getattr(info, "code", None)
    keys = _DETAIL_KEYS.get(code) if isinstance(code, str) else None
    if keys is None:
        return []
    details = getattr(info, "details", None)
    if not isinstance(details, dict) or details.keys() != keys:
        return [f"{code} details {details!r}, not the keys {sorted(keys)}"]
    seq = details["seq"]
    if type(seq) is not int or seq < 1:
        return [f"{code} details name seq {seq!r}, not a seq"]
    if "key" in keys and not isinstance(details["key"], str):
        return [f"{code} details name key {details['key']!r}, not a fact key"]
    return []


def _failed_problems(event: StateFailed) -> list[str]:
    error = event.error
    out = info_problems(error)
    if getattr(error, "details", None) is not None:
        out.append("details were persisted (a state's error drops them)")
    if getattr(error, "code", None) == ORPHAN_CODE and (
        error.retryable is not True or error.category is not ErrorCategory.UNKNOWN
    ):
        out.append(f"{ORPHAN_CODE} must be retryable, category UNKNOWN")
    return out


def _children(obs: Observation) -> bool:
    return any(view.is_child for view in obs.runs.values())


def check_error_shape(obs: Observation) -> list[Violation]:
    """One violation per malformed raised error and per malformed persisted state error."""
    out = Out(INVARIANT.name, obs)
    for inc in obs.incarnations:
        if inc.raised is not None:
            where = f"incarnation {inc.number} ({inc.call})"
            for problem in raised_problems(inc.raised):
                out.add(obs.main_run_id, (), f"{where}: {problem}")
            if inc.call == "start" and inc.error_code == _START_NEVER and not _children(obs):
                out.add(obs.main_run_id, (), f"{where}: {_START_NEVER} is not start's code")
    for call in obs.operator_calls:
        if call.raised is not None:
            for problem in raised_problems(call.raised):
                out.add(None, (), f"operator {call.call} {call.name!r}: {problem}")
    # The StateFailed rows `derive` indexed (its FAILED rows, subclasses too).
    for run_id, log in derive(obs).by_key:
        for _, env, event in log.failed:
            if type(event) is StateFailed:
                for problem in _failed_problems(event):
                    out.add(run_id, (env.seq,), f"StateFailed of {event.state_id}: {problem}")
    return out.items


INVARIANT = Invariant(
    "error_shape",
    None,
    "every raised and persisted error has ENGINE.md's fields, kinds and redaction",
    check_error_shape,
)
