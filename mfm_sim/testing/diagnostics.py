"""Naming the handler at fault when a user's plan fails a schedule (SPEC §1, §8).

Three ways a user's handler is not crash-safe, and how each is named (SPEC §1, §8):

(a) **A side effect applied twice across a crash** (invariant 9, `effects_at_most_once`):
    the simulated services record which state and attempt made every call
    (`mfm_sim.testing.services`), so `diagnose` names the state whose handler applied the effect
    the second time, in which attempt and incarnation, and why a retry could repeat it (no
    fact key, no idempotency key).
(b) **A result that depends on the crash schedule** (invariant 7, `crash_transparency`, or
    13, `model_agreement`): `diagnose` compares each state's completed snapshot with the
    fault-free run of the same seed and names the first state whose snapshot differs (and
    the differing keys), and whether it got the same input.
(c) **Nondeterminism**: strict mode (`mfm_sim.world.strict`) records the handler and the
    call; `diagnose` leads with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from mfm_engine.events import (
    EventEnvelope,
    RunCompleted,
    StateCompleted,
    StateEntered,
    StateFailed,
)

from mfm_sim.invariants import Violation
from mfm_sim.run.observation import Observation
from mfm_sim.run.trace import format_entry
from mfm_sim.testing.services import ServiceRecord, service_records
from mfm_sim.world.strict import StrictRecord

__all__ = ["Diagnosis", "diagnose", "final_snapshot", "format_report", "timeline_excerpt"]

# Which violation a report leads with: the ones a user's handler causes first.
_PRIORITY = ("effects_at_most_once", "crash_transparency", "model_agreement", "service_state")


@attrs.frozen
class Diagnosis:
    """What went wrong in one failing schedule, in terms of the user's handlers."""

    seed: int
    invariant: str  # the leading broken invariant, or "nondeterminism"
    headline: str
    handlers: tuple[str, ...]  # the state ids whose handlers are named, culprit first
    seqs: tuple[int, ...]  # the offending events of the main run
    details: tuple[str, ...]
    violations: tuple[Violation, ...]
    timeline: tuple[str, ...] = ()


def _main_stream(obs: Observation | None) -> tuple[EventEnvelope, ...]:
    if obs is None or obs.main_run_id is None:
        return ()
    view = obs.runs.get(obs.main_run_id)
    return view.stream if view is not None else ()


def _entered_seq(stream: Sequence[EventEnvelope], state_id: str, attempt: int) -> int | None:
    for env in stream:
        ev = env.event
        if isinstance(ev, StateEntered) and ev.state_id == state_id and ev.attempt == attempt:
            return env.seq
    return None


def _terminal_after(
    stream: Sequence[EventEnvelope], seq: int, state_id: str
) -> EventEnvelope | None:
    for env in stream:
        ev = env.event
        if (
            env.seq > seq
            and isinstance(ev, (StateCompleted, StateFailed))
            and ev.state_id == state_id
        ):
            return env
    return None


def _completions(obs: Observation | None) -> dict[str, tuple[int, str, str | None]]:
    """state -> (seq, snapshot id, base snapshot id) of its completion in the main run."""
    out: dict[str, tuple[int, str, str | None]] = {}
    base: dict[str, str] = {}
    for env in _main_stream(obs):
        ev = env.event
        if isinstance(ev, StateEntered):
            base[ev.state_id] = ev.base_snapshot_id
        elif isinstance(ev, StateCompleted):
            out.setdefault(ev.state_id, (env.seq, ev.context_snapshot_id, base.get(ev.state_id)))
    return out


def _json(obs: Observation, artifact_id: str | None) -> Any:
    if artifact_id is None:
        return None
    data = obs.pristine.get(artifact_id) or obs.artifacts.get(artifact_id)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _diff_keys(got: Any, want: Any) -> list[str]:
    if isinstance(got, Mapping) and isinstance(want, Mapping):
        return sorted(k for k in set(got) | set(want) if got.get(k, ...) != want.get(k, ...))
    return [] if got == want else ["<whole snapshot>"]


def _plan_order(obs: Observation) -> list[str]:
    view = obs.runs.get(obs.main_run_id) if obs.main_run_id is not None else None
    if view is not None and view.plan is not None:
        return [n.id for n in view.plan.graph.states]
    return []


def _explain_effects(
    obs: Observation | None, world: Any, violation: Violation
) -> tuple[str, list[str], list[str], list[int]]:
    """(headline, handlers, details, seqs) for an effect applied more than once."""
    records = service_records(world) if world is not None else []
    applied: dict[str, list[ServiceRecord]] = {}
    for r in records:
        if r.applied and r.effect_key is not None:
            applied.setdefault(r.effect_key, []).append(r)
    stream = _main_stream(obs)
    limit = obs.effect_limit if obs is not None else 1
    twice = [(k, rs) for k, rs in applied.items() if len(rs) > limit]
    if not twice:
        return (violation.message, [], [violation.message], list(violation.seqs))
    key, rs = twice[0]
    culprit = rs[limit]
    first = rs[0]
    handlers: list[str] = []
    for r in (culprit, *rs):
        if r.state_id is not None and r.state_id not in handlers:
            handlers.append(r.state_id)
    headline = (
        f"handler {culprit.caller()} applied {culprit.service} effect {key!r} a second time "
        f"(first applied by {first.caller()}): it is not crash-safe"
    )
    details = [f"effect {key!r} applied {len(rs)} times (limit {limit}):"]
    seqs: list[int] = []
    for n, r in enumerate(rs, start=1):
        seq = _entered_seq(stream, r.state_id, r.attempt) if r.state_id is not None else None
        at = f" (StateEntered seq {seq})" if seq is not None else ""
        details.append(
            f"  #{n}: {r.summary} by {r.caller()}{at}, incarnation {r.incarnation}, "
            f"t={r.vt_ns / 1e9:.3f}s, fact_key={r.fact_key or '-'}"
        )
        if seq is not None:
            seqs.append(seq)
            term = _terminal_after(stream, seq, r.state_id or "")
            if term is not None and n < len(rs):
                seqs.append(term.seq)
    if culprit.fact_key is None and culprit.idempotency_key is None:
        why = (
            f"why: {culprit.state_id}'s handler calls {culprit.service} without a fact key "
            f"(io.call(IoCall(..., fact_key=None))) and without an idempotency key, so "
            f"nothing tells the retry that the first call already took effect; the attempt "
            f"was interrupted after the call (crash or error before StateCompleted), and the "
            f"retry called again."
        )
        fix = (
            "fix: give the call a stable fact key (the engine records the result and a retry "
            "reuses it) AND pass the same value as the service's idempotency key (so a call "
            "whose fact was never recorded is deduplicated by the service)."
        )
    elif culprit.idempotency_key is None:
        why = (
            f"why: the call had fact key {culprit.fact_key!r}, but the fact was not recorded "
            f"before the attempt was interrupted (crash or error between the call and the "
            f"fact_recorded event), so the retry called the service again; without an "
            f"idempotency key the service applied it again."
        )
        fix = "fix: also pass an idempotency key (e.g. the fact key) in the request."
    else:
        why = (
            f"why: the calls used different idempotency keys or the service ignored "
            f"{culprit.idempotency_key!r}."
        )
        fix = "fix: derive the idempotency key from the input only (not from the attempt)."
    details += [why, fix]
    return headline, handlers, details, sorted(set(seqs))


def _explain_service_state(
    world: Any, violation: Violation
) -> tuple[str, list[str], list[str], list[int]]:
    """(headline, handlers, details, seqs) for a service left in another state: the handlers
    that called it in more than one attempt, the repeated calls first."""
    namespace = violation.message.split("'", 2)[1] if "'" in violation.message else ""
    records = [r for r in service_records(world) if r.service == namespace and r.op != "get"]
    attempts: dict[str, list[ServiceRecord]] = {}
    for r in records:
        if r.state_id is not None:
            attempts.setdefault(r.state_id, []).append(r)
    repeated = [
        sid for sid, rs in attempts.items() if len({(r.attempt, r.incarnation) for r in rs}) > 1
    ]
    handlers = repeated + [sid for sid in attempts if sid not in repeated]
    details = [violation.message]
    for sid in handlers[:3]:
        for r in attempts[sid]:
            details.append(f"  {r.summary} by {r.caller()}, incarnation {r.incarnation}")
    culprit = handlers[0] if handlers else None
    who = f"handler {culprit}" if culprit else "a handler"
    details += [
        f"why: {who} changed {namespace} in an attempt a crash interrupted, and its retry "
        f"changed it again; the result never reached the context, so only {namespace}'s "
        f"state shows the double effect.",
        "fix: make the write idempotent (an idempotency key derived from the input, or a "
        "conditional write such as cas on the version read), and read what it depends on "
        "through a fact key so a retry computes the same value.",
    ]
    headline = f"{who} applied its change to {namespace} twice: it is not crash-safe"
    return headline, handlers, details, list(violation.seqs)


def _explain_divergence(
    obs: Observation | None, reference: Observation | None, violation: Violation, against: str
) -> tuple[str, list[str], list[str], list[int]]:
    """(headline, handlers, details, seqs) for a result that depends on the schedule."""
    details = [violation.message]
    if obs is None or reference is None:
        return violation.message, [], details, list(violation.seqs)
    got, want = _completions(obs), _completions(reference)
    order = _plan_order(obs) or sorted(set(got) | set(want))
    differing: list[tuple[str, list[str], bool]] = []
    for sid in order:
        g, w = got.get(sid), want.get(sid)
        if g is None or w is None:
            continue
        if g[1] == w[1]:
            continue
        gv, wv = _json(obs, g[1]), _json(reference, w[1])
        same_input = g[2] is not None and g[2] == w[2]
        differing.append((sid, _diff_keys(gv, wv), same_input))
    seqs = list(violation.seqs)
    if not differing:
        failed = [
            (env.seq, env.event) for env in _main_stream(obs) if isinstance(env.event, StateFailed)
        ]
        if failed:
            seq, ev = failed[-1]
            assert isinstance(ev, StateFailed)
            details.append(
                f"the last failure was {ev.state_id}: {ev.error.code} (retryable="
                f"{ev.error.retryable}) at seq {seq}: {ev.error.message}"
            )
            return (
                f"the outcome depends on the crash schedule: {ev.state_id} failed "
                f"({ev.error.code}) where {against} completed",
                [ev.state_id],
                details,
                sorted({*seqs, seq}),
            )
        return violation.message, [], details, seqs
    culprit = next((d for d in differing if d[2]), differing[0])
    sid, keys, same_input = culprit
    g, w = got[sid], want[sid]
    gv, wv = _json(obs, g[1]), _json(reference, w[1])
    for key in keys[:5]:
        gk = gv.get(key, "<absent>") if isinstance(gv, Mapping) else gv
        wk = wv.get(key, "<absent>") if isinstance(wv, Mapping) else wv
        details.append(f"  {sid} key {key!r}: {_short(gk)} here, {_short(wk)} in {against}")
    if same_input:
        details.append(
            f"{sid}'s handler got the same input snapshot as in {against} but wrote a "
            f"different result: its output depends on something outside its input and "
            f"recorded facts (a retry, a crash, a service's state, the clock)."
        )
    others = [d[0] for d in differing if d[0] != sid]
    if others:
        details.append(f"states downstream whose snapshots differ too: {', '.join(others)}")
    for env in _main_stream(obs):
        if isinstance(env.event, StateEntered) and env.event.state_id == sid:
            seqs.append(env.seq)
    headline = (
        f"the result depends on the crash schedule: state {sid}'s snapshot differs from "
        f"{against} (keys: {', '.join(keys) or '-'})"
    )
    return headline, [sid, *others], details, sorted({*seqs, g[0]})


def diagnose(
    result: Any,
    *,
    world: Any = None,
    reference: Observation | None = None,
    strict_records: Sequence[StrictRecord] = (),
) -> Diagnosis:
    """Explain a failing `SimResult` (run with `keep_observation=True`, ideally `keep_trace`).

    `world`: the simulation's world (`userplan.captured_worlds`), for the services' call
    records; `reference`: the observation of the fault-free run of the same seed
    (`simulate(scenario, seed, schedule=[], interleave=False, keep_observation=True)`).
    """
    obs: Observation | None = result.observation
    violations = tuple(result.violations)
    if strict_records:
        rec = strict_records[0]
        others = sorted(
            {f"{r.handler}: {r.call}()" for r in strict_records[1:]}
            - {f"{rec.handler}: {rec.call}()"}
        )
        details = [rec.message()]
        if others:
            details.append("also: " + "; ".join(others))
        seqs = [
            s
            for s in (_entered_seq(_main_stream(obs), rec.handler, a) for a in range(0, 64))
            if s is not None
        ][:1]
        diag = Diagnosis(
            result.seed,
            "nondeterminism",
            rec.message(),
            (rec.handler,),
            tuple(seqs),
            tuple(details),
            violations,
        )
    elif not violations:
        diag = Diagnosis(result.seed, "none", "no violation", (), (), (), ())
    else:
        lead = next(
            (v for name in _PRIORITY for v in violations if v.invariant == name), violations[0]
        )
        if lead.invariant == "effects_at_most_once":
            headline, handlers, details, seqs = _explain_effects(obs, world, lead)
        elif lead.invariant == "service_state":
            headline, handlers, details, seqs = _explain_service_state(world, lead)
        elif lead.invariant == "crash_transparency":
            headline, handlers, details, seqs = _explain_divergence(
                obs, reference, lead, "the fault-free run"
            )
        else:
            headline, handlers, details, seqs = lead.message, [], [lead.message], list(lead.seqs)
            stream = _main_stream(obs)
            for env in stream:
                if env.seq in lead.seqs:
                    sid = getattr(env.event, "state_id", None)
                    if sid is not None and sid not in handlers:
                        handlers.append(sid)
            if lead.invariant == "model_agreement" and reference is not None:
                _, more_handlers, more, more_seqs = _explain_divergence(
                    obs, reference, lead, "the fault-free run"
                )
                handlers += [h for h in more_handlers if h not in handlers]
                details += more[1:]
                seqs = sorted({*seqs, *more_seqs})
        diag = Diagnosis(
            result.seed,
            lead.invariant,
            headline,
            tuple(handlers),
            tuple(seqs),
            tuple(details),
            violations,
        )
    timeline = timeline_excerpt(result, diag.seqs, diag.handlers)
    return attrs.evolve(diag, timeline=tuple(timeline))


def timeline_excerpt(
    result: Any, seqs: Sequence[int], states: Sequence[str] = (), *, limit: int = 30
) -> list[str]:
    """The part of the trace around the offending events (store calls left out)."""
    entries = [e for e in getattr(result, "trace", ()) if e[2] != "store"]
    if not entries:
        return []
    obs = result.observation
    prefix = str(obs.main_run_id)[:8] if obs is not None and obs.main_run_id else None
    marks = {f"#{s} " for s in seqs}

    def hit(entry: tuple[int, int, str, str]) -> bool:
        kind, detail = entry[2], entry[3]
        if kind == "event":
            head = detail.split(" ", 1)[0]
            return (prefix is None or head.startswith(prefix)) and any(
                (head + " ").endswith(m) for m in marks
            )
        if kind in ("service", "buggify"):
            return any(f" {s}#" in detail or f" {s} " in detail for s in states)
        return False

    hits = [i for i, e in enumerate(entries) if hit(e)]
    faults = [i for i, e in enumerate(entries) if e[2] == "fault"]
    if not hits:
        hits = faults[:1]
    if not hits:
        return [format_entry(e) for e in entries[-limit:]]
    lo = max(0, hits[0] - 2)
    # Faults just before the first hit belong to the story.
    earlier = [i for i in faults if i < lo]
    hi = min(len(entries), hits[-1] + 3)
    picked = list(range(lo, hi))
    if earlier and earlier[-1] >= lo - 6:
        picked = list(range(earlier[-1], hi))
    if len(picked) > limit:
        head = picked[: limit // 2]
        tail = picked[-(limit - limit // 2) :]
        return [
            *(format_entry(entries[i]) for i in head),
            f"{'':14}... {len(picked) - limit} entries left out ...",
            *(format_entry(entries[i]) for i in tail),
        ]
    return [format_entry(entries[i]) for i in picked]


def format_report(
    diagnosis: Diagnosis,
    *,
    reproduce: str | None = None,
    scenario: str | None = None,
    schedule_lines: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> str:
    """The failure text the pytest plugin prints."""
    d = diagnosis
    title = "nondeterminism" if d.invariant == "nondeterminism" else f"invariant {d.invariant}"
    lines = [f"mfm-sim: seed {d.seed} broke {title}"]
    if scenario:
        lines.append(f"  scenario:  {scenario}")
    lines.append(f"  handler:   {', '.join(d.handlers) if d.handlers else '(not attributable)'}")
    lines.append(f"  problem:   {d.headline}")
    lines.append(f"  events:    seqs {', '.join(map(str, d.seqs)) if d.seqs else '-'}")
    for line in d.details:
        lines.append(f"    {line}")
    if d.violations:
        lines.append("  violations:")
        for v in d.violations[:6]:
            lines.append(f"    {v.describe()}")
        if len(d.violations) > 6:
            lines.append(f"    ... and {len(d.violations) - 6} more")
    if schedule_lines:
        lines.append("  schedule:")
        lines.extend(f"    {s}" for s in schedule_lines)
    if d.timeline:
        lines.append("  timeline (excerpt; virtual time, incarnation, entry):")
        lines.extend(f"    {t}" for t in d.timeline)
    lines.extend(extra)
    if reproduce:
        lines.append(f"  reproduce: {reproduce}")
    return "\n".join(lines)


def final_snapshot(obs: Observation) -> Any:
    """The main run's final context, or None."""
    for env in reversed(_main_stream(obs)):
        if isinstance(env.event, RunCompleted):
            return _json(obs, env.event.final_snapshot_id)
    return None
