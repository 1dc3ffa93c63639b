"""The invariant checker: a clean log passes; each broken log trips the invariant it breaks."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mfm_engine.config import Exponential, Fixed
from mfm_engine.events import (
    DomainEvent,
    EventEnvelope,
    RunCompleted,
    RunPhase,
    RunStarted,
    RunStatus,
    StateCompleted,
    StateFailed,
)

from mfm_sim.faults.kinds import FaultKind
from mfm_sim.invariants.checks import (
    CHECKS,
    INVARIANTS,
    Violation,
    check,
    check_attempt_envelopes,
    check_crash_transparency,
    check_detected_not_silent,
    check_effects_at_most_once,
    check_exactly_once,
    check_hash_integrity,
    check_idempotent_resume,
    check_liveness,
    check_log_well_formed,
    check_model_agreement,
    check_monotone_attempts,
    check_order,
    check_retry_timing,
)
from mfm_sim.run.observation import BadRead, Outcome, Reference
from tests.mfm_sim.logs import (
    CHILD_ID,
    RUN_ID,
    S1,
    S2,
    S3,
    SEED,
    STATES,
    Entry,
    LogBuilder,
    clean_builder,
    clean_observation,
    config,
    linear_plan,
    renumber,
    with_stream,
)

NAMES = [name for name, _, _ in INVARIANTS]


def fired(obs, name: str) -> list[Violation]:
    """The violations of one invariant; they must also be in what `check` reports."""
    found = CHECKS[name](obs)
    everything = check(obs)
    for v in found:
        assert v in everything
        assert v.invariant == name
        assert v.seed == obs.seed
    return found


def seqs_of(violations: list[Violation]) -> list[tuple[int, ...]]:
    return [v.seqs for v in violations]


def stream(obs, run_id=RUN_ID) -> list[EventEnvelope]:
    return list(obs.runs[run_id].stream)


def seq_where(obs, pred, run_id=RUN_ID) -> list[int]:
    return [env.seq for env in obs.runs[run_id].stream if pred(env.event)]


# ------------------------------------------------------------------- the API


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
    ]
    assert [n for _, n, _ in INVARIANTS] == list(range(1, 14))
    assert all(desc and "\n" not in desc for _, _, desc in INVARIANTS)
    assert list(CHECKS) == NAMES
    assert list(CHECKS.values()) == [
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
    ]


def test_violation_describe_is_one_line():
    v = Violation("order", str(RUN_ID), (3, 4), "S2 entered before S1 completed", 99)
    line = v.describe()
    assert "\n" not in line
    assert line.startswith("[order] seed=99 run=00000000 seqs=3,4")
    assert "S2 entered" in line
    assert (
        Violation("liveness", None, (), "stuck", 1).describe()
        == "[liveness] seed=1 run=- seqs=-: stuck"
    )


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
    order = [NAMES.index(v.invariant) for v in first]
    assert order == sorted(order)


# ------------------------------------------------------------------- 1 log_well_formed


def test_log_well_formed_gap_in_seqs():
    obs = clean_observation()
    envs = [e for e in stream(obs) if e.seq != 5]
    found = fired(with_stream(obs, envs), "log_well_formed")
    assert seqs_of(found) == [(4, 6)]
    assert "missing" in found[0].message


def test_log_well_formed_seqs_not_from_one_or_not_increasing():
    obs = clean_observation()
    shifted = [attrs.evolve(e, seq=e.seq + 1) for e in stream(obs)]
    assert seqs_of(fired(with_stream(obs, shifted), "log_well_formed")) == [(2,)]
    envs = stream(obs)
    envs.insert(3, envs[2])  # seq 3 twice
    assert seqs_of(fired(with_stream(obs, envs), "log_well_formed")) == [(3,)]


def test_log_well_formed_run_started_not_first():
    obs = clean_observation()
    envs = stream(obs)
    envs[0], envs[1] = attrs.evolve(envs[1], seq=1), attrs.evolve(envs[0], seq=2)
    found = fired(with_stream(obs, envs), "log_well_formed")
    assert seqs_of(found) == [(1, 2)]
    assert "not RunStarted" in found[0].message


def test_log_well_formed_two_run_started():
    obs = clean_observation()
    envs = stream(obs)
    envs.insert(1, envs[0])
    found = fired(with_stream(obs, renumber(envs)), "log_well_formed")
    assert seqs_of(found) == [(1, 2)]


def test_log_well_formed_foreign_run_id():
    obs = clean_observation()
    envs = stream(obs)
    envs[2] = attrs.evolve(envs[2], run_id=CHILD_ID)
    found = fired(with_stream(obs, envs), "log_well_formed")
    assert seqs_of(found) == [(3,)]
    assert found[0].run_id == str(RUN_ID)


# ------------------------------------------------------------------- 2 exactly_once


def test_exactly_once_state_completed_twice():
    b = clean_builder()
    first = next(i for i, e in enumerate(b.entries) if isinstance(e.event, StateCompleted))
    b.entries.insert(first + 1, b.entries[first])
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(first + 1, first + 2)]


def test_exactly_once_completed_run_missing_a_state():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.run_state(S2)
    rc = b.finish()
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(rc,)]
    assert S3 in found[0].message


def test_exactly_once_two_run_completed_and_not_last():
    b = clean_builder()
    b.append(RunCompleted(RunStatus.COMPLETED, b.checkpoint))
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(13, 14), (13, 14)]
    b = clean_builder()
    b.append(DomainEvent("artifact_written", {}))
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(13, 14)]
    assert "not the last event" in found[0].message


def test_exactly_once_result_not_in_log():
    b = clean_builder()
    b.entries.pop(12)  # RunCompleted lost, yet the engine returned COMPLETED
    found = fired(b.observation(), "exactly_once")
    assert seqs_of(found) == [(12,)]
    assert "no RunCompleted" in found[0].message


# ------------------------------------------------------------------- 3 monotone_attempts


def test_monotone_attempts_must_start_at_zero_and_rise_by_one():
    b = LogBuilder()
    b.start()
    b.enter(S1, attempt=1)
    b.complete()
    assert seqs_of(fired(b.observation(), "monotone_attempts")) == [(2,)]
    b = clean_builder()
    b.entries[3] = attrs.evolve(b.entries[3], event=attrs.evolve(b.entries[3].event, attempt=2))
    found = fired(b.observation(), "monotone_attempts")
    assert seqs_of(found) == [(2, 4)]
    assert "expected attempt 1" in found[0].message


def test_monotone_attempts_no_retry_after_non_retryable_failure():
    b = LogBuilder()
    b.start()
    b.enter(S1)
    fail = b.fail(retryable=False)
    retry = b.enter(S1)
    b.complete()
    found = fired(b.observation(), "monotone_attempts")
    assert seqs_of(found) == [(fail, retry)]
    assert "non-retryable" in found[0].message


def test_monotone_attempts_bounded_by_max_attempts():
    b = LogBuilder(run_config=config(max_attempts=2))
    b.start()
    b.enter(S1)
    b.fail()
    b.enter(S1)
    b.fail()
    third = b.enter(S1)
    b.complete()
    found = fired(b.observation(), "monotone_attempts")
    assert seqs_of(found) == [(third,)]
    assert "max_attempts 2" in found[0].message


def test_monotone_attempts_nothing_after_completion():
    b = LogBuilder()
    b.start()
    b.enter(S1)
    done = b.complete()
    again = b.enter(S1)
    b.complete()
    assert (done, again) in seqs_of(fired(b.observation(), "monotone_attempts"))


def test_monotone_attempts_run_failed_while_a_retry_was_allowed():
    b = LogBuilder()
    b.start()
    b.enter(S1)
    fail = b.fail()
    rc = b.finish(RunStatus.FAILED)
    found = fired(b.observation(), "monotone_attempts")
    assert seqs_of(found) == [(fail, rc)]


# ------------------------------------------------------------------- 4 attempt_envelopes


def test_attempt_envelopes_orphan_not_closed():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    orphan = b.enter(S2)
    b.crash()
    retry = b.enter(S2)  # the fixed engine closes the orphan first
    b.complete()
    b.run_state(S3)
    b.finish()
    found = fired(b.observation(), "attempt_envelopes")
    assert seqs_of(found) == [(orphan, retry)]


def test_attempt_envelopes_orphan_retried_from_another_base():
    b = LogBuilder()
    b.start()
    initial = b.checkpoint
    b.run_state(S1)
    b.enter(S2)
    b.crash()
    closed = b.recover_orphan()
    retry = b.enter(S2, base=initial)
    b.complete()
    found = fired(b.observation(), "attempt_envelopes")
    assert seqs_of(found) == [(closed, retry)]
    assert "orphan's base" in found[0].message


def test_attempt_envelopes_terminal_without_or_for_another_attempt():
    b = LogBuilder()
    b.start()
    stray = b.append(StateCompleted(S1, b.checkpoint))
    assert seqs_of(fired(b.observation(), "attempt_envelopes")) == [(stray,)]
    b = LogBuilder()
    b.start()
    entered = b.enter(S1)
    wrong = b.fail(S2)
    assert seqs_of(fired(b.observation(), "attempt_envelopes")) == [(entered, wrong)]


def test_attempt_envelopes_finished_run_with_open_attempt():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.run_state(S2)
    entered = b.enter(S3)
    rc = b.finish()
    assert seqs_of(fired(b.observation(), "attempt_envelopes")) == [(entered, rc)]


# ------------------------------------------------------------------- 5 order


def test_order_predecessors_must_complete_first():
    b = LogBuilder()
    b.start()
    early = b.enter(S2)
    b.complete()
    found = fired(b.observation(), "order")
    assert seqs_of(found) == [(early,)]
    assert S1 in found[0].message


def test_order_state_not_in_plan_and_unknown_plan_skips():
    b = LogBuilder(plan=linear_plan((S1, S2)))
    b.start()
    b.run_state(S1)
    b.run_state(S2)
    stranger = b.enter(S3)
    obs = b.observation()
    assert seqs_of(fired(obs, "order")) == [(stranger,)]
    unknown = with_stream(obs, stream(obs))
    runs = {RUN_ID: attrs.evolve(unknown.runs[RUN_ID], plan=None)}
    assert check_order(attrs.evolve(obs, runs=runs)) == []


# ------------------------------------------------------------------- 6 hash_integrity


def _first_snapshot(obs) -> tuple[str, int]:
    env = next(e for e in stream(obs) if isinstance(e.event, StateCompleted))
    return env.event.context_snapshot_id, env.seq


def test_hash_integrity_missing_artifact():
    obs = clean_observation()
    snap, seq = _first_snapshot(obs)
    pristine = {k: v for k, v in obs.pristine.items() if k != snap}
    found = fired(attrs.evolve(obs, pristine=pristine, artifacts=pristine), "hash_integrity")
    # Cited by S1's StateCompleted, S2's first base and S2's retry base (after the orphan).
    assert seqs_of(found) == [(seq,), (seq + 1,), (9,)]
    assert "does not exist" in found[0].message


def test_hash_integrity_lost_artifacts_are_excused_and_corruption_judged_on_pristine():
    obs = clean_observation()
    snap, _ = _first_snapshot(obs)
    pristine = {k: v for k, v in obs.pristine.items() if k != snap}
    lost = attrs.evolve(
        obs, pristine=pristine, artifacts=pristine, lost_artifacts=frozenset({snap})
    )
    assert check_hash_integrity(lost) == []
    visible = dict(obs.artifacts)
    visible[snap] = b"\x01" + visible[snap][1:]
    corrupted = attrs.evolve(obs, artifacts=visible, corrupted_artifacts=frozenset({snap}))
    assert check_hash_integrity(corrupted) == []


def test_hash_integrity_bytes_that_do_not_hash_to_their_id():
    obs = clean_observation()
    snap, seq = _first_snapshot(obs)
    pristine = dict(obs.pristine)
    pristine[snap] = b'{"path":["tampered"]}'
    found = fired(attrs.evolve(obs, pristine=pristine), "hash_integrity")
    assert seqs_of(found) == [(seq,), (seq + 1,), (9,)]
    assert "hashing to" in found[0].message


def test_hash_integrity_manifest_must_be_canonical():
    b = LogBuilder()
    raw = b'{ "op_id": "demo" }'
    manifest_id = hashlib.sha256(raw).hexdigest()
    b.artifacts[manifest_id] = raw
    b.manifest_id = manifest_id
    seq = b.start()
    found = fired(b.observation(), "hash_integrity")
    assert seqs_of(found) == [(seq,)]
    assert "canonical" in found[0].message


def test_hash_integrity_base_is_the_last_checkpoint():
    b = LogBuilder()
    b.start()
    initial = b.checkpoint
    b.run_state(S1)
    done = len(b.entries)  # S1's StateCompleted: the checkpoint
    stale = b.enter(S2, base=initial)
    b.complete()
    found = fired(b.observation(), "hash_integrity")
    assert seqs_of(found) == [(done, stale)]
    assert "last checkpoint" in found[0].message


def test_hash_integrity_final_snapshot_is_the_last_checkpoint_and_facts_exist():
    b = clean_builder()
    rc = b.entries[-1]
    b.entries[-1] = attrs.evolve(
        rc, event=RunCompleted(RunStatus.COMPLETED, b.entries[0].event.initial_snapshot_id)
    )
    obs = b.observation()
    found = fired(obs, "hash_integrity")
    assert seqs_of(found) == [(12, 13)]
    obs = clean_observation()
    fact = next(e for e in stream(obs) if isinstance(e.event, DomainEvent))
    pristine = {k: v for k, v in obs.pristine.items() if k != fact.event.payload["payload_id"]}
    found = fired(attrs.evolve(obs, pristine=pristine), "hash_integrity")
    assert seqs_of(found) == [(fact.seq,)]
    assert "fact payload" in found[0].message


# ------------------------------------------------------------------- 7 crash_transparency


def test_crash_transparency_snapshot_and_status_must_match_the_fault_free_run():
    obs = clean_observation()
    rc = stream(obs)[-1].seq
    other = Reference(RunPhase.COMPLETED, {"path": [S1, S3]})
    found = fired(attrs.evolve(obs, reference=other, model=None), "crash_transparency")
    assert seqs_of(found) == [(rc,)]
    assert "path" in found[0].message
    failed = Reference(RunPhase.FAILED, None)
    found = fired(attrs.evolve(obs, reference=failed, model=None), "crash_transparency")
    assert "final status completed" in found[0].message


def test_crash_transparency_applies_only_to_honest_faults_and_deterministic_handlers():
    obs = clean_observation(reference=Reference(RunPhase.COMPLETED, {"x": 1}), model=None)
    assert check_crash_transparency(attrs.evolve(obs, transparent=False)) == []
    b = clean_builder()
    b.fault(FaultKind.DROPPED_WRITE)
    lying = b.observation(reference=Reference(RunPhase.COMPLETED, {"x": 1}))
    assert not lying.honest
    assert check_crash_transparency(lying) == []
    assert check_crash_transparency(attrs.evolve(obs, final_phase=RunPhase.RUNNING)) == []


def _failed_by(code: str) -> LogBuilder:
    b = LogBuilder(run_config=config(max_attempts=2))
    b.start()
    b.run_state(S1)
    b.enter(S2)
    if code == "orphan":
        b.crash()
        b.recover_orphan()
    else:
        b.fail(code=code)
    b.enter(S2)
    b.fail(code="flaky")
    b.finish(RunStatus.FAILED)
    return b


def test_crash_transparency_excuses_attempts_consumed_by_crashes_or_injected_failures():
    completed = Reference(RunPhase.COMPLETED, {"path": [S1, S2, S3]})
    for code in ("orphan", "sim_handler_failure"):
        obs = _failed_by(code).observation(reference=completed, model=completed)
        assert check_crash_transparency(obs) == []
        assert check_model_agreement(obs) == []
    obs = _failed_by("flaky").observation(reference=completed, model=None)
    found = fired(obs, "crash_transparency")
    assert seqs_of(found) == [(stream(obs)[-1].seq,)]


# ------------------------------------------------------------------- 8 idempotent_resume


def test_idempotent_resume_appends_nothing():
    b = clean_builder()
    b.incs[-1].appended = ((RUN_ID, 14),)
    found = fired(b.observation(), "idempotent_resume")
    assert seqs_of(found) == [(14,)]
    assert "appended 1 event" in found[0].message


def test_idempotent_resume_returns_the_same_result():
    b = clean_builder()
    b.incs[-1].final_snapshot_id = b.entries[0].event.initial_snapshot_id
    found = fired(b.observation(), "idempotent_resume")
    assert seqs_of(found) == [(13,)]
    b = clean_builder()
    b.incs[-1].outcome, b.incs[-1].phase, b.incs[-1].error_code = (
        Outcome.ERROR,
        None,
        "manifest_corrupt",
    )
    found = fired(b.observation(), "idempotent_resume")
    assert "manifest_corrupt" in found[0].message


# ------------------------------------------------------------------- 9 effects


def test_effects_at_most_once():
    obs = clean_observation(effects={"charge:alice": 1, "charge:bob": 2})
    found = fired(obs, "effects_at_most_once")
    assert len(found) == 1
    assert "charge:bob" in found[0].message
    assert found[0].run_id == str(RUN_ID)
    assert check_effects_at_most_once(attrs.evolve(obs, effect_limit=2)) == []


# ------------------------------------------------------------------- 10 liveness


def test_liveness_deadlock_is_always_a_violation():
    b = clean_builder()
    b.incs[-1].outcome = Outcome.DEADLOCK
    for recoverable in (True, False):
        found = fired(b.observation(recoverable=recoverable), "liveness")
        assert len(found) == 1
        assert "deadlock" in found[0].message
    b.incs[-1].outcome = Outcome.RUNAWAY
    assert "runaway" in fired(b.observation(recoverable=False), "liveness")[0].message


def test_liveness_run_must_finish_once_faults_stop():
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.enter(S2)
    b.crash()
    b.recover_orphan()
    b.enter(S2)
    b.incs[-1].outcome, b.incs[-1].error_code = Outcome.ERROR, "snapshot_not_canonical"
    obs = b.observation()
    found = fired(obs, "liveness")
    assert seqs_of(found) == [(len(b.entries),)]
    assert "snapshot_not_canonical" in found[0].message
    assert check_liveness(attrs.evolve(obs, recoverable=False)) == []
    b.fault(FaultKind.CORRUPTED_ARTIFACT)
    assert check_liveness(b.observation()) == []  # the store lied: it may stay stuck


# ------------------------------------------------------------------- 11 detected_not_silent


def _bad_read_builder() -> tuple[LogBuilder, int]:
    """S1 completes; S2's base is read corrupted (a fault point), then the engine goes on."""
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.enter(S2)
    b.step += 1
    bad = BadRead(b.step, b.checkpoint, FaultKind.CORRUPTED_ARTIFACT)
    b.incs[0].bad_reads = (bad,)
    return b, bad.step


def test_detected_not_silent_no_result_and_no_append_after_a_bad_read():
    b, _ = _bad_read_builder()
    late = b.complete()
    b.run_state(S3)
    rc = b.finish()
    found = fired(b.observation(), "detected_not_silent")
    assert len(found) == 2
    assert "returned completed" in found[0].message
    assert found[1].seqs == tuple(range(late, rc + 1))


def test_detected_not_silent_error_must_be_a_storage_error():
    b, _ = _bad_read_builder()
    b.incs[0].outcome, b.incs[0].error_code = Outcome.ERROR, "snapshot_decode_failed"
    found = fired(b.observation(), "detected_not_silent")
    assert len(found) == 1
    assert "snapshot_decode_failed" in found[0].message
    b.incs[0].error_code = "artifact_content_address_mismatch"
    assert check_detected_not_silent(b.observation()) == []
    b.incs[0].outcome, b.incs[0].error_code = Outcome.CRASH, None
    assert check_detected_not_silent(b.observation()) == []


# ------------------------------------------------------------------- 12 retry_timing


def test_retry_timing_never_less_than_the_backoff():
    b = clean_builder()
    b.entries[3].ts -= 40  # S1's retry came 60 ms after the failure; backoff 100 ms
    found = fired(b.observation(), "retry_timing")
    assert seqs_of(found) == [(3, 4)]
    assert "60 ms" in found[0].message


def test_retry_timing_exact_without_latency_and_not_across_incarnations():
    b = clean_builder()
    b.entries[3].ts += 40
    obs = b.observation()
    found = fired(obs, "retry_timing")
    assert seqs_of(found) == [(3, 4)]
    # A latency fault between the two appends excuses the extra time.
    b = LogBuilder()
    b.start()
    b.enter(S1)
    b.fail()
    b.latency(40)
    b.enter(S1)
    b.complete()
    assert check_retry_timing(b.observation()) == []
    # The retry was made by a later incarnation: no sleep is owed.
    b = LogBuilder()
    b.start()
    b.enter(S1)
    b.fail()
    b.crash()
    b.enter(S1)
    b.complete()
    assert check_retry_timing(b.observation()) == []


def test_retry_timing_follows_exponential_backoff():
    cfg = config(
        max_attempts=4, backoff=Exponential(timedelta(milliseconds=10), timedelta(milliseconds=25))
    )
    b = LogBuilder(run_config=cfg)
    b.start()
    b.run_state(S1, failures=3)  # waits 10, 20, 25 ms
    ts = [e.ts for e in b.entries]
    assert [ts[3] - ts[2], ts[5] - ts[4], ts[7] - ts[6]] == [10, 20, 25]
    assert check(b.observation(recoverable=False)) == []
    b.entries[7].ts -= 5  # waited 20 ms after attempt 2: capped backoff is 25 ms
    assert seqs_of(fired(b.observation(), "retry_timing")) == [(7, 8)]


# ------------------------------------------------------------------- 13 model_agreement


def test_model_agreement():
    obs = clean_observation(reference=None)
    rc = stream(obs)[-1].seq
    wrong = Reference(RunPhase.COMPLETED, {"path": [S1, S2, S3], "extra": 1})
    found = fired(attrs.evolve(obs, model=wrong), "model_agreement")
    assert seqs_of(found) == [(rc,)]
    assert "extra" in found[0].message
    found = fired(attrs.evolve(obs, model=Reference(RunPhase.FAILED, None)), "model_agreement")
    assert "the model says failed" in found[0].message
    # A model without a snapshot predicts the status only; tuples compare like JSON lists.
    assert check_model_agreement(attrs.evolve(obs, model=Reference(RunPhase.COMPLETED, None))) == []
    tupled = Reference(RunPhase.COMPLETED, {"path": (S1, S2, S3)})
    assert check_model_agreement(attrs.evolve(obs, model=tupled)) == []
    assert check_model_agreement(attrs.evolve(obs, model=wrong, final_phase=None)) == []


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


@pytest.mark.parametrize("name", NAMES)
def test_every_invariant_passes_the_clean_log(name):
    assert CHECKS[name](clean_observation()) == []


def test_checks_take_the_seed_from_the_observation():
    obs = clean_observation(effects={"k": 3}, seed=SEED + 1)
    assert {v.seed for v in check(obs)} == {SEED + 1}


def test_a_content_addressed_store_is_trusted_for_hashes_but_not_for_existence() -> None:
    # The runner's durable store keys every put by the bytes' own hash, so its observation
    # skips re-hashing; an id missing from it is still reported, and a synthetic log that
    # does not claim content addressing is still verified byte by byte.
    from mfm_sim.invariants.checks import _ArtifactJudge

    good, bad = b'{"a":1}', b'{"b":2}'
    good_id = hashlib.sha256(good).hexdigest()
    wrong_id = "f" * 64
    pristine = {good_id: good, wrong_id: bad}

    def judge(content_addressed: bool) -> _ArtifactJudge:
        obs = attrs.evolve(
            clean_observation(), pristine=pristine, content_addressed=content_addressed
        )
        return _ArtifactJudge(obs)

    checked, trusted = judge(False), judge(True)
    assert checked.problem(good_id) is None and trusted.problem(good_id) is None
    assert checked.problem(wrong_id) == (
        f"holds bytes hashing to {hashlib.sha256(bad).hexdigest()[:12]}"
    )
    assert trusted.problem(wrong_id) is None
    assert checked.problem("0" * 64) == trusted.problem("0" * 64) == "does not exist"


# ------------------------------------------------------------------- event classification


@attrs.frozen
class _LoudCompleted(StateCompleted):
    """A subclass of an engine event: the checks classify by type, and must not miss it."""


def test_an_event_subclass_is_checked_like_its_base():
    b = clean_builder()
    first = next(i for i, e in enumerate(b.entries) if isinstance(e.event, StateCompleted))
    b.entries.insert(first + 1, b.entries[first])
    base = check(b.observation())
    ev = b.entries[first + 1].event
    b.entries[first + 1] = attrs.evolve(
        b.entries[first + 1], event=_LoudCompleted(ev.state_id, ev.context_snapshot_id)
    )
    loud = check(b.observation())
    assert [v.invariant for v in loud] == [v.invariant for v in base]
    assert "exactly_once" in {v.invariant for v in loud}


def test_the_checks_agree_however_the_observation_is_asked_for():
    # The classified runs are cached per observation: asking about an evolved copy (a new
    # object) must classify afresh, not reuse the first one's streams.
    obs = clean_observation()
    assert check(obs) == []
    b = clean_builder()
    first = next(i for i, e in enumerate(b.entries) if isinstance(e.event, StateCompleted))
    b.entries.insert(first + 1, b.entries[first])
    broken = b.observation()
    assert fired(broken, "exactly_once")
    assert check(obs) == []


def test_the_main_run_is_the_one_under_the_main_id():
    # The main run is found by its key in `runs`, as the runner files it, even if the view
    # itself names another id: the model check still cites the log's RunCompleted.
    obs = clean_observation(reference=None)
    rc = stream(obs)[-1].seq
    wrong = Reference(RunPhase.COMPLETED, {"path": [S1, S2, S3], "extra": 1})
    runs = dict(obs.runs)
    runs[RUN_ID] = attrs.evolve(runs[RUN_ID], run_id=uuid.UUID(int=7))
    found = fired(attrs.evolve(obs, model=wrong, runs=runs), "model_agreement")
    assert seqs_of(found) == [(rc,)]
