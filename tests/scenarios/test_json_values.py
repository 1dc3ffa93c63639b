"""JSON values of every kind with secrets among them (`mfm_scenarios.json_values`)."""

from __future__ import annotations

from mfm_scenarios.generated import draw
from mfm_scenarios.json_values import FEATURE, add_json_values
from mfm_scenarios.program import EMIT, WRITE, Op, Program

from mfm_sim import get_scenario, simulate
from mfm_sim.invariants.spec.secrets import has_secret
from mfm_sim.world.rng import Rng, Streams


def _drawn(seed: int) -> list[Op]:
    programs = [Program((Op(WRITE, "a", value=1),), ()) for _ in range(4)]
    add_json_values(Rng(seed, "t"), programs)
    return [op for p in programs for op in p.ops if op.key != "a"]


def test_events_hold_secrets_behind_odd_members_and_writes_hold_null_and_booleans() -> None:
    emits = writes = secret = plain = odd = 0
    phrases: set[str] = set()
    for seed in range(200):
        for op in _drawn(seed):
            if op.kind == EMIT:
                emits += 1
                assert op.catch and op.name == "values"
                if has_secret(op.value):
                    secret += 1
                else:
                    plain += 1
                text = repr(op.value)
                odd += any(w in text for w in ("1.5", "Text(", "Level.", "Bag(", "b'x'"))
                phrases.update(
                    v
                    for v in (op.value.values() if isinstance(op.value, dict) else op.value)
                    if isinstance(v, str) and v.count(" ") == 11
                )
            else:
                assert op.kind == WRITE
                writes += 1
    assert emits > 100 and writes > 50
    assert secret > plain > 10
    assert odd > 20
    assert len(phrases) > 5  # fresh phrases: no two seeds share one


def test_no_plain_payload_holds_an_odd_member() -> None:
    for seed in range(200):
        for op in _drawn(seed):
            if op.kind == EMIT and not has_secret(op.value):
                assert "1.5" not in repr(op.value) and "b'x'" not in repr(op.value)


def test_the_sweep_draws_it_and_the_correct_engine_passes() -> None:
    seeds = [s for s in range(40) if FEATURE in draw(Streams(s).stream("scenario")).features]
    assert len(seeds) >= 8
    for seed in seeds[:6]:
        result = simulate(get_scenario("generated"), seed, keep_trace=False)
        assert result.ok, result.violations
