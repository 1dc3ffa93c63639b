"""Child-run spawns whose initial context is an object that cannot be canonical JSON.

ENGINE.md "Child runs": a spawn's response carries `child_initial_snapshot_id`, the id of the
child's initial context as a canonical snapshot; "Canonical JSON and hashing": any float (`1.0`
included) has no canonical form. So a spawn otherwise well formed (kind, op id and version, run
config) whose `initial_context` holds a float names no snapshot: a malformed request,
`child_run_request_invalid` (the original's code, "Later checks"), refused before anything is
started. An inspecting handler catches it and records what it got (`mfm_scenarios.inspect_errors`:
the code, the kind, and whether the info is an `ErrorInfo` with a message string).

A seed switches the feature on with `SPAWN_ODDS`, from its own fork of the stream, so no
other draw moves.
"""

from __future__ import annotations

from typing import Any

from mfm_engine.config import RunConfig
from mfm_scenarios.program import SPAWN_NAMESPACE, Program

from mfm_sim.world.rng import Rng

__all__ = ["SPAWN_ODDS", "UNHASHABLE_CONTEXTS", "add_unhashable_spawns"]

SPAWN_ODDS = 0.3
# Objects with a float somewhere: at the top, nested, and a whole number written as a float.
UNHASHABLE_CONTEXTS: tuple[dict[str, Any], ...] = (
    {"rate": 0.5},
    {"nested": {"ok": 1, "p": 1.5}},
    {"whole": 1.0},
)


def _request(initial: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "child_run_spawn_v1",
        "op_id": "gc9",
        "op_version": "1",
        "run_config": RunConfig().to_json(),
        "initial_context": initial,
    }


def add_unhashable_spawns(rng: Rng, programs: list[Program], make_call: Any) -> frozenset[str]:
    """With `SPAWN_ODDS`, insert one keyed, caught and inspected spawn with an unhashable
    initial context first into each of `programs` (in place); `make_call(**fields)` builds a CALL
    `Op`. Returns the feature name if it is on."""
    if not rng.chance(SPAWN_ODDS):
        return frozenset()
    for i, program in enumerate(programs):
        ops = list(program.ops)
        # First, so every attempt makes it before anything can fail the state.
        at = 0
        uid = f"u{i}_{len(ops)}"
        call = make_call(
            key=f"seen_{uid}",
            name=SPAWN_NAMESPACE,
            value=_request(dict(rng.choice(UNHASHABLE_CONTEXTS))),
            fact_key=f"uf_{uid}",
            catch=True,
            inspect=True,
        )
        ops[at:at] = [call]
        programs[i] = type(program)(tuple(ops), program.tags)
    return frozenset({"unhashable_spawns"})
