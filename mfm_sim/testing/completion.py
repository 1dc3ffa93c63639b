"""No silent pass: a check first asks whether the plan's fault-free run ends as expected.

A plan whose handlers fail on every run (a namespace no service provides, `ctx.require` of a
missing key, a `handle` that is not `async`, a float in the context) ends FAILED with or
without faults, so every invariant that compares a schedule with the fault-free run holds,
and the check would pass. `check()` therefore runs the first seed without faults and fails
unless it reaches the expected status (COMPLETED, or the user's `expect_status=`), with the
handler's own error and the line in the user's code that caused it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import attrs
from mfm_engine.events import RunPhase, StateFailed

from mfm_sim.run.result import SimResult
from mfm_sim.testing.handler_errors import HandlerError

__all__ = ["Incomplete", "explain_incomplete", "parse_status"]

_NAMESPACE = re.compile(r"no transport for namespace '([^']*)'")


def parse_status(value: RunPhase | str) -> RunPhase:
    """`expect_status=`: a `RunPhase` or its name (`"failed"`, `"COMPLETED"`)."""
    if isinstance(value, RunPhase):
        return value
    try:
        return RunPhase(str(value).lower())
    except ValueError:
        known = ", ".join(p.value for p in RunPhase)
        raise ValueError(f"expect_status {value!r} is not a run status ({known})") from None


@attrs.frozen
class Incomplete:
    """The fault-free run ended with another status than expected, and why."""

    seed: int
    phase: RunPhase | None
    expected: RunPhase
    handlers: tuple[str, ...]
    report: str


def _last_failure(result: SimResult) -> tuple[str, str, str] | None:
    """(state id, code, message) of the last `StateFailed` of the main run."""
    obs = result.observation
    if obs is None or obs.main_run_id is None or obs.main_run_id not in obs.runs:
        return None
    found = None
    for env in obs.runs[obs.main_run_id].stream:
        if isinstance(env.event, StateFailed):
            found = (env.event.state_id, env.event.error.code, env.event.error.message)
    return found


def _namespace_help(message: str, services: Iterable[str], builtin: Iterable[str]) -> list[str]:
    match = _NAMESPACE.search(message)
    if match is None:
        return []
    ns = match.group(1)
    given = ", ".join(sorted(services)) or "none"
    return [
        f"why:       the handler calls namespace {ns!r}, which no service provides "
        f"(services given: {given})",
        f"fix:       provide it: check(..., services={{{ns!r}: YourService}}) with your "
        f"service class, or a built-in name ({', '.join(sorted(builtin))}); see "
        f"docs/build-your-plan.md, 'Services'",
    ]


def _error_lines(error: HandlerError) -> list[str]:
    lines = [f"error:     {error.message}"]
    if error.kind == "not_json":
        lines.append(
            "why:       contexts are stored as canonical JSON: no floats, sets or objects; "
            "use ints (cents, milliseconds) or strings"
        )
    elif error.kind == "not_async":
        lines.append("fix:       declare it `async def handle(self, ctx, io, events)`")
    elif error.kind == "exception":
        lines.append(
            "why:       the handler raised an exception that is not a StateError: a bug in "
            "the handler (raise StateError to fail a state on purpose)"
        )
    if error.frames:
        lines.append("traceback (your code, most recent call last):")
        lines.extend(f"  {frame}" for frame in error.frames)
    return lines


def explain_incomplete(
    result: SimResult,
    expected: RunPhase,
    errors: Sequence[HandlerError],
    *,
    scenario: str,
    services: Iterable[str],
    builtin: Iterable[str],
    reproduce: str,
) -> Incomplete | None:
    """None when the fault-free `result` reached `expected`; else the report that says why not."""
    phase = result.final_phase
    if phase is expected:
        return None
    got = phase.value.upper() if phase is not None else "no final status"
    lines = [
        f"mfm-sim: the fault-free run of seed {result.seed} ended {got}, "
        f"not {expected.value.upper()}: every schedule would be judged against a run that "
        f"never finished",
        f"  scenario:  {scenario}",
    ]
    # The first mistake is the cause; later ones are its retries and the states after it.
    first = errors[0] if errors else None
    failed = _last_failure(result)
    handler = first.state_id if first else (failed[0] if failed else None)
    lines.append(f"  handler:   {handler or '(none failed: see the status above)'}")
    body: list[str] = []
    if first is not None:
        body += _error_lines(first)
    elif failed is not None:
        body.append(f"error:     {failed[1]}: {failed[2]}")
    message = first.message if first else (failed[2] if failed else "")
    body += _namespace_help(message, services, builtin)
    lines.extend(f"  {line}" for line in body)
    lines.append(
        f"  expected:  if {got} is what this plan should do, say so: "
        f'check(..., expect_status="{phase.value if phase else "failed"}")'
    )
    lines.append(f"  reproduce: {reproduce}")
    handlers = (handler,) if handler else ()
    return Incomplete(result.seed, phase, expected, handlers, "\n".join(lines))
