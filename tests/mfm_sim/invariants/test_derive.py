"""What the checks derive once per observation: event classification, the cache, the main run."""

from __future__ import annotations

import uuid

import attrs
from mfm_engine.events import (
    RunPhase,
    StateCompleted,
)

from mfm_sim.invariants.registry import check
from mfm_sim.run.observation import Reference
from tests.mfm_sim.invariants.support import fired, seqs_of, stream
from tests.mfm_sim.logs import (
    RUN_ID,
    S1,
    S2,
    S3,
    clean_builder,
    clean_observation,
)

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


# ------------------------------------------------------- summaries for checks' early exits


def test_op_names_and_has_facts_summarise_the_journal_and_the_logs() -> None:
    # The summaries the fact, spawn and secret checks return early on must say exactly what
    # a walk over the journal's ops and the classified rows finds.
    from mfm_sim.invariants.derive import FACT, derive
    from mfm_sim.run.scenario import all_scenarios
    from mfm_sim.run.simulate import simulate

    by_name = {s.name: s for s in all_scenarios()}
    seen_facts = set()
    for name, seed in (("linear", 9), ("generated", 3), ("generated", 11)):
        obs = simulate(by_name[name], seed, keep_observation=True).observation
        assert obs is not None
        derived = derive(obs)
        walked = {op[0] for entry in obs.handler_journal for op in entry.ops}
        assert derived.op_names == walked
        facts = any(code == FACT for log in derived.logs for code, _, _ in log.rows)
        assert derived.has_facts == facts
        seen_facts.add(facts)
    assert seen_facts == {True, False}  # both answers were asked for


def test_a_hand_made_log_without_a_journal_has_no_op_names_and_its_facts() -> None:
    from mfm_sim.invariants.derive import FACT, derive

    obs = clean_observation()
    derived = derive(obs)
    assert derived.op_names == frozenset()
    assert derived.has_facts  # the clean log records facts
    assert any(code == FACT for log in derived.logs for code, _, _ in log.rows)


def test_by_key_gives_each_run_its_own_log_in_the_mapping_order() -> None:
    # Checks that word violations in `obs.runs`'s order (artifact_kinds, error_shape) read
    # the classified logs through `by_key`: each key with the log of the view filed under
    # it, whatever order `logs` (main first, the others by id) holds them in.
    from mfm_sim.invariants.derive import derive
    from mfm_sim.run.scenario import all_scenarios
    from mfm_sim.run.simulate import simulate

    by_name = {s.name: s for s in all_scenarios()}
    sizes = set()
    for name, seed in (("linear", 9), ("child_runs", 1), ("child_runs", 2)):
        obs = simulate(by_name[name], seed, keep_observation=True).observation
        assert obs is not None
        pairs = derive(obs).by_key
        assert [k for k, _ in pairs] == list(obs.runs)
        assert all(log.view is obs.runs[k] and log.stream is obs.runs[k].stream for k, log in pairs)
        # Reversed mapping order: the pairs follow the mapping, the logs stay main-first.
        flipped = attrs.evolve(obs, runs=dict(reversed(list(obs.runs.items()))))
        assert [k for k, _ in derive(flipped).by_key] == list(flipped.runs)
        assert derive(flipped).logs[0].run_id == obs.main_run_id
        sizes.add(len(pairs))
    assert 1 in sizes and max(sizes) > 1  # both the one-run path and the general one
