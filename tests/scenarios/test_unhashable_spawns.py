"""Spawns with an initial context that has no canonical form: refused, and the oracle agrees."""

from __future__ import annotations

import json
from functools import partial

from mfm_engine.errors import ErrorCategory, ErrorInfo, IoError, IoErrorKind
from mfm_scenarios.generated import SCENARIO, draw
from mfm_scenarios.inspect_errors import predicted_shape, shape
from mfm_scenarios.interpreter import _request_refusal
from mfm_scenarios.program import CALL, SPAWN_NAMESPACE, Op, Program
from mfm_scenarios.unhashable_spawns import UNHASHABLE_CONTEXTS, _request, add_unhashable_spawns

from mfm_sim.run.simulate import simulate
from mfm_sim.world.rng import Rng, Streams


def test_each_unhashable_spawn_is_predicted_refused_as_a_malformed_request() -> None:
    for initial in UNHASHABLE_CONTEXTS:
        assert _request_refusal(SPAWN_NAMESPACE, _request(initial)) == "child_run_request_invalid"


def test_a_refusal_whose_message_is_not_a_string_is_seen_untyped() -> None:
    """What kills an engine that drops the refusal's message: the handler's record of it."""
    want = predicted_shape("child_run_request_invalid", False)
    good = IoError(
        IoErrorKind.OTHER,
        _info("child initial_context is not canonical JSON: floats are not allowed"),
    )
    assert shape(good) == want
    bad = IoError(IoErrorKind.OTHER, _info(None))
    assert shape(bad) != want and shape(bad)["typed"] is False


def _info(message: object) -> ErrorInfo:
    code = "child_run_request_invalid"
    return ErrorInfo(code, ErrorCategory.PARSING_INPUT, False, message, None)  # type: ignore[arg-type]


def test_the_feature_puts_one_inspected_spawn_first_in_every_program() -> None:
    seen_on = False
    for seed in range(40):
        programs = [Program((Op(CALL, key="k", name="kv"),)) for _ in range(3)]
        on = add_unhashable_spawns(Rng(seed, "t"), programs, partial(Op, CALL))
        if not on:
            assert all(len(p.ops) == 1 for p in programs)
            continue
        seen_on = True
        assert on == {"unhashable_spawns"}
        for program in programs:
            first = program.ops[0]
            assert (first.name, first.catch, first.inspect) == (SPAWN_NAMESPACE, True, True)
            assert first.fact_key is not None
            assert first.value["initial_context"] in UNHASHABLE_CONTEXTS
    assert seen_on


def test_the_sweep_refuses_an_unhashable_spawn_and_the_oracle_agrees() -> None:
    """The first generated seeds whose spawn with a float in the child's context is refused:
    the handler records a typed `child_run_request_invalid`, and no invariant fires."""
    checked = 0
    for seed in range(200):
        if "unhashable_spawns" not in draw(Streams(seed).stream("scenario")).features:
            continue
        result = simulate(SCENARIO, seed, keep_trace=False, keep_observation=True)
        assert result.violations == ()
        obs = result.observation
        assert obs is not None
        if obs.final_snapshot_id is None:
            continue
        try:
            final = json.loads(obs.artifacts[obs.final_snapshot_id])
        except ValueError:  # a fault left the stored bytes corrupt (the engine refused them)
            continue
        seen = [final[k] for k in final if k.startswith("seen_u")]
        if not seen:
            continue
        assert all(s == predicted_shape("child_run_request_invalid", False) for s in seen)
        checked += 1
        if checked == 3:
            return
    raise AssertionError(f"only {checked} seeds with an inspected unhashable spawn in 200")
