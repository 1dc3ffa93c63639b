"""The reference interpreter: what a correct engine does with a generated workload.

Written from `ENGINE.md` alone; it imports engine data types (the run config, phases) and
no engine logic. It walks the plan in Kahn order (FIFO, plan order) and, for each state,
predicts every attempt as a function of its number: whether it completes or how it fails
(code, retryability, the message as redaction leaves it), the domain events the profile
keeps, the derived fact keys it records, the refusals it meets and its net change of the
context. Values only the run knows (a clock reading, random bytes, a service's response)
are predicted as `FactRef` symbols; a read of the base snapshot as `CtxRef`.

ENGINE.md rules used here: staged writes and deletes (reads see the overlay first; a failed
attempt's writes are dropped); retry iff retryable and attempt + 1 < max_attempts, from the
same base; skip tags complete a state with its base snapshot; MINIMAL keeps no domain event
but `fact_recorded`; secrets refused in event names and payloads and in fact payloads, floats
in fact payloads; derived keys `mfm:{kind}|run:..|state:..|attempt:n|ord:k` with `ord`
shared by both kinds; replay mode answers from recorded facts only (`missing_fact`,
retryable as configured; `missing_fact_key` without a key, never retryable); a first
binding wins, so a key bound once is never recorded again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
from mfm_engine.config import EventProfile, ExecutionMode, IoMode, RunConfig, RunManifest
from mfm_engine.events import RunPhase
from mfm_engine.plan import ExecutionPlan
from mfm_scenarios.inspect_errors import INSPECTABLE, INSPECTED_EVENT, predicted_shape
from mfm_scenarios.program import (
    AWAIT_KIND,
    AWAIT_NAMESPACE,
    CALL,
    CATCHABLE,
    CHILD,
    DELETE,
    EMIT,
    FAIL,
    NOW,
    RANDOM,
    READ,
    REQUIRE,
    SPAWN_NAMESPACE,
    WRITE,
    Op,
    Program,
    ProgramState,
    event_payload,
    write_value,
)
from mfm_scenarios.steps import kahn_order

from mfm_sim.invariants.spec.canonical import (
    NotCanonical,
    SecretFound,
    canonical_bytes,
    json_artifact_id,
)
from mfm_sim.invariants.spec.secrets import REDACTED, text_has_secret
from mfm_sim.invariants.spec.secrets import has_secret as spec_has_secret
from mfm_sim.run.observation import AttemptPrediction, CtxRef, FactRef, Prediction
from mfm_sim.run.seeded_history import SeededHistory

__all__ = [
    "REDACTED",
    "ROUTE",
    "ROUTED",
    "ROUTES",
    "Interpreted",
    "Routes",
    "has_float",
    "has_secret",
    "interpret",
    "response_of",
    "run_key",
    "service_of",
]

RUN = "{run}"  # stands for the run id in predicted fact keys


SERVICES = ("ledger", "kv")  # the namespaces the generated workload's transports serve
# A route the workload registers (a key-value service) when it calls through it, and the
# namespace it calls: ENGINE.md's `g.*` pattern matches `g.x`.
ROUTE = "gx.*"
ROUTED = "gx.kv"
Routes = tuple[tuple[str, str], ...]  # (pattern, the service it routes to)
ROUTES: Routes = (*((s, s) for s in SERVICES), (ROUTE, "kv"))


def has_secret(value: Any) -> bool:
    """ENGINE.md's secret detection: object keys and string values, at any depth (the
    oracle's one rule, `spec.secrets`)."""
    return spec_has_secret(value)


def has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, Mapping):
        return any(has_float(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_float(v) for v in value)
    return False


def run_key(kind: str, state_id: str, attempt: int, ordinal: int) -> str:
    return f"mfm:{kind}|run:{RUN}|state:{state_id}|attempt:{attempt}|ord:{ordinal}"


@attrs.frozen
class Interpreted:
    """A run's prediction plus its final phase (for `Reference`)."""

    phase: RunPhase
    prediction: Prediction


class _Refused(Exception):
    def __init__(self, code: str, retryable: bool, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retryable = retryable
        self.message = message


class _Attempt:
    """One attempt's walk over its program: overlay, events, facts, refusals."""

    def __init__(
        self,
        state_id: str,
        attempt: int,
        cfg: RunConfig,
        seeded: Mapping[str, Any],
        spawned: frozenset[str] = frozenset(),
        cancelled: frozenset[str] = frozenset(),
        routes: Routes | None = ROUTES,
    ) -> None:
        self.state_id = state_id
        self.routes = routes  # the registered routes; None: no transport installed
        self.attempt = attempt
        self.cfg = cfg
        self.seeded = seeded  # facts a recorded log bound before the run's first attempt
        self.spawned = spawned  # spawn keys of the children it holds, with another manifest
        self.cancelled = cancelled  # spawn keys of the children it holds finished CANCELLED
        self.writes: dict[str, Any] = {}
        self.deletes: list[str] = []
        self.events: list[tuple[str, Any, str | None]] = []
        self.derived: list[str] = []
        self.explicit: list[str] = []  # keys this attempt asked to record (first binding)
        self.refusals: list[str] = []
        self.ordinal = 0

    def read(self, key: str) -> Any:
        if key in self.writes:
            return self.writes[key]
        if key in self.deletes:
            return None
        return CtxRef(key)

    def write(self, key: str, value: Any) -> None:
        if key in self.deletes:
            self.deletes.remove(key)
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.writes.pop(key, None)
        if key not in self.deletes:
            self.deletes.append(key)

    def _refusal(self, op: Op) -> _Refused:
        """A call the workload makes to be refused: both child-run namespaces need a fact key
        (in replay mode every call does); replay answers a keyed call from facts alone."""
        child = op.name in (SPAWN_NAMESPACE, AWAIT_NAMESPACE)
        if op.fact_key is None and (child or self._replay()):
            return _Refused("missing_fact_key", False)
        if self._replay():
            return self._missing()
        return _Refused(_request_refusal(op.name, op.value), False)

    def _replay(self) -> bool:
        return self.cfg.io_mode is IoMode.REPLAY

    def _missing(self) -> _Refused:
        return _Refused("missing_fact", self.cfg.replay_missing_fact_retryable)

    def record(self, key: str, payload: Any, fields: dict[str, Any]) -> Any:
        """A keyed call: refused, or the recorded payload as a symbol."""
        if key in self.seeded:  # bound: answered from its record, nothing recorded again
            return FactRef(key)
        if self._replay():
            raise self._missing()
        if payload is not None:
            _canonical_or_refused(payload)
        self.explicit.append(key)
        return FactRef(key)

    def derived_fact(self, kind: str, field: str, n: int = 0) -> FactRef:
        key = run_key(kind, self.state_id, self.attempt, self.ordinal)
        self.ordinal += 1
        if key in self.seeded:
            # ENGINE.md: a recorded draw is replayed; random bytes of the wrong length are
            # `fact_payload_invalid` (a bad record: no retry helps), and so is a record that
            # holds no draw of its kind at all (no object: no time, no bytes).
            if not _replayable(kind, self.seeded[key], n):
                raise _Refused("fact_payload_invalid", False)
            return FactRef(key, field)
        if self._replay():
            raise self._missing()
        self.derived.append(key)
        return FactRef(key, field)

    def require(self, key: str) -> Any:
        # The generator requires only a key written earlier in every attempt (the overlay
        # holds it unless a delete took it out) or one no op ever writes.
        if key in self.writes:
            return self.writes[key]
        raise _Refused("context_missing_key", False)

    def step(self, op: Op, fields: dict[str, Any], children: Mapping[str, Interpreted]) -> None:
        kind = op.kind
        if kind == READ:
            self.write(op.key, self.read(op.src))
        elif kind == REQUIRE:
            self.write(op.key, self.require(op.src))
        elif kind == WRITE:
            self.write(op.key, write_value(op))
        elif kind == DELETE:
            self.delete(op.key)
        elif kind == FAIL:
            # A state id the error names (`op.src`) is not recorded: StateFailed names the
            # attempt's own state and holds the info only (ENGINE.md, "Events").
            message = REDACTED if text_has_secret(op.message) else op.message
            raise _Refused(op.name, op.retryable, message)
        elif kind == CALL:
            self._call(op, fields)
        elif kind == NOW:
            self.write(op.key, self.derived_fact("now_millis", "now_millis"))
        elif kind == RANDOM:
            self.write(op.key, self.derived_fact("random_bytes", "hex", op.n))
        elif kind == EMIT:
            if text_has_secret(op.name) or has_secret(event_payload(op)):
                raise _Refused("secrets_detected", False)
            if self.cfg.event_profile is not EventProfile.MINIMAL:
                self.events.append((op.name, op.value, op.ref))
        elif kind == CHILD:
            if f"spawn:{op.fact_key}" in self.spawned and not self._replay():
                # ENGINE.md: an existing child with another manifest is `child_run_conflict`.
                raise _Refused("child_run_conflict", False)
            self.record(f"spawn:{op.fact_key}", None, fields)
            fields.setdefault(f"spawn:{op.fact_key}", _spawn_fields(op.value))
            key = f"await:{op.fact_key}"
            self.record(key, None, fields)
            child = children[str(op.fact_key)]
            final = child.prediction.final_context
            fields[key] = {
                "status": child.phase.value,
                "final_snapshot": final,
                # ENGINE.md: the response carries the final snapshot's id too (none for a
                # child that never started), the content address of its canonical bytes.
                "final_snapshot_id": None if final is None else json_artifact_id(final),
            }
            if f"spawn:{op.fact_key}" in self.cancelled and not self._replay():
                # ENGINE.md: the spawn resumes an existing child; a finished run's resume
                # returns its result (CANCELLED, no snapshot) and writes nothing.
                fields[key] = {"status": "cancelled", "final_snapshot": None}
            if op.n:  # awaited again naming another manifest than the spawn recorded
                raise _Refused("child_run_conflict", False)
            self.write(
                op.key, {"status": FactRef(key, "status"), "final": FactRef(key, "final_snapshot")}
            )

    def _call(self, op: Op, fields: dict[str, Any]) -> None:
        if op.fact_key is not None and op.fact_key in self.seeded:
            # ENGINE.md: a bound key answers from its record, live or replay, before any
            # transport (or router) is asked.
            if op.key:
                self.write(op.key, FactRef(op.fact_key))
            return
        if self.routes is None and not self._replay():
            # ENGINE.md: with no live transport installed the engine's default answers every
            # call it would send to a transport with the original's `io_unimplemented`.
            raise _Refused("io_unimplemented", False)
        service = _routed(op.name, self.routes or ROUTES)
        if service is None:
            raise self._refusal(op)
        if op.fact_key is None:
            if self._replay():
                raise _Refused("missing_fact_key", False)
            if op.key:
                self.write(op.key, _response(service, op.value))
            return
        payload = _response(service, op.value)
        value = self.record(op.fact_key, payload, fields)
        known = _known_fields(service, op.value)
        if known:
            fields.setdefault(op.fact_key, known)
        if op.twin is not None and op.twin != op.value:
            # Rival requests under one key: either may bind first; the other is refused.
            fields.pop(op.fact_key, None)
            if op.inspect:  # the handler records the refusal of the call that lost
                raise _Refused("fact_payload_conflict", False)
        if op.key:
            self.write(op.key, value)


def _routed(namespace: str, routes: Routes = ROUTES) -> str | None:
    """ENGINE.md's router: the service of the route with the longest matching prefix (`g`
    matches `g` and `g.x`; `g.*` matches `g.x`), or None (`io_unknown_namespace`)."""
    best, best_len = None, -1
    for pattern, service in routes:
        if pattern.endswith(".*"):
            prefix = pattern[:-1]
            n = len(prefix) if namespace.startswith(prefix) and namespace != prefix else -1
        else:
            hit = namespace == pattern or namespace.startswith(pattern + ".")
            n = len(pattern) if hit else -1
        if n > best_len:
            best, best_len = service, n
    return best


def service_of(namespace: str) -> str | None:
    """The service the workload's router sends `namespace` to, or None (unknown)."""
    return _routed(namespace)


_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_ARTIFACT_ID = re.compile(r"^[0-9a-f]{64}$")


def _replayable(kind: str, recorded: Any, n: int) -> bool:
    """Whether a recorded draw answers the call as ENGINE.md records it: `{"now_millis":
    integer}` for a time, `{"hex": the hex of exactly n bytes}` for `random_bytes(n)`."""
    if not isinstance(recorded, Mapping):
        return False
    if kind == "now_millis":
        return type(recorded.get("now_millis")) is int
    text = recorded.get("hex")
    return (
        isinstance(text, str)
        and re.fullmatch(r"(?:[0-9a-fA-F]{2})*", text) is not None
        and (len(text) == 2 * n)
    )


def _canonical_or_refused(payload: Any) -> None:
    """ENGINE.md: a fact payload is canonicalised before it is stored; secrets first."""
    try:
        canonical_bytes(payload)
    except SecretFound:
        raise _Refused("secrets_detected", False) from None
    except NotCanonical:
        raise _Refused("fact_payload_not_canonical", False) from None


def _request_refusal(namespace: str, request: Any) -> str:
    """ENGINE.md, child runs and the router: the code a live call the workload makes only to
    be refused gets. Spawn and await need their kinds; await a valid child id and, if it names
    one, an artifact id as the spawn's manifest; an await of a child never started (no spawn
    request to start it from) is `run_not_found`; any other namespace is unknown."""
    if namespace == SPAWN_NAMESPACE:
        if not isinstance(request, Mapping) or request.get("kind") != "child_run_spawn_v1":
            return "child_run_request_invalid"
        initial = request.get("initial_context") or {}
        if not isinstance(initial, Mapping):
            return "child_run_request_invalid"
        try:  # the child's initial snapshot must have a canonical form (its id is in the reply)
            canonical_bytes(initial)
        except NotCanonical:
            return "child_run_request_invalid"
        raise ValueError("the generator makes only spawn requests the engine refuses")
    if namespace == AWAIT_NAMESPACE:
        if not isinstance(request, Mapping) or request.get("kind") != AWAIT_KIND:
            return "child_run_request_invalid"
        if not _UUID.match(str(request.get("child_run_id"))):
            return "child_run_request_invalid"
        manifest = request.get("child_manifest_id")
        if manifest is not None and not _ARTIFACT_ID.match(str(manifest)):
            return "child_run_request_invalid"
        return "run_not_found"
    return "io_unknown_namespace"


def _response(namespace: str, request: Mapping[str, Any]) -> Any:
    """The part of a service's response a program depends on for refusals, or its whole
    response when the generator made it predictable (None: not known by value)."""
    if namespace == "ledger":
        return {
            "account": request["account"],
            "amount": request["amount"],
            "balance": request["amount"],
        }
    op = request.get("op")
    if op == "get":
        value = request.get("expect")  # the generator's note of what the key holds
        if value is None:
            return {"key": request["key"], "found": False, "value": None, "version": 0}
        return {"found": True, "value": value}
    return None  # put: a version only the service knows


def response_of(namespace: str, request: Mapping[str, Any]) -> Any:
    """What the workload's service behind `namespace` answers `request`, where the generator
    made it predictable; None otherwise (a recorded log may hold it as a fact)."""
    service = _routed(namespace)
    return None if service is None else _response(service, request)


def _spawn_fields(request: Mapping[str, Any]) -> dict[str, Any]:
    """ENGINE.md, child runs: the spawn's response names the child's manifest (op id and
    version, `{op_config, input}` as its input, the run config) and initial snapshot by the
    content addresses of their canonical bytes."""
    if "op_id" not in request or "run_config" not in request:
        return {}  # a request the engine refuses (`_request_refusal`): no response to predict
    manifest = RunManifest(
        str(request["op_id"]),
        str(request.get("op_version", "1")),
        {"op_config": request.get("op_config"), "input": request.get("input")},
        RunConfig.from_json(request["run_config"]),
    )
    return {
        "child_manifest_id": json_artifact_id(manifest.to_json()),
        "child_initial_snapshot_id": json_artifact_id(request.get("initial_context") or {}),
    }


def _known_fields(namespace: str, request: Mapping[str, Any]) -> dict[str, Any]:
    response = _response(namespace, request)
    return dict(response) if isinstance(response, dict) else {}


class _Interpreter:
    def __init__(
        self,
        plan: ExecutionPlan,
        cfg: RunConfig,
        children: Mapping[str, Interpreted],
        history: SeededHistory | None = None,
        routes: Routes | None = ROUTES,
    ):
        self.plan = plan
        self.cfg = cfg
        self.children = children
        self.routes = routes
        self.seeded: dict[str, Any] = dict(history.facts) if history is not None else {}
        finished = frozenset(history.finished) if history is not None else frozenset()
        self.cancelled = finished
        self.spawned = (
            frozenset(c[0] for c in history.children if c[0] not in finished)
            if history is not None
            else None
        )
        self.fields: dict[str, Any] = {}

    def attempt(
        self, state_id: str, program: Program, attempt: int
    ) -> tuple[AttemptPrediction, _Attempt]:
        walk = _Attempt(
            state_id,
            attempt,
            self.cfg,
            self.seeded,
            self.spawned or frozenset(),
            self.cancelled,
            self.routes,
        )
        if set(program.tags) & set(self.cfg.skip_tags):
            return AttemptPrediction(state_id, attempt, True, True, None, (), (), (), ()), walk
        error: tuple[str, bool, str | None] | None = None
        for op in program.ops:
            if not op.runs_in(attempt):
                continue
            try:
                walk.step(op, self.fields, self.children)
            except _Refused as refused:
                if op.kind != FAIL:
                    walk.refusals.append(refused.code)
                if op.catch and op.inspect and refused.code in INSPECTABLE:
                    seen = predicted_shape(refused.code, refused.retryable)
                    walk.write(op.key, seen)
                    if self.cfg.event_profile is not EventProfile.MINIMAL:
                        walk.events.append((INSPECTED_EVENT, seen, None))
                    continue
                if op.catch and refused.code in CATCHABLE:
                    walk.write(op.key, {"refused": refused.code})
                    continue
                error = (refused.code, refused.retryable, refused.message)
                break
        effects = tuple(("del", k, None) for k in walk.deletes) + tuple(
            ("set", k, v) for k, v in walk.writes.items()
        )
        prediction = AttemptPrediction(
            state_id=state_id,
            attempt=attempt,
            skipped=False,
            completed=error is None,
            error=error,  # type: ignore[arg-type]
            events=tuple(walk.events),
            derived_facts=tuple(walk.derived),
            effects=effects if error is None else (),
            refusals=tuple(walk.refusals),
        )
        return prediction, walk

    def run(self, initial: Mapping[str, Any]) -> Interpreted:
        max_attempts = self.cfg.retry_policy.max_attempts
        ctx: dict[str, Any] = dict(initial)
        attempts: dict[tuple[str, int], AttemptPrediction] = {}
        walks: dict[tuple[str, int], _Attempt] = {}
        for node in self.plan.graph.states:
            program = _program(node.state)
            for a in range(max(1, max_attempts)):
                attempts[node.id, a], walks[node.id, a] = self.attempt(node.id, program, a)
        path: list[tuple[str, int]] = []
        # A recorded log's facts are bound before the first attempt.
        explicit: list[str] = [k for k in self.seeded if not k.startswith("mfm:")]
        derived: list[str] = [k for k in self.seeded if k.startswith("mfm:")]
        phase = RunPhase.COMPLETED
        for node in kahn_order(self.plan):
            a = 0
            while True:
                path.append((node.id, a))
                pred, walk = attempts[node.id, a], walks[node.id, a]
                derived.extend(walk.derived)
                explicit.extend(k for k in walk.explicit if k not in explicit)
                if pred.completed:
                    ctx = apply_effects(ctx, pred.effects, ctx)
                    break
                assert pred.error is not None
                if pred.error[1] and a + 1 < max_attempts:
                    a += 1
                    continue
                phase = RunPhase.FAILED
                break
            if phase is RunPhase.FAILED:
                break
        prediction = Prediction(
            attempts=attempts,
            path=tuple(path),
            explicit_facts=tuple(sorted(explicit)),
            derived_facts=tuple(sorted(derived)),
            fact_fields=dict(self.fields),
            final_context=ctx,
        )
        return Interpreted(phase, prediction)


def _program(state: Any) -> Program:
    if not isinstance(state, ProgramState):
        raise TypeError(f"the interpreter runs ProgramStates, got {type(state).__name__}")
    return state.program


def apply_effects(
    base: Mapping[str, Any], effects: Any, reads: Mapping[str, Any]
) -> dict[str, Any]:
    """The context after an attempt's effects; `CtxRef`s read `reads` (the base)."""
    out = dict(base)
    for what, key, value in effects:
        if what == "del":
            out.pop(key, None)
        else:
            out[key] = _deref(value, reads)
    return out


def _deref(value: Any, reads: Mapping[str, Any]) -> Any:
    if isinstance(value, CtxRef):
        return reads.get(value.key)
    if isinstance(value, Mapping):
        return {k: _deref(v, reads) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deref(v, reads) for v in value]
    return value


def _child(
    plan: ExecutionPlan,
    cfg: RunConfig,
    initial: Mapping[str, Any],
    children: Mapping[str, Interpreted],
) -> Interpreted:
    """A child run: ENGINE.md's start refuses a non-sequential mode before it writes anything
    (`unsupported_execution_mode`, test 7), so the await reports it failed, with no snapshot.
    Its own children (`children`) run on the parent's child-run wrapper too."""
    if cfg.execution_mode is not ExecutionMode.SEQUENTIAL:
        return Interpreted(RunPhase.FAILED, Prediction({}, (), (), (), {}, None))
    done = _Interpreter(plan, cfg, children).run(initial)
    pred = done.prediction
    if pred.final_context is None:
        return done
    # Its parent's await answers the final snapshot by value: what a grandchild's await
    # answered is known by value too (its status and final snapshot).
    final = _known(pred.final_context, pred.fact_fields)
    return attrs.evolve(done, prediction=attrs.evolve(pred, final_context=final))


def _stopped(child: Interpreted, initial: Mapping[str, Any]) -> Interpreted:
    """A child whose engine stops after the first handler it runs (its failpoint, armed by
    the engine factory). ENGINE.md, "One attempt", 4: nothing terminal is written and the run
    returns RUNNING at its checkpoint, the initial snapshot. A later await resumes it on a
    fresh engine, armed too: the orphan is retried from the same base and stopped again, until
    the orphan rule ends the run FAILED at that checkpoint. "Child runs": a child still RUNNING
    is reported FAILED. So every await answers failed, with the initial snapshot; each attempt
    runs as predicted. A child start refuses (no snapshot) stays as it is."""
    if child.prediction.final_context is None:
        return child
    prediction = attrs.evolve(child.prediction, final_context=dict(initial))
    return Interpreted(RunPhase.FAILED, prediction)


def _known(value: Any, fields: Mapping[str, Any]) -> Any:
    """`value` with each `FactRef(key, field)` whose field the prediction knows replaced."""
    if isinstance(value, FactRef) and value.field in fields.get(value.key, {}):
        return fields[value.key][value.field]
    if isinstance(value, Mapping):
        return {k: _known(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v, fields) for v in value]
    return value


def interpret(
    plan: ExecutionPlan,
    cfg: RunConfig,
    initial: Mapping[str, Any],
    children: Mapping[str, tuple[ExecutionPlan, RunConfig, Mapping[str, Any]]] = {},
    history: SeededHistory | None = None,
    routes: Routes | None = ROUTES,
    stopped_children: bool = False,
) -> Interpreted:
    """Predict a run of `plan`; `children` maps a CHILD op's name to its plan, config and
    initial context (children are predicted first, and merged into the parent's attempts; a
    child a child spawns comes after it in `children`); `history` is the recorded log the run
    resumes (its facts bound before the first attempt, `{run}` for the run id in a key, and
    the child runs it holds); `routes` the main run's registered routes (None: no transport
    installed, the engine's default); `stopped_children`: every child engine stops after the
    first handler it runs (`_stopped`)."""
    done: dict[str, Interpreted] = {}
    for name in reversed(list(children)):  # a grandchild before the child that spawns it
        p, c, i = children[name]
        done[name] = _child(p, c, i, done)
        if stopped_children:
            done[name] = _stopped(done[name], i)
    result = _Interpreter(plan, cfg, done, history, routes).run(initial)
    merged = dict(result.prediction.attempts)
    for child in done.values():
        merged.update(child.prediction.attempts)
    return Interpreted(result.phase, attrs.evolve(result.prediction, attempts=merged))
