"""Deliberately broken engine variants: each is caught, and each leaves the engine as it was."""

from __future__ import annotations

import functools
from typing import Any

import attrs
import pytest
from mfm_engine import context as context_mod
from mfm_engine import hashing as hashing_mod
from mfm_engine import live_io as live_io_mod
from mfm_engine.context import StagedContext
from mfm_engine.live_io import FactIndex, LiveIo, _IoBase
from mfm_engine.recorder import EventRecorder
from mfm_engine.replay_io import ReplayIo
from mfm_engine.runtime import attempt as attempt_mod
from mfm_engine.runtime import child_runs as child_mod
from mfm_engine.runtime import engine as engine_mod
from mfm_engine.runtime import history as history_mod
from mfm_engine.runtime.engine import DefaultExecutionEngine
from mfm_engine.runtime.writer import EventWriter

from mfm_sim import get_scenario, simulate
from mfm_sim.run.scenario import default_mix
from mfm_sim.selfcheck.patch import Edit, FunctionPatch, StalePatch, apply, patched
from mfm_sim.selfcheck.variants import VARIANTS, UnknownVariant, Variant, variant_context

REQUIRED = {
    "unfixed_orphan",
    "attempt_off_by_one",
    "retry_non_retryable",
    "backoff_ignored",
    "manifest_hash_unchecked",
    "rerun_completed",
    "fact_reexecuted",
    "run_completed_twice",
    "wrong_base_snapshot",
    "writer_ignores_expected_seq",
    "dropped_state_failed",
    "child_started_twice",
    "snapshot_unverified",
}

# The first seed of each variant's scenario that catches it (found by the bounded sweep below),
# and the invariant that names it there.
EXPECTED_CATCH: dict[str, tuple[str, int]] = {
    "unfixed_orphan": ("crash_loop", 0),
    "orphan_retry_unbounded": ("crash_loop", 3),
    "attempt_off_by_one": ("retry_heavy", 2),
    "retry_non_retryable": ("retry_heavy", 1),
    "backoff_ignored": ("crash_loop", 0),
    "manifest_hash_unchecked": ("child_runs", 10),  # re-chosen for 0.3.0's streams
    "rerun_completed": ("crash_loop", 0),
    "fact_reexecuted": ("diamond_io", 8),  # re-chosen for 0.3.0's streams
    "run_completed_twice": ("child_runs", 0),
    "wrong_base_snapshot": ("crash_loop", 0),
    "writer_ignores_expected_seq": ("retry_heavy", 18),
    "dropped_state_failed": ("retry_heavy", 0),
    "child_started_twice": ("child_runs", 1),
    "backoff_off_by_one_power": ("retry_heavy", 0),
    "plan_order_lifo": ("diamond_io", 0),
    "snapshot_unverified": ("random_dag", 10),
    "skip_tags_ignored": ("skip_tags", 0),
    "child_id_per_attempt": ("child_runs", 0),
    "derived_key_ignores_attempt": ("facts_time_random", 1),
    "profile_ignored": ("linear", 1),
    "replay_uses_live_io": ("replay_mode", 0),
    "failed_writes_leak": ("generated", 70),
    "staged_delete_dropped": ("generated", 5),
    "secret_event_accepted": ("generated", 25),
    "error_details_kept": ("generated", 15),
    "fact_conflict_ignored": ("linear", 10),  # a conflicting fact record, read on resume
    "stream_seqs_unchecked": ("child_runs", 13),  # a reordered pair, read on resume
    "gap_called_repeat": ("child_runs", 3),  # a reordered pair: its gap named a repeat
    "envelope_break_seq_before": ("generated", 3),  # a recorded log, an attempt entered twice
    "plan_duplicate_misnamed": ("generated", 4),  # an operator's plan naming a state twice
    "start_contract_unchecked": ("generated", 6),  # an operator's mistaken start
    "resume_plan_states_unchecked": ("generated", 11),  # a wrong build's resume
    "run_started_op_unchecked": ("diamond_io", 41),  # a forged RunStarted, read on resume
    "put_id_trusted": ("child_runs", 57),  # a put answered with another id
    "failure_under_error_state": ("generated", 28),  # a StateError naming another state
    # Replay over a recorded log, spawns and awaits against it, the `gx.*` route.
    "replay_ignores_log": ("generated", 46),
    "replayed_bytes_length_unchecked": ("generated", 5),
    "spawn_over_other_manifest": ("generated", 23),
    "await_manifest_unchecked": ("generated", 50),
    "wildcard_route_literal": ("generated", 5),
    "fan_out_accepted": ("generated", 13),  # a child spawned with FanOutJoin
    # Calls made at once, a cancelled child in a recorded log, the child-run wrapper alone.
    "rival_binding_accepted": ("generated", 4),
    "twin_binding_refused": ("generated", 20),
    "repeated_fact_refused": ("generated", 47),  # a twin's two records, read on resume
    "await_status_collapsed": ("generated", 48),
    "wrapper_alone_unimplemented": ("generated", 103),
    "manifest_not_revalidated": ("generated", 0),  # an operator's recorded run, resumed
    "snapshot_object_unchecked": ("generated", 0),  # a recorded run's snapshot, an array
    "supervisor_task_per_spawn": ("generated", 50),  # twin spawns, artifacts across a network
    "supervisor_joins_dead_loop": ("generated", 1773),  # one engine kept across two loops
    "failpoint_ignored": ("generated", 31),  # a stop_after_handler fault
    "orphan_failure_without_message": ("generated", 2),  # a crash mid-attempt
    "run_not_found_without_kind": ("generated", 19),  # an operator's resume of no run
    "result_without_run_id": ("generated", 0),
    "run_id_not_from_source": ("linear", 0),
    "state_error_left_unnamed": ("generated", 8),
    "entropy_not_from_source": ("generated", 5),
    "refusal_kind_lost": ("generated", 37),  # an inspected refusal (inspect_errors)
    "await_snapshot_id_dropped": ("generated", 50),  # an await's recorded response
    "spawn_names_manifest_as_snapshot": ("generated", 44),  # awaited again: a conflict
    # The engine's router, its default transport, a child's own child (`routing`, `grandchildren`).
    "router_drops_env": ("generated", 4),
    "short_prefix_unrouted": ("generated", 20),
    "unimplemented_own_code": ("generated", 49),
    "grandchild_without_wrapper": ("generated", 72),
    "backoff_exponent_uncapped": ("generated", 34),  # 33 retries (`long_backoff`)
    "payload_ref_dropped": ("generated", 3),  # an emit citing an artifact (`payload_refs`)
    "fact_record_without_meta": ("diamond_io", 0),
    "secret_scan_stops_at_float": ("generated", 16),  # `json_values`: [[secret], 1.5]
    # The child_runs awaits of `mfm_scenarios.child_awaits`.
    "await_never_starts_child": ("child_runs", 12),  # a crash between spawn and await
    "spawn_default_version_other": ("child_runs", 1),  # no op_version, the ack kept
    "spawn_response_without_parent": ("child_runs", 0),
    "await_kind_unchecked": ("child_runs", 8),
    "await_ignores_live_task": ("child_runs", 1),  # awaited without its spawn at once
    "await_resumes_unstarted_child": ("child_runs", 2),  # a crash between spawn and await
    # Values at the edges of canonical JSON (`mfm_scenarios.edge_values`).
    "careful_scan_never_leaves": ("edge_values", 0),  # its lie excuses only its own incarnation
    "cycle_not_refused": ("edge_values", 0),
    "decode_ignores_trailing_bytes": ("edge_values", 1),  # seed 0 plants bytes that are no JSON
    "history_ids_unchecked": ("edge_values", 0),
    "await_reports_child_running": ("stopped_children", 0),
}
CAUGHT_BY: dict[str, str] = {
    "unfixed_orphan": "attempt_envelopes",
    "orphan_retry_unbounded": "monotone_attempts",
    "attempt_off_by_one": "monotone_attempts",
    "retry_non_retryable": "monotone_attempts",
    "backoff_ignored": "retry_timing",
    "manifest_hash_unchecked": "detected_not_silent",
    "rerun_completed": "monotone_attempts",
    "fact_reexecuted": "effects_at_most_once",
    "run_completed_twice": "exactly_once",
    "wrong_base_snapshot": "hash_integrity",
    "writer_ignores_expected_seq": "attempt_envelopes",
    "dropped_state_failed": "attempt_envelopes",
    "child_started_twice": "log_well_formed",
    "backoff_off_by_one_power": "retry_timing",
    "plan_order_lifo": "model_agreement",
    "snapshot_unverified": "detected_not_silent",
    "skip_tags_ignored": "model_agreement",
    "child_id_per_attempt": "child_runs_once",
    "derived_key_ignores_attempt": "derived_fact_keys",
    "profile_ignored": "event_profile",
    "replay_uses_live_io": "replay_no_transport",
    "failed_writes_leak": "model_agreement",
    "staged_delete_dropped": "staged_commit",
    "secret_event_accepted": "secrets_never_stored",
    "error_details_kept": "secrets_never_stored",
    "fact_conflict_ignored": "detected_not_silent",
    "stream_seqs_unchecked": "detected_not_silent",
    "gap_called_repeat": "detected_not_silent",
    "envelope_break_seq_before": "model_agreement",
    "plan_duplicate_misnamed": "model_agreement",
    "start_contract_unchecked": "model_agreement",
    "resume_plan_states_unchecked": "model_agreement",
    "run_started_op_unchecked": "detected_not_silent",
    "put_id_trusted": "detected_not_silent",
    "failure_under_error_state": "attempt_envelopes",
    "replay_ignores_log": "model_agreement",
    "replayed_bytes_length_unchecked": "derived_fact_keys",
    "spawn_over_other_manifest": "model_agreement",
    "await_manifest_unchecked": "model_agreement",
    "wildcard_route_literal": "model_agreement",
    "fan_out_accepted": "model_agreement",
    "rival_binding_accepted": "model_agreement",
    "twin_binding_refused": "model_agreement",
    "repeated_fact_refused": "idempotent_resume",
    "await_status_collapsed": "model_agreement",
    "wrapper_alone_unimplemented": "model_agreement",
    "manifest_not_revalidated": "model_agreement",
    "snapshot_object_unchecked": "model_agreement",
    "supervisor_task_per_spawn": "clean_schedule",
    "supervisor_joins_dead_loop": "model_agreement",
    "failpoint_ignored": "failpoint_stop",
    "orphan_failure_without_message": "error_shape",
    "run_not_found_without_kind": "error_shape",
    "result_without_run_id": "run_result",
    "run_id_not_from_source": "run_result",
    "state_error_left_unnamed": "state_error_filled",
    "entropy_not_from_source": "entropy_source",
    "refusal_kind_lost": "model_agreement",
    "await_snapshot_id_dropped": "model_agreement",
    "spawn_names_manifest_as_snapshot": "model_agreement",
    "router_drops_env": "engine_contract",
    "short_prefix_unrouted": "model_agreement",
    "unimplemented_own_code": "model_agreement",
    "grandchild_without_wrapper": "model_agreement",
    "backoff_exponent_uncapped": "retry_timing",
    "payload_ref_dropped": "event_profile",
    "fact_record_without_meta": "log_contract",
    "secret_scan_stops_at_float": "model_agreement",
    "await_never_starts_child": "model_agreement",
    "spawn_default_version_other": "model_agreement",
    "spawn_response_without_parent": "child_runs_once",
    "await_kind_unchecked": "model_agreement",
    "await_ignores_live_task": "model_agreement",
    "await_resumes_unstarted_child": "model_agreement",
    "careful_scan_never_leaves": "honest_errors",
    "cycle_not_refused": "model_agreement",
    "decode_ignores_trailing_bytes": "model_agreement",
    "history_ids_unchecked": "model_agreement",
    "await_reports_child_running": "model_agreement",
}
# Variants of behaviour no built-in scenario drives, each caught only through a user plan in
# the named test module. Empty since the generated workload drives write-then-fail, deletes,
# secrets and error details in the sweep; the user-plan tests stay as unit tests of the checks.
USER_PLAN_CAUGHT: dict[str, str] = {}
# The scenario mix each variant's bounded sweep walks (seed by seed, every scenario of the mix).
SWEEP_MIX: dict[str, tuple[str, ...]] = {
    "manifest_hash_unchecked": ("child_runs",),  # only a child's manifest can be corrupted
    "replay_uses_live_io": ("replay_mode",),  # replay mode is not in the default mix
    "derived_key_ignores_attempt": ("facts_time_random",),  # its only retried time facts
    "failed_writes_leak": ("generated",),  # write-then-fail: only generated programs do it
    "staged_delete_dropped": ("generated",),
    "secret_event_accepted": ("generated",),
    "error_details_kept": ("generated",),
    "start_contract_unchecked": ("generated",),  # only generated seeds make operator mistakes
    "resume_plan_states_unchecked": ("generated",),
    # Only the generated workload brings recorded logs, awaits twice and routes by `.*`.
    "replay_ignores_log": ("generated",),
    "replayed_bytes_length_unchecked": ("generated",),
    "spawn_over_other_manifest": ("generated",),
    "await_manifest_unchecked": ("generated",),
    "wildcard_route_literal": ("generated",),
    "fan_out_accepted": ("generated",),
    "failure_under_error_state": ("generated",),  # only generated failures preset a state id
    # Only the generated workload makes calls at once, cancels a child, runs without services.
    "rival_binding_accepted": ("generated",),
    "twin_binding_refused": ("generated",),
    "repeated_fact_refused": ("generated",),
    "await_status_collapsed": ("generated",),
    "wrapper_alone_unimplemented": ("generated",),
    "manifest_not_revalidated": ("generated",),  # only generated seeds make operator mistakes
    "snapshot_object_unchecked": ("generated",),
    "supervisor_task_per_spawn": ("generated",),  # only generated seeds put stores on a network
    "supervisor_joins_dead_loop": ("generated",),
    "run_not_found_without_kind": ("generated",),  # only generated seeds make operator mistakes
    "refusal_kind_lost": ("generated",),  # only generated handlers inspect a refusal
    "await_snapshot_id_dropped": ("generated",),  # only generated awaits are predicted
    "spawn_names_manifest_as_snapshot": ("generated",),
    # Only the generated workload routes through the engine's router, installs no transport
    # and spawns grandchildren.
    "router_drops_env": ("generated",),
    "short_prefix_unrouted": ("generated",),
    "unimplemented_own_code": ("generated",),
    "grandchild_without_wrapper": ("generated",),
    "backoff_exponent_uncapped": ("generated",),  # only generated states retry 33 times
    "payload_ref_dropped": ("generated",),  # only generated emits cite an artifact
    "secret_scan_stops_at_float": ("generated",),  # only generated payloads nest a secret
    # Only child_runs seeds make the awaits of `mfm_scenarios.child_awaits`.
    "await_never_starts_child": ("child_runs",),
    "spawn_default_version_other": ("child_runs",),
    "spawn_response_without_parent": ("child_runs",),
    "await_kind_unchecked": ("child_runs",),
    "await_ignores_live_task": ("child_runs",),
    "await_resumes_unstarted_child": ("child_runs",),
    # Only edge_values seeds write a value past the careful scan or make these mistakes.
    "careful_scan_never_leaves": ("edge_values",),
    "cycle_not_refused": ("edge_values",),
    "decode_ignores_trailing_bytes": ("edge_values",),
    "history_ids_unchecked": ("edge_values",),
    "await_reports_child_running": ("stopped_children",),  # no other child engine stops
}
SWEEP_BOUND = 2000

# Everything a variant may patch, read the way the engine reads it.
PATCHED: tuple[tuple[Any, str], ...] = (
    (DefaultExecutionEngine, "_resume"),
    (DefaultExecutionEngine, "_start"),
    (DefaultExecutionEngine, "_run_states"),
    (attempt_mod, "_execute"),
    (attempt_mod, "read_snapshot"),
    (child_mod, "read_snapshot"),
    (child_mod._ChildRunTransport, "_await"),
    (engine_mod, "read_manifest"),
    (engine_mod, "compute_backoff"),
    (engine_mod, "topological_order"),
    (EventWriter, "append"),
    (LiveIo, "call"),
    (LiveIo, "_record"),
    (hashing_mod, "_scan"),
    (EventRecorder, "emit"),
    (attempt_mod, "redact_error_info"),
    (child_mod._ChildRunTransport, "_spawn"),
    (child_mod, "_spawn_manifest"),
    (_IoBase, "_next_key"),
    (context_mod, "read_snapshot"),
    (StagedContext, "write"),
    (StagedContext, "dump"),
    (history_mod, "analyze_kernel_events"),
    (ReplayIo, "_require"),
    (live_io_mod, "recorded_random_bytes"),
    (live_io_mod, "_route_matches"),
    (engine_mod, "validate_execution_mode"),
    (context_mod, "put_verified"),
    (FactIndex, "bind"),
    (child_mod._ChildRunTransport, "call"),
    (child_mod._Supervisor, "ensure"),
    (child_mod._Supervisor, "get"),
    (live_io_mod.RouterTransportFactory, "make"),
    (live_io_mod.NamespaceRouter, "route"),
    (live_io_mod.UnimplementedTransport, "call"),
    (child_mod.ChildRunLiveIoTransportFactory, "engine"),
    (hashing_mod, "decode_json"),
    (history_mod, "read_run_history"),
)


def engine_attributes() -> list[Any]:
    return [vars(owner)[name] for owner, name in PATCHED]


def test_catalogue() -> None:
    assert set(VARIANTS) >= REQUIRED
    assert len(VARIANTS) >= 12
    assert set(EXPECTED_CATCH) | set(USER_PLAN_CAUGHT) == set(VARIANTS)
    assert set(EXPECTED_CATCH) == set(CAUGHT_BY)
    assert not set(EXPECTED_CATCH) & set(USER_PLAN_CAUGHT)
    for name, variant in VARIANTS.items():
        assert variant.name == name and variant.description


def test_unknown_variant() -> None:
    with pytest.raises(UnknownVariant, match="unknown engine variant"), variant_context("nope"):
        pass


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_patches_and_restores(name: str) -> None:
    before = engine_attributes()
    with variant_context(name):
        during = engine_attributes()
    assert during != before, f"{name} patched nothing this test knows of"
    assert engine_attributes() == before


def test_variant_restores_after_an_exception() -> None:
    before = engine_attributes()
    with pytest.raises(RuntimeError), variant_context("unfixed_orphan"):
        raise RuntimeError("boom")
    assert engine_attributes() == before


@pytest.mark.parametrize("name", sorted(EXPECTED_CATCH))
def test_variant_is_caught(name: str) -> None:
    scenario_name, seed = EXPECTED_CATCH[name]
    scenario = get_scenario(scenario_name)
    broken = simulate(scenario, seed, variant=name)
    assert broken.violations, f"{name} not caught by {scenario_name} seed {seed}"
    assert CAUGHT_BY[name] in {v.invariant for v in broken.violations}
    # The same seed on the restored engine is clean: the variant left nothing behind.
    correct = simulate(scenario, seed)
    assert not correct.violations, [v.describe() for v in correct.violations]
    assert correct.digest != broken.digest or correct.violations != broken.violations


def _first_catch(name: str) -> tuple[str, int] | None:
    mix = [get_scenario(s) for s in SWEEP_MIX.get(name, ())] or default_mix()
    for seed in range(SWEEP_BOUND):
        for scenario in mix:
            if simulate(scenario, seed, variant=name).violations:
                return scenario.name, seed
    return None


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(VARIANTS) - set(USER_PLAN_CAUGHT)))
def test_bounded_sweep_catches_variant(name: str) -> None:
    found = _first_catch(name)
    assert found is not None, f"{name}: no violation in {SWEEP_BOUND} seeds of its mix"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_patch_applies_to_the_engine(name: str) -> None:
    """An engine change that moves a variant's snippet fails here, naming the variant."""
    variant = VARIANTS[name]
    assert variant.patches, f"{name} is not built from patches of the engine"
    for patch in variant.patches:
        original, made = apply(name, patch)
        assert made is not original
        assert made.__module__ == original.__module__  # engine globals: its frames are engine's
        assert made.__qualname__ == original.__qualname__


def _identity(patch: FunctionPatch) -> FunctionPatch:
    return attrs.evolve(patch, edits=tuple(Edit(e.old, e.old) for e in patch.edits))


@pytest.mark.parametrize("scenario_name", ["linear", "retry_heavy", "child_runs", "skip_tags"])
def test_the_seam_alone_changes_no_schedule(scenario_name: str) -> None:
    """Every function a variant patches, recompiled through the seam with no edit made, runs
    exactly like the engine (same trace digest): a variant's behaviour is its edits alone."""
    identities = {
        (p.module, p.qualname): _identity(p) for v in VARIANTS.values() for p in v.patches
    }
    scenario = get_scenario(scenario_name)
    for seed in range(15):
        want = simulate(scenario, seed).digest
        with patched("identity", list(identities.values())):
            got = simulate(scenario, seed).digest
        assert got == want, f"{scenario_name} seed {seed}: the seam changed the schedule"


def test_a_stale_snippet_names_the_variant_and_the_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stale = FunctionPatch(
        "mfm_engine.runtime.engine",
        "DefaultExecutionEngine._resume",
        (Edit("if orphan is not None and False:", "pass"),),
    )
    factory = functools.partial(patched, "stale", (stale,))
    monkeypatch.setitem(VARIANTS, "stale", Variant("stale", "no longer applies", factory, (stale,)))
    before = engine_attributes()
    with pytest.raises(StalePatch) as err, variant_context("stale"):
        pass
    message = str(err.value)
    assert "'stale'" in message
    assert "mfm_engine.runtime.engine.DefaultExecutionEngine._resume" in message
    assert "0 occurrences" in message
    assert engine_attributes() == before
