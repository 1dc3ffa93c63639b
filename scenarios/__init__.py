"""Built-in scenarios: each module registers one with `mfm_sim.run.scenario.register`."""

from mfm_scenarios import (
    child_runs,
    corruption,
    crash_loop,
    diamond_io,
    edge_values,
    facts_time_random,
    generated,
    handler_exceptions,
    linear,
    random_dag,
    replay_mode,
    retry_heavy,
    skip_tags,
    stopped_children,
)

__all__ = [
    "child_runs",
    "corruption",
    "crash_loop",
    "diamond_io",
    "edge_values",
    "facts_time_random",
    "generated",
    "handler_exceptions",
    "linear",
    "random_dag",
    "replay_mode",
    "retry_heavy",
    "skip_tags",
    "stopped_children",
]
