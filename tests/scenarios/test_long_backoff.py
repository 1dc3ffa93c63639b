"""Thirty-three retries under an uncapped exponential policy: drawn, run as predicted, the
retry after attempt 32 timed at ENGINE.md's cap, and an engine without the cap caught."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mfm_engine.config import Exponential, RunConfig
from mfm_engine.events import StateEntered, StateFailed
from mfm_scenarios.generated import SCENARIO, draw
from mfm_scenarios.long_backoff import BASE, FAILURES, draw_long_backoff
from mfm_scenarios.program import FAIL, Op, Program

from mfm_sim import simulate
from mfm_sim.run.seeded_history import SeededHistory
from mfm_sim.world.rng import Rng, Streams


def _draw(seed: int) -> Any:
    return draw(Streams(seed).stream("scenario"))


def _seeds(limit: int) -> list[int]:
    return [s for s in range(400) if "long_backoff" in _draw(s).features][:limit]


def _drawn() -> tuple[list[Program], RunConfig]:
    for seed in range(2000):
        programs = [Program((Op(FAIL, name="x", attempts=(0,)),)), Program(())]
        cfg = draw_long_backoff(Rng(seed, "long"), programs, RunConfig(), history=None)
        if cfg is not None:
            return programs, cfg
    raise AssertionError("never drawn")


def test_the_policy_leaves_room_for_the_retries_and_never_caps_the_exponent() -> None:
    programs, cfg = _drawn()
    policy = cfg.retry_policy
    assert policy.max_attempts > FAILURES
    assert isinstance(policy.backoff, Exponential)
    assert policy.backoff.max_delay > BASE * 2**31
    failing = [op for p in programs for op in p.ops if op.attempts == tuple(range(FAILURES))]
    assert len(failing) == 1 and failing[0].retryable
    history = SeededHistory(())
    assert all(
        draw_long_backoff(Rng(s, "long"), programs, RunConfig(), history=history) is None
        for s in range(200)
    )


def _gap_after(stream: Any, attempt: int) -> int | None:
    """Milliseconds between the StateFailed of `attempt` and the next StateEntered."""
    failed, current = None, -1
    for env in stream:
        ev = env.event
        if isinstance(ev, StateEntered):
            if failed is not None and ev.attempt == attempt + 1:
                return env.ts_millis - failed  # type: ignore[no-any-return]
            current = ev.attempt
        elif isinstance(ev, StateFailed) and current == attempt:
            failed = env.ts_millis
    return None


def test_the_retry_after_attempt_32_waits_the_capped_exponent() -> None:
    timed = 0
    for seed in _seeds(4):
        result = simulate(SCENARIO, seed, faults=(), keep_trace=False, keep_observation=True)
        assert result.violations == (), (seed, result.violations)
        obs = result.observation
        gap = _gap_after(obs.runs[obs.main_run_id].stream, FAILURES - 1)
        if gap is not None:
            timed += 1
            assert timedelta(milliseconds=gap) == BASE * 2**31, seed
    assert timed


def test_an_exponent_capped_at_32_is_caught() -> None:
    caught = [
        s
        for s in _seeds(10)
        if any(
            v.invariant == "retry_timing"
            for v in simulate(SCENARIO, s, variant="backoff_exponent_uncapped").violations
        )
    ]
    assert caught
