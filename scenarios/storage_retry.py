"""A handler that retries a transient store failure of a keyed call, and what ENGINE.md says
the retry must do.

ENGINE.md, "Facts": a keyed call's result is recorded, "a `fact_recorded` event is appended at
once", and "a failed recording rolls the binding back". A handler that catches the
`StorageError` of a failed recording (a transient, retryable store failure) and makes the
same call again in the same attempt therefore gets a fresh transport call, recorded afresh:
an engine that kept the rolled-back binding would answer from a payload no log records.
The feature (drawn from its own fork of the seed's stream, after every other draw) puts one
to three such calls at the front of the first state the run enters, each a keyed `get` of a
key no one writes (no external effect, however often it is made). The answer the attempt
keeps is `FactRef(key)` as for any keyed call; invariant 13 (`recorded_answers`) requires
every keyed answer a completed attempt kept to be recorded in its log.
"""

from __future__ import annotations

from typing import Any

import attrs
from mfm_engine.config import RunConfig
from mfm_engine.plan import ExecutionPlan
from mfm_scenarios.inspect_kinds import first_entered, state_index
from mfm_scenarios.program import CALL, Op

from mfm_sim.world.rng import Rng

__all__ = ["FEATURE", "add_storage_retry"]

FEATURE = "storage_retry"


def add_storage_retry(
    rng: Rng, plan: ExecutionPlan, programs: list[Any], cfg: RunConfig, live: bool
) -> frozenset[str]:
    """With even odds (a live run with services): every keyed call of the main programs
    retries a transient store failure, and four to eight such calls lead the first entered
    state's program (in `programs`, in place); returns the feature if on."""
    if not live or not rng.chance(0.5):
        return frozenset()
    for i, program in enumerate(programs):
        ops = tuple(
            attrs.evolve(op, retry_storage=True)
            if op.kind == CALL and op.fact_key is not None and op.twin is None
            else op
            for op in program.ops
        )
        programs[i] = type(program)(ops, program.tags)
    first = first_entered(plan, programs, cfg)
    if first is None:
        return frozenset({FEATURE})
    i = state_index(first)
    ops = [
        Op(
            CALL,
            f"sr{i}_{j}",
            name="kv",
            value={"op": "get", "key": f"sr_none_{i}_{j}"},
            fact_key=f"sr{i}_{j}",
            retry_storage=True,
        )
        for j in range(rng.between(4, 8))
    ]
    program = programs[i]
    programs[i] = type(program)((*ops, *program.ops), program.tags)
    return frozenset({FEATURE})
