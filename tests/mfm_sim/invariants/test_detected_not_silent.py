"""Invariant 11, detected, never silent: a bad read ends in a storage error, appends nothing."""

from __future__ import annotations

import attrs
from mfm_engine.envelopes import EnvelopeErrorKind
from mfm_engine.errors import ErrorCategory, ErrorInfo, RunErrorKind

from mfm_sim import get_scenario, simulate
from mfm_sim.faults.kinds import FaultKind
from mfm_sim.faults.stores import BadRead
from mfm_sim.invariants.detected_not_silent import check_detected_not_silent
from mfm_sim.run.observation import Observation, Outcome, RaisedError
from tests.mfm_sim.invariants.support import fired
from tests.mfm_sim.logs import (
    S1,
    S2,
    S3,
    LogBuilder,
)

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


def _put_lie_builder() -> LogBuilder:
    """S1 completes; S2's snapshot put is answered with another id (a fault point)."""
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.enter(S2)
    b.step += 1
    b.incs[0].bad_reads = (BadRead(b.step, b.checkpoint, FaultKind.ARTIFACT_PUT_ID_MISMATCH),)
    return b


def test_detected_not_silent_a_put_answered_with_another_id_needs_its_own_refusal():
    b = _put_lie_builder()
    b.incs[0].outcome, b.incs[0].error_code = Outcome.ERROR, "artifact_put_id_mismatch"
    assert check_detected_not_silent(b.observation()) == []
    # Another storage code is not this lie's refusal (ENGINE.md names its own).
    b.incs[0].error_code = "artifact_content_address_mismatch"
    found = fired(b.observation(), "detected_not_silent")
    assert len(found) == 1
    assert "artifact_put_id_mismatch artifact" in found[0].message


def test_detected_not_silent_an_engine_that_trusts_a_lying_put_is_caught():
    b = _put_lie_builder()
    late = b.complete()
    rc = b.finish()
    found = fired(b.observation(), "detected_not_silent")
    assert len(found) == 2
    assert "returned completed" in found[0].message
    assert found[1].seqs == tuple(range(late, rc + 1))


def test_detected_not_silent_the_sweep_lies_about_a_put_and_the_engine_refuses_it():
    """child_runs seed 57 (the put_id_trusted variant's catch): the default swarm's put lie
    ends the incarnation in its own refusal, and the next one resumes clean."""
    result = simulate(get_scenario("child_runs"), 57, keep_observation=True)
    assert result.violations == ()
    lied = [i for i in result.observation.incarnations if i.bad_reads]
    assert [b.kind for i in lied for b in i.bad_reads] == [FaultKind.ARTIFACT_PUT_ID_MISMATCH]
    assert [(i.outcome, i.error_code) for i in lied] == [
        (Outcome.ERROR, "artifact_put_id_mismatch")
    ]


def _lie_refused(info: ErrorInfo) -> Observation:
    """S1 completes; the resume reads a log with a gap and raises `info` as a RunError."""
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.step += 1
    b.incs[0].bad_reads = (BadRead(b.step, "log:" + "0" * 32, FaultKind.LIE_SEQ_GAP),)
    b.incs[0].outcome, b.incs[0].error_code = Outcome.ERROR, info.code
    obs = b.observation()
    inc = attrs.evolve(obs.incarnations[0], raised=RaisedError(RunErrorKind.INVALID_PLAN, info))
    return attrs.evolve(obs, incarnations=(inc,))


def test_detected_not_silent_a_log_refusal_carries_the_seeds_whole_error_info():
    seed = ErrorInfo(
        "invalid_attempt_envelopes",
        ErrorCategory.UNKNOWN,
        False,
        "invalid attempt envelopes in event stream",
    )
    assert check_detected_not_silent(_lie_refused(seed)) == []
    # The walk's own words appended (as the port once did), or a reason in the details.
    for broken, word in (
        (attrs.evolve(seed, message=f"{seed.message}: seq_gap at seq 3"), "message"),
        (attrs.evolve(seed, details={"seq": 3}), "details"),
        (attrs.evolve(seed, category=ErrorCategory.STORAGE), "category"),
    ):
        found = fired(_lie_refused(broken), "detected_not_silent")
        assert len(found) == 1 and word in found[0].message, found
        assert "invalid_attempt_envelopes" in found[0].message


def _foreign_record_read(states: int, code: str) -> Observation:
    """The run's log holds RunStarted and `states` finished states when a resume reads it
    whole and the store puts another run's record among them; the resume fails with `code`."""
    b = LogBuilder()
    b.start()
    for state in (S1, S2)[:states]:
        b.run_state(state)
    b.step += 1
    read = BadRead(b.step, f"log:{b.run_id}", FaultKind.LIE_FOREIGN_RECORD)
    b.incs[0].bad_reads = (read,)
    b.incs[0].outcome, b.incs[0].error_code = Outcome.ERROR, code
    return b.observation()


def test_detected_not_silent_a_foreign_record_among_others_is_an_envelope_error():
    """ENGINE.md "Attempt envelopes": walking the stream, another run id is an envelope error;
    the walk sees two run ids as soon as there are two records."""
    assert check_detected_not_silent(_foreign_record_read(1, "invalid_attempt_envelopes")) == []
    found = fired(_foreign_record_read(1, "run_id_mismatch"), "detected_not_silent")
    assert len(found) == 1 and "run_id_mismatch" in found[0].message


def test_detected_not_silent_a_lone_foreign_record_is_resumes_run_id_mismatch():
    assert check_detected_not_silent(_foreign_record_read(0, "run_id_mismatch")) == []


def _gap_refused(raised: RaisedError | None) -> Observation:
    """S1 and S2 complete; a resume reads the log with seq 3 missing (the lie's stream recorded as
    returned) and is refused with the seed's envelope refusal, chaining `raised`'s reason."""
    b = LogBuilder()
    b.start()
    b.run_state(S1)
    b.run_state(S2)
    b.step += 1
    whole = b.envelopes()
    assert [env.seq for env in whole] == [1, 2, 3, 4, 5]
    lied = (*whole[:2], *whole[3:])  # seqs 1, 2, 4: the first break is a gap at seq 4
    read = BadRead(b.step, f"log:{b.run_id}", FaultKind.LIE_SEQ_GAP, "", lied)
    b.incs[0].bad_reads = (read,)
    b.incs[0].outcome, b.incs[0].error_code = Outcome.ERROR, "invalid_attempt_envelopes"
    obs = b.observation()
    return attrs.evolve(obs, incarnations=(attrs.evolve(obs.incarnations[0], raised=raised),))


def _envelope_refusal(kind: EnvelopeErrorKind | None, seq: int, message: object) -> RaisedError:
    info = ErrorInfo(
        "invalid_attempt_envelopes",
        ErrorCategory.UNKNOWN,
        False,
        "invalid attempt envelopes in event stream",
    )
    cause = None if kind is None else "EnvelopeError"
    return RaisedError(RunErrorKind.INVALID_PLAN, info, cause, kind, seq, None, message)


def test_detected_not_silent_a_log_refusal_names_the_first_break_of_the_stream_read():
    """The lie's stream breaks first at seq 4 (a gap): a refusal chaining that passes; one
    naming a repeat, another seq, no reason or an empty message is caught."""
    right = _envelope_refusal(EnvelopeErrorKind.SEQ_GAP, 4, "seq_gap at seq 4: after seq 2")
    assert check_detected_not_silent(_gap_refused(right)) == []
    for broken, words in (
        (attrs.evolve(right, cause_kind=EnvelopeErrorKind.SEQ_NOT_INCREASING), "names seq_not"),
        (attrs.evolve(right, cause_seq=3), "at seq 3"),
        (_envelope_refusal(None, 4, None), "chains None"),
        (attrs.evolve(right, cause_message=""), "message ''"),
    ):
        found = fired(_gap_refused(broken), "detected_not_silent")
        assert len(found) == 1 and words in found[0].message, (words, found)
        assert "seq_gap at seq 4" in found[0].message
