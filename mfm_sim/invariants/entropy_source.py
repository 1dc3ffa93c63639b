"""Entropy source: every random fact a run recorded was drawn from the entropy it was given.

ENGINE.md "Facts": `io.random_bytes(n)` is recorded as a fact with a derived key
`mfm:random_bytes|...`; the engine reaches randomness through the entropy source it is given
(`DefaultExecutionEngine(entropy=...)`; the simulator supplies a seeded one, as for ids and
time). A live draw records its key once (a bound key is replayed, not drawn again), so the
random facts the engines recorded (not those of a recorded log the operator brought) number
at most the draws the given source saw.
"""

from __future__ import annotations

from mfm_engine.events import FACT_RECORDED, DomainEvent

from mfm_sim.invariants.derive import Out, derive
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Observation

__all__ = ["INVARIANT", "RANDOM_PREFIX", "check_entropy_source"]

RANDOM_PREFIX = "mfm:random_bytes|"


def check_entropy_source(obs: Observation) -> list[Violation]:
    """One violation when the runs recorded more random facts than the source was drawn."""
    out = Out(INVARIANT.name, obs)
    draws = obs.entropy_draws
    if draws is None:
        return out.items
    keys: set[str] = set()
    # `derive` classified every stream once: with no `fact_recorded` anywhere, none is random.
    for run_id, view in obs.runs.items() if derive(obs).has_facts else ():
        for env in view.stream:
            event = env.event
            if type(event) is not DomainEvent or event.name != FACT_RECORDED:
                continue
            key = event.payload.get("key") if isinstance(event.payload, dict) else None
            if (
                isinstance(key, str)
                and key.startswith(RANDOM_PREFIX)
                and (run_id, env.seq) not in obs.seeded
            ):
                keys.add(key)
    if len(keys) > draws:
        out.add(
            obs.main_run_id,
            (),
            f"{len(keys)} random_bytes facts were recorded, but the engine's entropy source "
            f"was drawn {draws} times",
        )
    return out.items


INVARIANT = Invariant(
    "entropy_source",
    None,
    "random facts come from the entropy source the engine was given",
    check_entropy_source,
)
