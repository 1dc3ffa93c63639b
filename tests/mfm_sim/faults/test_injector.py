"""mfm_sim.faults.injector: BUGGIFY-style sites, one draw per fault point, budgets, pausing,
scripted replay by (step, site), setup faults, and the one place the step moves."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

import mfm_sim
from mfm_sim.faults.injector import SETUP_STEP, Injector
from mfm_sim.faults.kinds import ALL_KINDS, FAULTS, MAX_LATENCY_MS, Fault, FaultKind
from mfm_sim.faults.swarm import FaultConfig
from mfm_sim.world.rng import Rng

K = FaultKind


class CountingRng:
    """An Rng that counts its draws (every method here goes through next_u64)."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = Rng(seed)
        self.draws = 0

    def random(self) -> float:
        self.draws += 1
        return self._rng.random()

    def below(self, n: int) -> int:
        self.draws += 1
        return self._rng.below(n)


class ScriptedRng:
    """Returns the given floats from `random()`; `below(n)` returns n - 1."""

    def __init__(self, values: Iterable[float]) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)

    def below(self, n: int) -> int:
        return n - 1


class NoRng:
    def random(self) -> float:
        raise AssertionError("drew from the faults stream")

    def below(self, n: int) -> int:
        raise AssertionError("drew from the faults stream")


# ------------------------------------------------------------------------------- Injector


def _config(
    *rates: tuple[FaultKind, float], budget: int | None = None, activation: float = 1.0
) -> FaultConfig:
    return FaultConfig(tuple(rates), budget, activation)


def test_without_config_nothing_fires_but_every_point_is_counted() -> None:
    inj = Injector(NoRng(), None)  # type: ignore[arg-type]
    assert inj.budget == 0
    assert inj.exhausted
    for n in range(1, 6):
        assert inj.decide("events.append", size=3) is None
        assert inj.step == n
    assert inj.fired == []


def test_advance_counts_one_fault_point_and_returns_its_step() -> None:
    inj = Injector(NoRng(), None)  # type: ignore[arg-type]
    assert [inj.advance(), inj.advance(), inj.step] == [1, 2, 2]
    assert inj.fired == []


def _step_writers(root: Path) -> set[tuple[str, str]]:
    """(module, function) of every assignment to an attribute named `step` below `root`."""
    out = set()
    for path in sorted(root.rglob("*.py")):
        for func in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                    targets = [node.target]
                else:
                    continue
                if any(isinstance(t, ast.Attribute) and t.attr == "step" for t in targets):
                    out.add((path.relative_to(root).as_posix(), func.name))
    return out


def test_only_advance_moves_the_step() -> None:
    # Schedules and replay name faults by step: one place moves it, so no path counts twice.
    root = Path(mfm_sim.__file__).parent
    assert _step_writers(root) == {
        ("faults/injector.py", "__init__"),
        ("faults/injector.py", "advance"),
    }


def test_budget_stops_faults() -> None:
    inj = Injector(Rng(1), _config((K.TRANSIENT_ERROR, 1.0), budget=3))
    got = [inj.decide("events.head_seq") for _ in range(10)]
    assert [f is not None for f in got] == [True] * 3 + [False] * 7
    assert inj.budget == 0 and inj.exhausted
    assert inj.step == 10
    assert [f.step for f in inj.fired] == [1, 2, 3]


def test_unrestricted_mode_never_runs_out() -> None:
    inj = Injector(Rng(1), _config((K.TRANSIENT_ERROR, 1.0), budget=None))
    assert all(inj.decide("events.head_seq") is not None for _ in range(50))
    assert inj.budget is None and not inj.exhausted


def test_fired_fault_records_where_and_when() -> None:
    inj = Injector(Rng(1), _config((K.TRANSIENT_ERROR, 1.0), budget=5))
    inj.incarnation = 4
    inj.now_ns = lambda: 777
    inj.decide("events.read_range")
    fault = inj.decide("service", target="ledger")
    assert fault == Fault(2, K.TRANSIENT_ERROR, "service", 0, 4, 777, "ledger")
    assert inj.fired[-1] is fault
    assert inj.budget == 3


def test_paused_counts_steps_draws_nothing_and_spends_no_budget() -> None:
    inj = Injector(NoRng(), _config((K.TRANSIENT_ERROR, 1.0), budget=2))  # type: ignore[arg-type]
    inj.paused = True
    assert inj.exhausted
    assert [inj.decide("events.append") for _ in range(4)] == [None] * 4
    assert inj.step == 4 and inj.budget == 2
    assert inj.decide_setup("manifest.put", NoRng()) is None  # type: ignore[arg-type]


def test_site_without_applicable_kinds_never_fires() -> None:
    # Handler faults do not apply to store calls, and vice versa.
    inj = Injector(Rng(0), _config((K.HANDLER_FAILURE, 1.0), budget=None))
    assert all(inj.decide("events.append") is None for _ in range(20))
    assert inj.decide("handler") is not None


def test_buggify_activation_is_decided_once_per_site() -> None:
    """With a rate of 1 a switched-on site fires at every call and a switched-off one never."""
    outcomes = set()
    for seed in range(40):
        inj = Injector(Rng(seed), _config((K.TRANSIENT_ERROR, 1.0), budget=None, activation=0.5))
        for site in ("events.head_seq", "artifacts.get"):
            fired = [inj.decide(site) is not None for _ in range(15)]
            assert len(set(fired)) == 1, (seed, site, fired)
            outcomes.add(fired[0])
    assert outcomes == {True, False}


def test_activation_zero_never_fires_activation_one_always_switches_on() -> None:
    off = Injector(Rng(3), _config((K.LATENCY, 1.0), budget=None, activation=0.0))
    assert all(off.decide("artifacts.put") is None for _ in range(20))
    on = Injector(Rng(3), _config((K.LATENCY, 1.0), budget=None, activation=1.0))
    assert all(on.decide("artifacts.put") is not None for _ in range(20))


def test_each_kind_draws_once_per_fault_point_after_one_activation_draw() -> None:
    """With one shared Rng (as here) every switched-on kind draws at every point."""
    rng = CountingRng()
    kinds = ((K.CRASH_BEFORE_EFFECT, 1e-12), (K.TRANSIENT_ERROR, 1e-12), (K.LATENCY, 1e-12))
    inj = Injector(rng, _config(*kinds, budget=None))  # type: ignore[arg-type]
    inj.decide("events.head_seq")
    assert rng.draws == 3 + 3  # three activations, then one draw per kind
    for n in range(2, 12):
        inj.decide("events.head_seq")
        assert rng.draws == 3 + 3 * n
    inj.decide("handler")  # no applicable kind switched on: no draw at all
    assert rng.draws == 3 + 3 * 11


def test_each_kind_decides_with_its_own_draw_and_the_first_in_table_order_wins() -> None:
    cfg = _config((K.TRANSIENT_ERROR, 0.3), (K.LATENCY, 0.2), budget=None)

    def pick(transient: float, latency: float) -> FaultKind | None:
        # Activations (transient, latency), then each kind's draw, in table order.
        inj = Injector(ScriptedRng([0.0, 0.0, transient, latency]), cfg)  # type: ignore[arg-type]
        fault = inj.decide("events.head_seq")
        return fault.kind if fault else None

    assert pick(0.0, 0.0) is K.TRANSIENT_ERROR
    assert pick(0.2999, 0.9) is K.TRANSIENT_ERROR
    assert pick(0.3, 0.1999) is K.LATENCY
    assert pick(0.3, 0.2) is None
    assert pick(0.99, 0.99) is None


def test_a_kinds_decisions_come_from_its_own_stream() -> None:
    """Another kind switched on beside it changes none of a kind's draws (per-kind streams)."""
    from mfm_sim.world.rng import Streams

    def firings(*rates: tuple[FaultKind, float]) -> list[int]:
        inj = Injector(Streams(7), _config(*rates, budget=None))
        got = [inj.decide("events.append", size=3) for _ in range(300)]
        return [i for i, f in enumerate(got) if f is not None and f.kind is K.TRANSIENT_ERROR]

    alone = firings((K.TRANSIENT_ERROR, 0.2))
    beside = firings((K.TRANSIENT_ERROR, 0.2), (K.LATENCY, 0.5))
    assert alone and alone == beside


def test_fault_arguments() -> None:
    # below(n) returns n - 1 in ScriptedRng: the largest argument each kind can get.
    def arg(kind: FaultKind, site: str, size: int = 1) -> int:
        inj = Injector(ScriptedRng([0.0, 0.0]), _config((kind, 1.0), budget=None))  # type: ignore[arg-type]
        fault = inj.decide(site, size=size)
        assert fault is not None
        return fault.arg

    assert arg(K.CRASH_MID_APPEND, "events.append", size=5) == 4  # a strict prefix
    assert arg(K.LATENCY, "artifacts.get") == MAX_LATENCY_MS
    assert arg(K.CRASH_IN_HANDLER, "handler") == 1
    assert arg(K.HANDLER_FAILURE, "handler") == 1
    assert arg(K.TRANSIENT_ERROR, "events.append") == 0
    for seed in range(30):
        inj = Injector(Rng(seed), _config((K.CRASH_MID_APPEND, 1.0), budget=None))
        f = inj.decide("events.append", size=3)
        assert f is not None and 1 <= f.arg <= 2


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.value)
def test_fault_arguments_span_the_tables_range(kind: FaultKind) -> None:
    class LowRng(ScriptedRng):
        def below(self, n: int) -> int:
            return 0

    args, size = FAULTS[kind].args, 5
    for site in set(FAULTS[kind].sites) - {"manifest.put", "buggify"}:  # decided elsewhere
        drawn = []
        for rng in (LowRng([0.0, 0.0]), ScriptedRng([0.0, 0.0])):
            inj = Injector(rng, _config((kind, 1.0), budget=None))  # type: ignore[arg-type]
            fault = inj.decide(site, size=size)
            assert fault is not None and fault.kind is kind
            drawn.append(fault.arg)
        assert drawn == [args.values(size)[0], args.values(size)[-1]], (site, drawn)


def test_mid_append_needs_two_events() -> None:
    inj = Injector(Rng(0), _config((K.CRASH_MID_APPEND, 1.0), budget=4))
    assert inj.decide("events.append", size=1) is None
    assert inj.decide("events.append", size=0) is None
    assert inj.budget == 4 and inj.fired == []
    assert inj.decide("events.append", size=2) is not None


# ------------------------------------------------------------------------- scripted replay


def test_scripted_replay_fires_by_step_and_site_and_draws_nothing() -> None:
    script = [
        Fault(2, K.TRANSIENT_ERROR, "events.head_seq"),
        Fault(4, K.CRASH_MID_APPEND, "events.append", 1),
    ]
    inj = Injector(NoRng(), None, script)  # type: ignore[arg-type]
    inj.incarnation = 1
    assert inj.decide("events.head_seq") is None  # step 1: nothing scripted
    assert not inj.exhausted
    f2 = inj.decide("events.head_seq")  # step 2
    assert f2 is not None and (f2.step, f2.kind, f2.incarnation) == (2, K.TRANSIENT_ERROR, 1)
    assert inj.decide("events.read_range") is None  # step 3
    # The scripted argument is replayed as given, even for a one-event append.
    f4 = inj.decide("events.append", size=1)
    assert f4 is not None and (f4.kind, f4.arg) == (K.CRASH_MID_APPEND, 1)
    assert inj.exhausted
    assert inj.decide("events.append") is None
    assert [f.step for f in inj.fired] == [2, 4]


def test_scripted_fault_on_another_site_is_skipped() -> None:
    inj = Injector(NoRng(), None, [Fault(1, K.TRANSIENT_ERROR, "events.append")])  # type: ignore[arg-type]
    assert inj.decide("events.head_seq") is None
    assert inj.fired == []
    assert inj.exhausted


def test_scripted_replay_ignores_budget_and_config() -> None:
    cfg = _config((K.LATENCY, 1.0), budget=1)
    script = [Fault(s, K.TRANSIENT_ERROR, "events.head_seq") for s in (1, 2, 3)]
    inj = Injector(NoRng(), cfg, script)  # type: ignore[arg-type]
    got = [inj.decide("events.head_seq") for _ in range(4)]
    assert [f.kind if f else None for f in got] == [K.TRANSIENT_ERROR] * 3 + [None]


def test_empty_script_is_fault_free() -> None:
    inj = Injector(NoRng(), _config((K.LATENCY, 1.0), budget=8), [])  # type: ignore[arg-type]
    assert inj.exhausted
    assert all(inj.decide("artifacts.get") is None for _ in range(5))


# --------------------------------------------------------------------------- decide_setup


def test_setup_fault_at_step_zero_from_its_own_stream() -> None:
    inj = Injector(NoRng(), _config((K.CORRUPTED_ARTIFACT, 1.0), budget=2))  # type: ignore[arg-type]
    fault = inj.decide_setup("manifest.put", Rng(0))
    assert fault is not None
    assert (fault.step, fault.kind, fault.site) == (
        SETUP_STEP,
        K.CORRUPTED_ARTIFACT,
        "manifest.put",
    )
    assert inj.step == 0  # not a step
    assert inj.budget == 1
    assert inj.fired == [fault]


def test_setup_fault_needs_the_kind_and_activation() -> None:
    assert Injector(NoRng(), None).decide_setup("manifest.put", Rng(0)) is None  # type: ignore[arg-type]
    no_kind = Injector(NoRng(), _config((K.LATENCY, 1.0), budget=2))  # type: ignore[arg-type]
    assert no_kind.decide_setup("manifest.put", Rng(0)) is None
    off = Injector(NoRng(), _config((K.CORRUPTED_ARTIFACT, 1.0), budget=2, activation=0.0))  # type: ignore[arg-type]
    assert off.decide_setup("manifest.put", Rng(0)) is None


def test_setup_fault_replays_from_the_script() -> None:
    script = [Fault(0, K.CORRUPTED_ARTIFACT, "manifest.put"), Fault(1, K.LATENCY, "handler")]
    inj = Injector(NoRng(), None, script)  # type: ignore[arg-type]
    got = inj.decide_setup("manifest.put", NoRng())  # type: ignore[arg-type]
    assert got is not None and got.step == 0
    assert (
        Injector(NoRng(), None, script[1:]).decide_setup(  # type: ignore[arg-type]
            "manifest.put",
            NoRng(),  # type: ignore[arg-type]
        )
        is None
    )


def test_setup_rate_is_respected() -> None:
    fired = sum(
        Injector(NoRng(), _config((K.CORRUPTED_ARTIFACT, 0.1), budget=2)).decide_setup(  # type: ignore[arg-type]
            "manifest.put", Rng(seed)
        )
        is not None
        for seed in range(400)
    )
    assert 15 <= fired <= 70


def test_quiet_exactly_when_a_point_can_only_count_its_step() -> None:
    # The store wrappers trust `quiet` to skip `decide`: it must be True only when `decide`
    # would count the step and return None without drawing or recording anything.
    assert Injector(NoRng(), None).quiet  # type: ignore[arg-type]
    inj = Injector(Rng(1), _config((K.TRANSIENT_ERROR, 1.0), budget=2))
    assert not inj.quiet
    inj.paused = True
    assert inj.quiet
    inj.paused = False
    assert not inj.quiet
    inj.decide("events.head_seq")
    assert not inj.quiet  # one fault of the budget left
    inj.decide("events.head_seq")
    assert inj.budget == 0 and inj.quiet  # spent: the liveness phase
    inj.sites = []
    assert not inj.quiet  # every step's site must be recorded
    inj.decide("events.head_seq")
    assert inj.sites == ["events.head_seq"]
    inj.sites = None
    assert inj.quiet
    assert not Injector(NoRng(), None, schedule=[]).quiet  # type: ignore[arg-type]
    assert not Injector(Rng(1), _config((K.TRANSIENT_ERROR, 1.0), budget=None)).quiet


def test_a_quiet_decide_counts_the_step_and_draws_nothing() -> None:
    inj = Injector(NoRng(), _config((K.TRANSIENT_ERROR, 1.0), budget=0))  # type: ignore[arg-type]
    assert inj.quiet
    assert [inj.decide("artifacts.get") for _ in range(3)] == [None] * 3
    assert inj.step == 3 and inj.fired == []
