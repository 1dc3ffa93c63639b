"""For library users: run your own plans and handlers under the simulator's faults.

- `mfm_sim.testing.userplan.user_scenario`: your plan and handlers as a scenario;
- `mfm_sim.testing.services`: simulated external services that count effects;
- `mfm_sim.testing.routed`: those services routed by the engine's own RouterTransportFactory;
- `mfm_sim.testing.strategies`: Hypothesis strategies for plans, run configs and schedules;
- `mfm_sim.testing.history`: replay an exported event log against your current handlers;
- `mfm_sim.testing.diagnostics`: why a handler is not crash-safe, and what to change;
- `buggify`: fault points in your own code that fire only inside a simulation;
- the pytest plugin (`mfm_sim.testing.pytest_plugin`), loaded by pytest on its own.

`buggify` and `handler_scope` are re-exported here because users call them from their own
code, and `Service` because users subclass it for their own simulated services; they live
with the fault model (`mfm_sim.faults.buggify`), the world (`mfm_sim.world.scope`) and
`mfm_sim.testing.services`. They load on first use: pytest imports this package for the plugin
at every start-up, and a test run that never simulates must not pay for the simulator.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Service", "buggify", "handler_scope"]

_LAZY = {
    "Service": "mfm_sim.testing.services",
    "buggify": "mfm_sim.faults.buggify",
    "handler_scope": "mfm_sim.world.scope",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
