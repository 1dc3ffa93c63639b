"""Checks added by mutation testing of engine/runtime (see docs/mutation.md).

Each test kills mutants that the sim sweep once let through:

* the invariants `honest_errors`, `clean_schedule` and `log_contract` (once supplementary
  oracles of the mutation sweep, now part of `mfm-sim run`): honest faults never end a call
  in a non-storage error; a fault-free schedule finishes in one incarnation; the log's error
  and timestamp contract. They must hold over a small sweep of every scenario, including
  `handler_exceptions`;
* the `RunResult` a call returns names the run and the phase on every return path (the sim
  records only the phase and snapshot of terminal results, never the run id).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from mfm_engine import InMemoryEventStore, RunPhase, Stores
from mfm_engine.errors import ErrorCategory, StateError, info

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.registry import invariant_names
from mfm_sim.run.scenario import all_scenarios
from tests.engine.helpers import (
    failpoint,
    failures,
    make_engine,
    new_stores,
    plan,
    read_stream,
    run,
    start,
)

PROMOTED = ("honest_errors", "clean_schedule", "log_contract")

SEEDS = 12


@pytest.mark.parametrize("name", sorted(s.name for s in all_scenarios()))
def test_promoted_oracles_hold(name: str) -> None:
    assert set(PROMOTED) <= set(invariant_names())  # so `result.violations` judges them
    scenario = get_scenario(name)
    for seed in range(SEEDS):
        result = simulate(scenario, seed, keep_trace=False)
        assert not result.violations, (seed, result.violations[0])


def test_handler_exception_is_a_permanent_state_failure() -> None:
    seen = 0
    for seed in range(SEEDS):
        result = simulate(
            get_scenario("handler_exceptions"), seed, keep_trace=False, keep_observation=True
        )
        for view in result.observation.runs.values():
            for env in view.stream:
                err = getattr(env.event, "error", None)
                if err is not None and err.code == "handler_exception":
                    seen += 1
                    assert err.category is ErrorCategory.UNKNOWN
                    assert err.retryable is False
                    assert err.message.split(":")[0] in {
                        "ValueError",
                        "KeyError",
                        "ZeroDivisionError",
                        "RuntimeError",
                    }
    assert seen


S1, S2 = "op.s.one", "op.s.two"


async def _ok(ctx: Any, io: Any, ev: Any) -> None:
    ctx.write("n", ctx.read("n", 0) + 1)


async def _fatal(ctx: Any, io: Any, ev: Any) -> None:
    raise StateError(info("invalid_request", ErrorCategory.PARSING_INPUT, "no", retryable=False))


async def _copy_without_run_completed(stores: Stores, run_id: uuid.UUID) -> Stores:
    """The same run, as if the process died just before appending `RunCompleted`."""
    stream = await read_stream(stores, run_id)
    events = InMemoryEventStore()
    await events.append(run_id, 0, stream[:-1])
    return Stores(stores.artifacts, events)


@pytest.mark.parametrize("second, phase", [(_ok, RunPhase.COMPLETED), (_fatal, RunPhase.FAILED)])
def test_every_return_path_names_the_run_and_phase(second: Any, phase: RunPhase) -> None:
    async def main() -> None:
        p = plan((S1, _ok), (S2, second))
        stores = new_stores()
        first = await start(stores, p)
        assert isinstance(first.run_id, uuid.UUID)
        assert first.phase is phase and first.final_snapshot_id

        # resume of a finished run
        again = await make_engine(p).resume(stores, first.run_id)
        assert (again.run_id, again.phase, again.final_snapshot_id) == (
            first.run_id,
            phase,
            first.final_snapshot_id,
        )

        # resume after a crash just before RunCompleted: closes the run from its log
        cut = await _copy_without_run_completed(stores, first.run_id)
        closed = await make_engine(p).resume(cut, first.run_id)
        assert (closed.run_id, closed.phase) == (first.run_id, phase)
        assert closed.final_snapshot_id == first.final_snapshot_id

    run(main())


def test_failpoint_stop_names_the_run() -> None:
    async def main() -> None:
        p = plan((S1, _ok))
        stores = new_stores()
        stopped = await start(stores, p, failpoints=failpoint())
        assert stopped.phase is RunPhase.RUNNING
        assert isinstance(stopped.run_id, uuid.UUID) and stopped.final_snapshot_id
        assert (await read_stream(stores, stopped.run_id))[0].seq == 1
        done = await make_engine(p).resume(stores, stopped.run_id)
        assert (done.run_id, done.phase) == (stopped.run_id, RunPhase.COMPLETED)
        codes = [f.error.code for f in failures(await read_stream(stores, stopped.run_id))]
        assert codes == ["orphan_attempt_recovered"]

    run(main())
