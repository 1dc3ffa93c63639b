"""The registry: every invariant, in the order `check` runs them and reports their violations.

`check(obs)` is pure and deterministic: it reads an `Observation` (see `run/observation.py`),
never the world, and returns violations in a fixed order (registry order, then run: the
main run first and the others by id, then stream order). The engine contract comes first,
then the thirteen invariants of SPEC §6 by number, then the checks that mutation testing once ran
outside the product (`honest_errors`, `log_contract`, `clean_schedule`; no SPEC §6 number), and
last `service_state`, which compares the simulated services' final states with the fault-free
run's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mfm_sim.invariants import (
    artifact_kinds,
    attempt_envelopes,
    attempt_reads,
    child_runs_once,
    clean_schedule,
    crash_transparency,
    derived_fact_keys,
    detected_not_silent,
    durability,
    effects_at_most_once,
    engine_contract,
    entropy_source,
    error_shape,
    event_profile,
    exactly_once,
    failpoint_stop,
    hash_integrity,
    honest_errors,
    idempotent_resume,
    liveness,
    log_contract,
    log_well_formed,
    model_agreement,
    monotone_attempts,
    order,
    replay_no_transport,
    retry_timing,
    run_result,
    secrets_never_stored,
    service_state,
    staged_commit,
    state_error_filled,
)
from mfm_sim.invariants.crash_transparency import needs_reference
from mfm_sim.invariants.durability import disk_lost_data
from mfm_sim.invariants.invariant import Check, Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["CHECKS", "INVARIANTS", "REGISTRY", "check", "invariant_names", "needs_reference"]

REGISTRY: tuple[Invariant, ...] = (
    engine_contract.INVARIANT,
    log_well_formed.INVARIANT,
    exactly_once.INVARIANT,
    monotone_attempts.INVARIANT,
    attempt_envelopes.INVARIANT,
    order.INVARIANT,
    hash_integrity.INVARIANT,
    crash_transparency.INVARIANT,
    idempotent_resume.INVARIANT,
    effects_at_most_once.INVARIANT,
    liveness.INVARIANT,
    detected_not_silent.INVARIANT,
    retry_timing.INVARIANT,
    model_agreement.INVARIANT,
    durability.INVARIANT,  # SPEC §6.15, real stores on the simulated disk (issue 19)
    # The promise checks (SPEC §6.14, docs/promises.md).
    secrets_never_stored.INVARIANT,
    child_runs_once.INVARIANT,
    derived_fact_keys.INVARIANT,
    attempt_reads.INVARIANT,
    staged_commit.INVARIANT,
    event_profile.INVARIANT,
    replay_no_transport.INVARIANT,
    artifact_kinds.INVARIANT,
    honest_errors.INVARIANT,
    log_contract.INVARIANT,
    clean_schedule.INVARIANT,
    error_shape.INVARIANT,
    failpoint_stop.INVARIANT,
    run_result.INVARIANT,
    state_error_filled.INVARIANT,
    entropy_source.INVARIANT,
    # Services as a public API (issue 16): their final states against the fault-free run's.
    service_state.INVARIANT,
)

# (name, number, summary) of the numbered invariants of SPEC §6, as `mfm-sim list` shows them.
INVARIANTS: tuple[tuple[str, int, str], ...] = tuple(
    (inv.name, inv.number, inv.summary) for inv in REGISTRY if inv.number is not None
)

# Looked up by name when `check` runs, so a check replaced here (a mutant, a test) is the one
# that runs.
CHECKS: Mapping[str, Check] = {inv.name: inv.check for inv in REGISTRY}

_NAMES = tuple(inv.name for inv in REGISTRY)


def invariant_names() -> tuple[str, ...]:
    """Every registered invariant's name, in registry order."""
    return _NAMES


def check(obs: Observation, only: Sequence[str] | None = None) -> list[Violation]:
    """Every invariant (or those named in `only`) on one observation, in registry order.

    None when a lying disk cost data the engine relied on: that schedule's outcome is the
    disk's (`durability.disk_lost_data`), never the engine's."""
    out: list[Violation] = []
    if disk_lost_data(obs):
        return out
    checks = CHECKS
    for name in _NAMES if only is None else [n for n in _NAMES if n in only]:
        out += checks[name](obs)
    return out
