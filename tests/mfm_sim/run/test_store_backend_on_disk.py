"""The engine's real stores on the simulated disk, through `simulate(store=...)`: the correct
stores pass a bounded sweep, each flawed one is caught by one, and a schedule replays.

Needs the simulated disk (`mfm_sim.world.disk`) and apsw; skipped where either is missing.
The sweep allows every fault kind except the disk's lies and its latency: what the invariants
make of a lying disk, and of latency at disk sites, is the disk faults' own integration.
"""

from __future__ import annotations

import pytest

pytest.importorskip("apsw")
pytest.importorskip("mfm_sim.world.disk")
pytest.importorskip("mfm_sim.world.disk_vfs")

from mfm_sim.faults.kinds import FAULTS, FaultClass, FaultKind
from mfm_sim.run.scenario import get_scenario
from mfm_sim.run.simulate import simulate

HONEST_DISK = tuple(
    k
    for k in FaultKind
    if not k.value.startswith("disk_")
    or (FAULTS[k].fault_class is not FaultClass.LYING and k.value != "disk_latency")
)
SCENARIOS = ("linear", "crash_loop", "retry_heavy", "diamond_io")


def _failing(store: str, seeds: range, scenarios: tuple[str, ...] = SCENARIOS) -> list[str]:
    out = []
    for name in scenarios:
        for seed in seeds:
            result = simulate(get_scenario(name), seed, store=store, faults=HONEST_DISK)
            out += [f"{name} {seed} {v.invariant}: {v.message}" for v in result.violations]
    return out


@pytest.mark.parametrize("store", ["sqlite", "jsonl"])
def test_the_correct_stores_pass_a_sweep(store: str) -> None:
    assert _failing(store, range(25)) == []


@pytest.mark.parametrize(
    ("store", "seeds", "scenarios"),
    [
        ("sqlite:synchronous_off", range(10), ("linear",)),
        ("sqlite:append_two_transactions", range(60), ("crash_loop",)),
        ("jsonl:no_torn_tail_repair", range(40), ("linear", "crash_loop")),
    ],
)
def test_a_bounded_sweep_catches_each_flawed_store(
    store: str, seeds: range, scenarios: tuple[str, ...]
) -> None:
    failing = _failing(store, seeds, scenarios)
    assert failing, f"{store}: no violation in seeds {seeds} of {scenarios}"
    assert any(" durability: " in line for line in failing), failing[:3]


@pytest.mark.parametrize("store", ["sqlite", "jsonl"])
def test_a_disk_schedule_is_deterministic_and_replays(store: str) -> None:
    scenario = get_scenario("crash_loop")
    first = simulate(scenario, 7, store=store, faults=HONEST_DISK)
    again = simulate(scenario, 7, store=store, faults=HONEST_DISK)
    assert first.digest == again.digest
    replayed = simulate(scenario, 7, store=store, schedule=first.schedule)
    assert replayed.digest == first.digest
    assert replayed.violations == first.violations == ()


def test_head_outside_the_transaction_escapes_a_sweep() -> None:
    """The engine never races two appends on one run, so the stale head is never stale in a
    schedule: only the conformance suite's race check catches this flaw
    (`tests/engine/test_stores_on_simulated_disk.py`, `tests/engine/test_sqlite_stores.py`)."""
    assert _failing("sqlite:head_outside_transaction", range(10), ("linear", "crash_loop")) == []
