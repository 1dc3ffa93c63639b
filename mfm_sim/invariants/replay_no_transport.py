"""Promise: replay mode never calls a transport (ENGINE.md, "Facts": "Replay mode: no
transport is created"; the original's tests 12 and 13).

No incarnation made or called a transport for a run whose config is in replay mode
(`Observation.transport_uses`), and every handler invocation of a replay-mode run got
replay IO (the journal).
"""

from __future__ import annotations

from mfm_sim.invariants.derive import Out, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_replay_no_transport"]


def check_replay_no_transport(obs: Observation) -> list[Violation]:
    """No transport made or called in replay mode; replay runs' handlers get replay IO."""
    out = Out(INVARIANT.name, obs)
    for use in obs.transport_uses:
        if use.replay:
            what = "made a transport" if use.call is None else f"called {use.call!r}"
            out.add(use.run_id, (), f"incarnation {use.incarnation} {what} in replay mode")
    if not obs.handler_journal:
        return out.items
    # `_value_`, not `.value` (a Python-level descriptor); run ids by number (a UUID's own
    # hash is Python-level). With no replay run there is nothing to judge in the journal.
    replay_runs = {
        log.run_id.int
        for log in each_run(obs)
        if log.run_config is not None and log.run_config.io_mode._value_ == "replay"
    }
    if not replay_runs:
        return out.items
    for entry in obs.handler_journal:
        run_id = entry.run_id
        if run_id is not None and run_id.int in replay_runs and not entry.replay:
            out.add(
                entry.run_id,
                (),
                f"{entry.state_id} attempt {entry.attempt}: a replay run's handler got live IO",
            )
    return out.items


INVARIANT = Invariant(
    "replay_no_transport",
    None,
    "replay mode never makes or calls a transport",
    check_replay_no_transport,
)
