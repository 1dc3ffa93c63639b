"""Inspected refusals: a handler that catches the engine's refusal of an IO call and records
what kind of error it got, and the oracle's prediction of that record from ENGINE.md.

A refusal the handler does not catch becomes `StateFailed(info)`: the log keeps the code,
category, retryability and message, never the `IoError` kind, and a caught one keeps only its
code (`Op.catch`). So an engine that raised a refusal with the wrong kind, or with an info
that is not an `ErrorInfo` at all (no category, no message), looked right to every check. An
`Op` with `inspect` catches every refusal in `INSPECTABLE`, writes `shape(exc)` to its key
and emits it as `INSPECTED_EVENT`:

- `refused`: the code;
- `kind`: the `IoErrorKind` name (the error of an `io` call is an `IoError`, ENGINE.md "Ids
  and values"), the `ContextErrorKind` name of a `ContextError` (`ctx.require`), or what
  else it got;
- `typed`: whether the info is what ENGINE.md's `ErrorInfo` declares (an `ErrorCategory`,
  a non-empty message string, a bool retryable);
- `retryable`.

`predicted_shape` is the oracle's side, from ENGINE.md alone: `missing_fact` is kind
MISSING_FACT and retryable as `replay_missing_fact_retryable`, `missing_fact_key` is
MISSING_FACT_KEY; every other refusal of an IO call is neither a missing fact, a transport
failure nor a rate limit, so OTHER, and not retryable. A context key that is missing is the
`ContextError` kind ENGINE.md names for it, MISSING_KEY.

The generated workload (`add_inspected`) inserts, from its own fork of the seed's stream,
calls the engine must refuse (child-run requests that are malformed or keyless or name a child
never started, an unknown namespace, fact payloads with a secret or a float), each inspected.
"""

from __future__ import annotations

from typing import Any

from mfm_engine.errors import ContextError, ContextErrorKind, ErrorCategory, IoError, IoErrorKind

from mfm_sim.world.rng import Rng

__all__ = ["INSPECTABLE", "INSPECTED_EVENT", "add_inspected", "predicted_shape", "shape"]

# The refusals of IO calls ENGINE.md names, which an inspecting handler catches: none of
# them is a fault's doing (a transport fault's error is never caught).
INSPECTABLE = (
    "secrets_detected",
    "fact_payload_not_canonical",
    "missing_fact",
    "missing_fact_key",
    "child_run_request_invalid",
    "child_run_conflict",
    "run_not_found",
    "io_unknown_namespace",
    "io_unimplemented",  # no transport installed (`mfm_scenarios.routing`)
    # `mfm_scenarios.inspect_kinds`: a replayed draw whose record is malformed, a binding
    # lost to a rival call, a missing context key.
    "fact_payload_invalid",
    "fact_payload_conflict",
    "context_missing_key",
)
# The domain event the handler emits the record as, too: a failed attempt's writes are
# dropped, its domain events kept (under any profile but MINIMAL).
INSPECTED_EVENT = "refusal_seen"
_KINDS = {
    "missing_fact": "MISSING_FACT",
    "missing_fact_key": "MISSING_FACT_KEY",
    "context_missing_key": "MISSING_KEY",
}


def shape(exc: Exception) -> dict[str, Any]:
    """What the handler saw of a caught refusal (see the module's docstring)."""
    info = getattr(exc, "info", None)
    if isinstance(exc, IoError):
        kind = exc.kind.name if isinstance(exc.kind, IoErrorKind) else f"not a kind: {exc.kind!r}"
    elif isinstance(exc, ContextError):
        known = isinstance(exc.kind, ContextErrorKind)
        kind = exc.kind.name if known else f"not a kind: {exc.kind!r}"
    else:
        kind = type(exc).__name__
    typed = (
        isinstance(getattr(info, "category", None), ErrorCategory)
        and isinstance(getattr(info, "message", None), str)
        and bool(info.message)  # type: ignore[union-attr]
        and type(getattr(info, "retryable", None)) is bool
    )
    return {
        "refused": getattr(info, "code", None),
        "kind": kind,
        "typed": typed,
        "retryable": getattr(info, "retryable", None),
    }


def predicted_shape(code: str, retryable: bool) -> dict[str, Any]:
    """ENGINE.md's record of refusal `code` of an IO call (`retryable` as the oracle
    predicts it for the code: replay's setting for `missing_fact`, else False)."""
    return {
        "refused": code,
        "kind": _KINDS.get(code, "OTHER"),
        "typed": True,
        "retryable": retryable,
    }


# Calls the engine must refuse: (namespace, request, keyed). Child runs need a key, a kind,
# an object as initial context, a valid child id; a child never started cannot be awaited
# without its spawn; an await naming a manifest must name an artifact id.
_SPAWN = "machine.child_run.spawn"
_AWAIT = "machine.child_run.await"
_NO_CHILD = "00000000-0000-4000-8000-000000000002"
_REFUSED: tuple[tuple[str, Any, bool], ...] = (
    (_SPAWN, {"kind": "child_run_spawn_v1"}, False),
    (_SPAWN, {"kind": "spawn_v0"}, True),
    (_SPAWN, "not an object", True),
    (_SPAWN, {"kind": "child_run_spawn_v1", "op_id": "gc9", "initial_context": [1]}, True),
    (_AWAIT, {"kind": "child_run_await_v1", "child_run_id": _NO_CHILD}, False),
    (_AWAIT, {"kind": "await_v0"}, True),
    (_AWAIT, {"kind": "child_run_await_v1", "child_run_id": "nope"}, True),
    (_AWAIT, {"kind": "child_run_await_v1", "child_run_id": _NO_CHILD}, True),
    (
        _AWAIT,
        {"kind": "child_run_await_v1", "child_run_id": _NO_CHILD, "child_manifest_id": 7},
        True,
    ),
    ("nosuch", {"op": "get"}, False),
    ("nosuch.deeper", {"op": "get"}, True),
    # Near the workload's `gx.*` route (when it registers it) and matched by no route: a
    # `g.*` pattern matches `g.` and what follows, not `g` itself nor `gy.`/`gxy.`.
    ("gx", {"op": "get"}, True),
    ("gy.kv", {"op": "get"}, True),
    ("gxy.kv", {"op": "get"}, False),
)
# Fact payloads the engine must refuse to record: a secret, a float.
_UNRECORDABLE: tuple[Any, ...] = ({"api_key": "k1"}, {"price": 2.5}, ["bearer token"])


def add_inspected(
    rng: Rng, programs: list[Any], make_call: Any, replay: bool = False
) -> frozenset[str]:
    """With even odds, insert into some of `programs` (in place) one or two inspected refused
    calls; `make_call(**fields)` builds a CALL `Op` (`mfm_scenarios.program`); `replay`: the
    run is in replay mode. Returns the feature name if it is on."""
    if not rng.chance(0.5):
        return frozenset()
    for i, program in enumerate(programs):
        if not rng.chance(0.6):
            continue
        ops = list(program.ops)
        for j in range(rng.between(1, 2)):
            uid = f"i{i}_{j}_{len(ops)}"
            # In replay mode the first unrecorded lookup a program does not catch ends the run:
            # first, so it is reached; half of them keyless (`missing_fact_key`).
            at = 0 if replay else rng.below(len(ops) + 1)
            keyless = replay and rng.chance(0.5)
            ops[at:at] = _inspected_ops(rng, uid, make_call, keyless)
        programs[i] = type(program)(tuple(ops), program.tags)
    return frozenset({"inspect_errors"})


def _inspected_ops(rng: Rng, uid: str, make_call: Any, keyless: bool) -> list[Any]:
    key = f"seen_{uid}"
    if keyless:
        namespace, request, _ = rng.choice(_REFUSED)
        return [make_call(key=key, name=namespace, value=request, catch=True, inspect=True)]
    if rng.chance(0.3):  # put unkeyed, read back keyed: the record the engine refuses
        value = rng.choice(_UNRECORDABLE)
        return [
            # Unkeyed, its response unwritten (a version only the service knows); in replay
            # mode refused (`missing_fact_key`), which fails the state, as the model predicts.
            make_call(name="kv", value={"op": "put", "key": f"ik_{uid}", "value": value}),
            make_call(
                key=key,
                name="kv",
                value={"op": "get", "key": f"ik_{uid}", "expect": value},
                fact_key=f"if_{uid}",
                catch=True,
                inspect=True,
            ),
        ]
    namespace, request, keyed = rng.choice(_REFUSED)
    return [
        make_call(
            key=key,
            name=namespace,
            value=request,
            fact_key=f"if_{uid}" if keyed else None,
            catch=True,
            inspect=True,
        )
    ]
