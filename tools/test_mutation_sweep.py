"""pytest entry point of the mutation sweep (what mutmut 3 runs inside ``mutants/``).

One test per scenario, each running ``tools/mutation_sweep.py``'s fixed seeds; any invariant
violation or exception fails the test, which kills the mutant. Not collected by the normal
test run (``testpaths = ["tests"]``); run it explicitly: ``pytest tools/test_mutation_sweep.py``.
"""

from __future__ import annotations

import pytest

from mfm_sim import simulate
from mfm_sim.run.scenario import all_scenarios
from tools.mutation_checks import sweep_violations

SEEDS = 60
_NAMES = sorted(s.name for s in all_scenarios())


@pytest.mark.parametrize("name", _NAMES)
def test_sweep(name: str) -> None:
    from mfm_sim import get_scenario

    scenario = get_scenario(name)
    for seed in range(SEEDS):
        result = simulate(scenario, seed, keep_trace=False, keep_observation=True)
        violations = [str(v) for v in result.violations] + sweep_violations(result)
        assert not violations, f"{name} seed {seed}: {violations[0]}"
