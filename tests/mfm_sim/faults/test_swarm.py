"""mfm_sim.faults.swarm: one seed's swarm draw (kinds, rates, budget, activation)."""

from __future__ import annotations

from collections.abc import Iterable

from mfm_sim.faults.kinds import ALL_KINDS, FAULTS, FaultKind
from mfm_sim.faults.swarm import MAX_RATE, SITE_ACTIVATION, FaultConfig
from mfm_sim.world.rng import Streams

K = FaultKind


def _swarm(seed: int, allowed: Iterable[FaultKind] = ALL_KINDS, **kw: bool) -> FaultConfig:
    return FaultConfig.draw(Streams(seed), tuple(allowed), **kw)


# ------------------------------------------------------------------------ FaultConfig.draw


def test_draw_is_deterministic() -> None:
    for seed in range(10):
        assert _swarm(seed) == _swarm(seed)


def test_swarm_subsets_differ_across_seeds() -> None:
    subsets = {_swarm(seed).kinds for seed in range(60)}
    assert len(subsets) > 20
    # Not everything on at once: most seeds enable a strict subset.
    assert sum(1 for s in subsets if len(s) < len(ALL_KINDS)) >= len(subsets) - 1
    for seed in range(60):
        cfg = _swarm(seed)
        assert cfg.activation == SITE_ACTIVATION
        for kind, rate in cfg.rates:
            if kind is K.BUGGIFY:  # on or off only: users' own sites set their odds
                assert rate == 0.0
                continue
            assert 0.01 <= rate < (FAULTS[kind].max_rate or MAX_RATE), (kind, rate)
        assert list(cfg.kinds) == [k for k in ALL_KINDS if k in cfg.kinds]  # canonical order


def test_every_kind_is_switched_on_by_some_seed_and_off_by_another() -> None:
    on = [set(_swarm(seed).kinds) for seed in range(60)]
    for kind in ALL_KINDS:
        assert any(kind in s for s in on), kind
        assert any(kind not in s for s in on), kind


def test_filtering_allowed_kinds_does_not_shift_other_draws() -> None:
    allowed = (K.CRASH_AFTER_EFFECT, K.LATENCY, K.HANDLER_FAILURE)
    for seed in range(60):
        full = _swarm(seed)
        some = _swarm(seed, allowed)
        assert some.rates == tuple((k, r) for k, r in full.rates if k in allowed)
        assert some.budget == full.budget
        none = _swarm(seed, ())
        assert none.rates == () and none.budget == full.budget


def test_budget_one_to_eight_in_recoverable_mode_none_in_unrestricted() -> None:
    budgets = {_swarm(seed).budget for seed in range(300)}
    assert budgets == set(range(1, 9))
    for seed in range(30):
        free = _swarm(seed, recoverable=False)
        assert free.budget is None
        assert free.rates == _swarm(seed).rates  # the mode changes only the budget


def test_no_swarm_enables_every_allowed_kind_at_a_fixed_rate() -> None:
    allowed = (K.TRANSIENT_ERROR, K.LATENCY)
    cfg = _swarm(5, allowed, swarm=False)
    assert cfg.rates == ((K.TRANSIENT_ERROR, 0.05), (K.LATENCY, 0.05))
    assert cfg.activation == 1.0
    assert cfg.budget == _swarm(5).budget


def test_config_to_json() -> None:
    cfg = FaultConfig(((K.LATENCY, 0.0123456789), (K.TRANSIENT_ERROR, 0.05)), None, 0.5)
    assert cfg.to_json() == {
        "rates": {"latency": 0.012346, "transient_error": 0.05},
        "budget": None,
        "activation": 0.5,
    }


def test_the_draw_takes_each_kinds_first_two_draws_of_its_stream() -> None:
    # `draw` reads each kind's first two draws without making the stream; they must be the
    # values `swarm_stream` hands out, or seeds would re-key.
    from mfm_sim.faults.kinds import ALL_KINDS, FAULTS
    from mfm_sim.faults.swarm import MAX_RATE, FaultConfig, swarm_stream
    from mfm_sim.world.rng import Streams

    for seed in range(40):
        config = FaultConfig.draw(Streams(seed), ALL_KINDS)
        want = []
        streams = Streams(seed)
        for kind in ALL_KINDS:
            rng = swarm_stream(streams, kind)
            on = rng.random() < 0.5
            high = FAULTS[kind].max_rate or MAX_RATE
            rate = 0.01 + rng.random() * (high - 0.01)
            if on:
                want.append((kind, 0.0 if kind.value == "buggify" else rate))
        assert config.rates == tuple(want)
