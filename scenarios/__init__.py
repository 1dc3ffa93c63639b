"""Built-in scenarios: each module registers one with `mfm_sim.scenario.register`."""

from scenarios import diamond_io, linear

__all__ = ["diamond_io", "linear"]
