"""Invariant 5, order: a state is entered only after all its plan predecessors completed."""

from __future__ import annotations

from mfm_sim.invariants.derive import COMPLETED, ENTERED, Out, each_run
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.spec.order import predecessors
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "check_order"]


def check_order(obs: Observation) -> list[Violation]:
    """A state is entered only after all its plan predecessors completed (needs the plan)."""
    out = Out(INVARIANT.name, obs)
    for log in each_run(obs):
        if log.plan is None:
            continue
        rid = log.run_id
        preds = predecessors(log.plan)
        completed: set[str] = set()
        for code, env, ev in log.kernel:
            if code == ENTERED:
                needed = preds.get(ev.state_id)
                if needed is None:
                    out.add(rid, (env.seq,), f"{ev.state_id} entered but it is not in the plan")
                    continue
                if completed.issuperset(needed):
                    continue
                missing = [p for p in needed if p not in completed]
                if missing:
                    out.add(
                        rid,
                        (env.seq,),
                        f"{ev.state_id} entered before its predecessor(s) completed: "
                        f"{', '.join(missing)}",
                    )
            elif code == COMPLETED:
                completed.add(ev.state_id)
    return out.items


INVARIANT = Invariant(
    "order", 5, "a state is entered only after all its plan predecessors completed", check_order
)
