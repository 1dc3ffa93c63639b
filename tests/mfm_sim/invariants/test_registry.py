"""The registry: its table, and `check` over every invariant (clean logs pass, broken ones fail)."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mfm_engine.config import Exponential, Fixed
from mfm_engine.events import (
    DomainEvent,
    RunCompleted,
    RunPhase,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateFailed,
)

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.attempt_envelopes import check_attempt_envelopes
from mfm_sim.invariants.clean_schedule import check_clean_schedule
from mfm_sim.invariants.crash_transparency import check_crash_transparency
from mfm_sim.invariants.detected_not_silent import check_detected_not_silent
from mfm_sim.invariants.durability import check_durability
from mfm_sim.invariants.effects_at_most_once import check_effects_at_most_once
from mfm_sim.invariants.engine_contract import check_engine_contract
from mfm_sim.invariants.entropy_source import check_entropy_source
from mfm_sim.invariants.error_shape import check_error_shape
from mfm_sim.invariants.exactly_once import check_exactly_once
from mfm_sim.invariants.failpoint_stop import check_failpoint_stop
from mfm_sim.invariants.hash_integrity import check_hash_integrity
from mfm_sim.invariants.honest_errors import check_honest_errors
from mfm_sim.invariants.idempotent_resume import check_idempotent_resume
from mfm_sim.invariants.liveness import check_liveness
from mfm_sim.invariants.log_contract import check_log_contract
from mfm_sim.invariants.log_well_formed import check_log_well_formed
from mfm_sim.invariants.model_agreement import check_model_agreement
from mfm_sim.invariants.monotone_attempts import check_monotone_attempts
from mfm_sim.invariants.order import check_order
from mfm_sim.invariants.registry import CHECKS, INVARIANTS, REGISTRY, check, invariant_names
from mfm_sim.invariants.retry_timing import check_retry_timing
from mfm_sim.invariants.run_result import check_run_result
from mfm_sim.invariants.service_state import check_service_state
from mfm_sim.invariants.state_error_filled import check_state_error_filled
from mfm_sim.run.observation import Outcome
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import (
    CHILD_ID,
    S1,
    S2,
    SEED,
    STATES,
    Entry,
    LogBuilder,
    clean_builder,
    clean_observation,
    config,
    linear_plan,
)

NAMES = [name for name, _, _ in INVARIANTS]
# The checks mutation testing once ran outside the product, after SPEC §6, without a number.
LATER = [
    "honest_errors",
    "log_contract",
    "clean_schedule",
    "error_shape",
    "failpoint_stop",
    "run_result",
    "state_error_filled",
    "entropy_source",
    "service_state",
]

# The promise checks of SPEC §6.14, after the numbered ones (docs/promises.md).
PROMISES = [
    "secrets_never_stored",
    "child_runs_once",
    "derived_fact_keys",
    "attempt_reads",
    "staged_commit",
    "event_profile",
    "replay_no_transport",
    "artifact_kinds",
]


def test_invariant_table_names_and_numbers():
    assert NAMES == [
        "log_well_formed",
        "exactly_once",
        "monotone_attempts",
        "attempt_envelopes",
        "order",
        "hash_integrity",
        "crash_transparency",
        "idempotent_resume",
        "effects_at_most_once",
        "liveness",
        "detected_not_silent",
        "retry_timing",
        "model_agreement",
        "durability",  # 15; 14 is the promise table, checked by the PROMISES below
    ]
    assert [n for _, n, _ in INVARIANTS] == [*range(1, 14), 15]
    assert all(desc and "\n" not in desc for _, _, desc in INVARIANTS)
    # The engine contract is registered too, first, without a SPEC §6 number; the promise
    # checks of §6.14 (docs/promises.md) next, and the contracts mutation testing asked for last.
    assert list(CHECKS) == ["engine_contract", *NAMES, *PROMISES, *LATER]
    assert list(CHECKS.values()) == [
        check_engine_contract,
        check_log_well_formed,
        check_exactly_once,
        check_monotone_attempts,
        check_attempt_envelopes,
        check_order,
        check_hash_integrity,
        check_crash_transparency,
        check_idempotent_resume,
        check_effects_at_most_once,
        check_liveness,
        check_detected_not_silent,
        check_retry_timing,
        check_model_agreement,
        check_durability,
        *(CHECKS[name] for name in PROMISES),
        check_honest_errors,
        check_log_contract,
        check_clean_schedule,
        check_error_shape,
        check_failpoint_stop,
        check_run_result,
        check_state_error_filled,
        check_entropy_source,
        check_service_state,
    ]


def test_every_registered_invariant_is_named_once_in_registry_order():
    names = invariant_names()
    assert names == tuple(inv.name for inv in REGISTRY)
    assert len(set(names)) == len(names)
    assert set(CHECKS) == set(names)
    assert all(CHECKS[inv.name] is inv.check for inv in REGISTRY)
    # The engine contract first, then SPEC §6 by number: the order `check` reports in.
    assert names[0] == "engine_contract"
    assert [n for n in names if n != "engine_contract"] == [*NAMES, *PROMISES, *LATER]
    assert all(inv.summary and "\n" not in inv.summary for inv in REGISTRY)


def _broken_in_three_ways():
    """A clean log with a duplicated StateCompleted (exactly_once), an effect applied twice
    (effects_at_most_once) and a deadlocked incarnation (liveness)."""
    b = clean_builder()
    first = next(i for i, e in enumerate(b.entries) if isinstance(e.event, StateCompleted))
    b.entries.insert(first + 1, b.entries[first])
    obs = b.observation(effects={"charge:1": 2})
    deadlocked = attrs.evolve(obs.incarnations[-1], outcome=Outcome.DEADLOCK)
    return attrs.evolve(obs, incarnations=(*obs.incarnations[:-1], deadlocked))


def test_check_reports_in_registry_order():
    obs = _broken_in_three_ways()
    everything = check(obs)
    names = [v.invariant for v in everything]
    assert {"exactly_once", "effects_at_most_once", "liveness"} <= set(names)
    rank = [invariant_names().index(n) for n in names]
    assert rank == sorted(rank)
    assert everything == [v for name in invariant_names() for v in CHECKS[name](obs)]


def test_check_only_runs_the_named_invariants_in_registry_order():
    obs = _broken_in_three_ways()
    everything = check(obs)
    only = check(obs, only=["liveness", "exactly_once"])  # asked out of order
    assert only == [v for v in everything if v.invariant in ("exactly_once", "liveness")]
    assert only[0].invariant == "exactly_once"
    assert {v.invariant for v in only} == {"exactly_once", "liveness"}
    assert check(obs, only=["order"]) == []
    assert check(obs, only=[]) == []
    assert check(obs, only=invariant_names()) == everything


# ------------------------------------------------------------------- clean logs


def test_clean_log_has_no_violations():
    obs = clean_observation()
    assert obs.final_phase is RunPhase.COMPLETED
    assert check(obs) == []


def test_clean_failed_run_has_no_violations():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.enter(S2)
    b.fail(code="bad_input", retryable=False)
    b.finish(RunStatus.FAILED)
    ref = b.reference()
    assert check(b.observation(reference=ref, model=ref)) == []


def test_clean_run_exhausting_attempts_has_no_violations():
    b = LogBuilder(run_config=config(max_attempts=2))
    b.start()
    b.enter(S1)
    b.fail()
    b.enter(S1)
    b.crash()
    b.recover_orphan()
    b.finish(RunStatus.FAILED)  # attempt 1 + 1 == max_attempts: no retry left
    ref = b.reference()
    assert check(b.observation(reference=ref, model=ref)) == []


def test_unfinished_run_may_leave_its_last_attempt_open():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.enter(S2)
    b.crash()
    obs = b.observation(recoverable=False)
    assert obs.final_phase is None
    assert check(obs) == []


def test_child_runs_are_checked_like_the_main_run():
    child = clean_builder(run_id=CHILD_ID, plan=linear_plan(STATES, op="kid"))
    obs = clean_builder().observation(children=[child])
    assert check(obs) == []
    # Break the child: its first attempt of S1 claims to be attempt 1.
    child.entries[1] = attrs.evolve(
        child.entries[1], event=attrs.evolve(child.entries[1].event, attempt=1)
    )
    obs = clean_builder().observation(children=[child])
    found = fired(obs, "monotone_attempts")
    assert found and {v.run_id for v in found} == {str(CHILD_ID)}


def test_check_is_deterministic_and_ignores_mapping_order():
    child = clean_builder(run_id=CHILD_ID)
    child.entries[1] = attrs.evolve(
        child.entries[1], event=attrs.evolve(child.entries[1].event, attempt=2)
    )
    main = clean_builder()
    del main.entries[4]
    obs = main.observation(children=[child])
    reordered = attrs.evolve(obs, runs=dict(reversed(list(obs.runs.items()))))
    first = check(obs)
    assert first
    assert check(obs) == first
    assert check(reordered) == first
    # Main run before child runs, invariants in table order.
    order = [invariant_names().index(v.invariant) for v in first]
    assert order == sorted(order)


# ------------------------------------------------------------------- properties

BACKOFFS = st.one_of(
    st.sampled_from([0, 10, 100]).map(lambda ms: Fixed(timedelta(milliseconds=ms))),
    st.sampled_from([1, 10]).map(
        lambda ms: Exponential(timedelta(milliseconds=ms), timedelta(milliseconds=4 * ms))
    ),
)


@st.composite
def linear_runs(draw, finished: bool | None = None) -> LogBuilder:
    """A well-formed log of a 1-3 state linear plan, as the engine would write it."""
    n = draw(st.integers(1, 3))
    max_attempts = draw(st.integers(1, 4))
    b = LogBuilder(plan=linear_plan(STATES[:n]), run_config=config(max_attempts, draw(BACKOFFS)))
    b.start()
    outcomes = ["ok", "ok", "fail", "orphan", "fatal"] + ([] if finished else ["stop"])
    status = RunStatus.COMPLETED
    for state in STATES[:n]:
        attempt = 0
        while True:
            kind = draw(st.sampled_from(outcomes))
            b.enter(state)
            if draw(st.booleans()):
                b.fact(f"k:{state}:{attempt}", {"v": attempt})
            if kind == "stop":
                b.crash()
                return b
            if kind == "ok":
                b.complete()
                if draw(st.booleans()):
                    b.crash(FaultKind.CRASH_AFTER_EFFECT)
                break
            if kind == "fatal":
                b.fail(code="bad_input", retryable=False)
                status = RunStatus.FAILED
                break
            if kind == "fail":
                b.fail(code=draw(st.sampled_from(["flaky", "sim_transport_error"])))
            else:
                b.crash()
                b.recover_orphan()
            attempt += 1
            if attempt >= max_attempts:
                status = RunStatus.FAILED
                break
        if status is RunStatus.FAILED:
            break
    if finished is False:
        b.crash()
        return b
    b.finish(status)
    b.idempotent_resume()
    return b


def _observe(b: LogBuilder):
    ref = b.reference()
    return b.observation(reference=ref, model=ref, recoverable=ref is not None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linear_runs())
def test_property_well_formed_logs_pass(b):
    violations = check(_observe(b))
    assert violations == [], [v.describe() for v in violations]


def _kernel_key(entry: Entry) -> tuple[str, str | None]:
    return type(entry.event).__name__, getattr(entry.event, "state_id", None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linear_runs(finished=True), st.sampled_from(["delete", "duplicate", "swap"]), st.data())
def test_property_mutated_logs_are_caught(b, mutation, data):
    kernel = [i for i, e in enumerate(b.entries) if not isinstance(e.event, DomainEvent)]
    i = data.draw(st.sampled_from(kernel), label="event")
    if mutation == "delete":
        del b.entries[i]
    elif mutation == "duplicate":
        b.entries.insert(i + 1, attrs.evolve(b.entries[i]))
    else:
        others = [j for j in kernel if _kernel_key(b.entries[j]) != _kernel_key(b.entries[i])]
        if not others:
            return
        j = data.draw(st.sampled_from(others), label="other")
        b.entries[i], b.entries[j] = b.entries[j], b.entries[i]
    violations = check(_observe(b))
    assert violations, f"{mutation} of entry {i} went unnoticed"


def test_mutation_kinds_each_caught_on_the_clean_log():
    """Deterministic companions of the property: one per mutation on the clean log."""
    for index, kind in [(0, RunStarted), (2, StateFailed), (12, RunCompleted)]:
        b = clean_builder()
        assert isinstance(b.entries[index].event, kind)
        del b.entries[index]
        assert check(b.observation()), kind.__name__


@pytest.mark.parametrize("name", invariant_names())
def test_every_invariant_passes_the_clean_log(name):
    assert CHECKS[name](clean_observation()) == []


def test_checks_take_the_seed_from_the_observation():
    obs = clean_observation(effects={"k": 3}, seed=SEED + 1)
    assert {v.seed for v in check(obs)} == {SEED + 1}
