"""Built-in scenarios: each module registers one with `mfm_sim.scenario.register`."""

from scenarios import diamond_io, facts_time_random, linear, random_dag, retry_heavy

__all__ = ["diamond_io", "facts_time_random", "linear", "random_dag", "retry_heavy"]
