"""Lying-log faults: what each lie returns, that the engine refuses it with the lie's own
code, that the durable log is untouched, and that invariant 11 labels the lie as the store's
(a refusal passes) and flags an engine that goes on with the lied records."""

from __future__ import annotations

import uuid

import pytest
from mfm_engine.errors import RunError
from mfm_engine.events import DomainEvent, EventEnvelope, RunStarted, StateEntered
from mfm_engine.live_io import FactIndex
from mfm_engine.runtime.history import read_run_history

from mfm_sim import simulate
from mfm_sim.faults.kinds import LOG_LIE_KINDS, Fault, FaultKind
from mfm_sim.faults.log_lies import lie
from mfm_sim.invariants.detected_not_silent import LOG_LIE_REFUSALS
from mfm_sim.run.observation import Outcome
from mfm_sim.run.scenario import get_scenario

K = FaultKind
RUN = uuid.UUID(int=7)
A, B = "a" * 64, "b" * 64


def _stream() -> list[EventEnvelope]:
    events = [
        RunStarted("op", A, A),
        StateEntered("op.s1.run", 0, A),
        DomainEvent("fact_recorded", {"key": "k", "payload_id": B}),
    ]
    return [EventEnvelope(RUN, n, e) for n, e in enumerate(events, 1)]


def _refusal(stream: list[EventEnvelope]) -> str | None:
    """The code the engine's own readers refuse `stream` with (None: accepted)."""
    try:
        read_run_history(RUN, stream)
        FactIndex.from_event_stream(stream)
    except RunError as exc:
        return exc.info.code
    except Exception as exc:  # a StorageError is not a RunError until the engine wraps it
        return getattr(getattr(exc, "info", None), "code", type(exc).__name__)
    return None


@pytest.mark.parametrize("kind", LOG_LIE_KINDS, ids=lambda k: k.value)
@pytest.mark.parametrize("arg", [0, 1, 2])
def test_every_lie_meets_its_refusal(kind: FaultKind, arg: int) -> None:
    stream = _stream()
    assert _refusal(stream) is None
    lied = lie(kind, max(arg, 1) if kind is K.LIE_REORDERED_RANGE else arg, stream)
    assert lied != stream and stream == _stream()  # the input list is not changed
    assert _refusal(lied) in LOG_LIE_REFUSALS[kind]


@pytest.mark.parametrize("kind", LOG_LIE_KINDS, ids=lambda k: k.value)
def test_a_lie_on_a_one_record_stream_is_still_refused(kind: FaultKind) -> None:
    stream = _stream()[:1]
    if kind is K.LIE_REORDERED_RANGE:
        return  # needs two records: no argument fits a one-record read (`ArgRange(1, sized)`)
    assert _refusal(lie(kind, 0, stream)) in LOG_LIE_REFUSALS[kind]


def _resume_read_step(seed: int) -> tuple[Fault, int]:
    """A crash in the first incarnation, and the step of the resume's read of the stream."""
    scenario = get_scenario("linear")
    plain = simulate(scenario, seed, faults=(), record_sites=True)
    assert plain.sites is not None
    appends = [i + 1 for i, site in enumerate(plain.sites) if site == "events.append"]
    crash = Fault(appends[2], K.CRASH_AFTER_EFFECT, "events.append")
    crashed = simulate(scenario, seed, schedule=[crash], record_sites=True)
    assert crashed.sites is not None
    return crash, crashed.sites.index("events.read_range") + 1


@pytest.mark.parametrize("kind", LOG_LIE_KINDS, ids=lambda k: k.value)
def test_the_engine_refuses_a_lie_and_invariant_11_labels_it_the_stores(kind: FaultKind) -> None:
    crash, step = _resume_read_step(0)
    lie_fault = Fault(step, kind, "events.read_range", 1)
    result = simulate(get_scenario("linear"), 0, schedule=[crash, lie_fault], keep_observation=True)
    obs = result.observation
    assert obs is not None
    lied = [i for i in obs.incarnations if i.bad_reads]
    assert len(lied) == 1 and lied[0].outcome is Outcome.ERROR
    assert lied[0].error_code in LOG_LIE_REFUSALS[kind]
    assert lied[0].bad_reads[0].kind is kind
    # The durable log never held the lie, and the next resume finishes the run.
    assert obs.final_phase is not None and obs.final_phase.value == "completed"
    assert result.ok, [v.describe() for v in result.violations]


@pytest.mark.parametrize(
    ("variant", "kind", "arg"),
    [
        ("fact_conflict_ignored", K.LIE_CONFLICTING_FACT, 0),
        # The last record's seq skips one: only the seq check can see that gap.
        ("stream_seqs_unchecked", K.LIE_SEQ_GAP, 10_000),
    ],
)
def test_an_engine_that_goes_on_with_a_lie_is_flagged(
    variant: str, kind: FaultKind, arg: int
) -> None:
    crash, step = _resume_read_step(0)
    lie_fault = Fault(step, kind, "events.read_range", arg)
    schedule = [crash, lie_fault]
    broken = simulate(get_scenario("linear"), 0, schedule=schedule, variant=variant)
    assert "detected_not_silent" in {v.invariant for v in broken.violations}, [
        v.describe() for v in broken.violations
    ]
