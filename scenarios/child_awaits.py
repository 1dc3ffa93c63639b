"""Child-run calls around the `child_runs` scenario's awaits, drawn from their own fork.

ENGINE.md, "Child runs" and "Later checks": a spawn request without `op_version` gets `"1"`;
the spawn's response names the child's manifest and initial snapshot by content address;
await joins the child's task or resumes it, and starts it from the `spawn` it carries when no
run exists (`run_not_found`); it refuses another kind (`child_run_request_invalid`) and a child
whose stored manifest is not the one the spawn recorded (`child_run_conflict`), named either
by `child_manifest_id` or by the `spawn` request it carries. The variants:

- `op_version`: the children's spawn requests carry `op_version` "1", "2" or none at all.
- `crash_between`: the spawner's first call kills the process after its spawn(s) and before
  any await: the retry finds each spawn's fact recorded and a child that never wrote
  `RunStarted`, so the await must start it from its `spawn`.
- `ack`: the spawner keeps the spawn response's manifest and initial snapshot ids.
- `again`: it awaits the child again, naming the spawn's `child_manifest_id`: same answer.
- `other_spawn`: it awaits again carrying a spawn of another `op_config`: refused.
- `wrong_kind`: it awaits the child with another request kind: refused.
- `bare_first`: the spawner's first call awaits without the `spawn`: its spawn was live in
  this process (a crash in between kills the call), so the supervisor holds the child's task
  and the await joins it, whether or not the child has written `RunStarted` yet; later calls
  carry the spawn, as a retry after a crash may find no child to join.

`predict` derives what the spawner writes for each from ENGINE.md with its own code.
"""

from __future__ import annotations

from typing import Any

import attrs
from mfm_engine import IoCall
from mfm_engine.config import RunConfig, RunManifest
from mfm_engine.errors import IoError

from mfm_sim.invariants.spec.canonical import json_artifact_id
from mfm_sim.world.rng import Rng

__all__ = ["AWAIT_VARIANTS", "Awaits", "after_await", "draw_awaits", "predict"]

AWAIT_VARIANTS = ("ack", "again", "other_spawn", "wrong_kind", "bare_first")
_AWAIT_NAMESPACE = "machine.child_run.await"  # ENGINE.md, "Child runs"
_AWAIT_KIND = "child_run_await_v1"
_ACK_FIELDS = ("child_manifest_id", "child_initial_snapshot_id")


@attrs.frozen
class Awaits:
    """What a seed draws; the default (a seed that draws none) changes nothing."""

    variants: frozenset[str] = frozenset()
    crash_between: bool = False
    op_version: str | None = "1"  # None: the spawn request has no `op_version`


def draw_awaits(rng: Rng, *, child_crash: bool) -> Awaits:
    """Half the seeds draw none; a crash between spawn and await only where no child crashes
    (the runner's liveness phase allows few incarnations)."""
    if not rng.chance(0.5):
        return Awaits()
    variants = frozenset(v for v in AWAIT_VARIANTS if rng.chance(0.5))
    crash_between = not child_crash and rng.chance(0.5)
    return Awaits(variants, crash_between, rng.choice(("1", "2", None)))


async def _code(io: Any, call: IoCall) -> str | None:
    """The code the engine refuses `call` with; None if it answers."""
    try:
        await io.call(call)
    except IoError as exc:
        return exc.info.code
    return None


async def after_await(
    io: Any, awaits: Awaits, name: str, spawn: dict[str, Any], ack: Any
) -> dict[str, Any]:
    """The variants' calls after the child's first await; what each answered."""
    out: dict[str, Any] = {}
    on = awaits.variants
    child = ack["child_run_id"]
    if "ack" in on:
        out["ack"] = {f: ack[f] for f in _ACK_FIELDS}
    if "again" in on:
        req = {"kind": _AWAIT_KIND, "child_run_id": child, "child_manifest_id": ack[_ACK_FIELDS[0]]}
        done = await io.call(IoCall(_AWAIT_NAMESPACE, req, f"again:{name}"))
        out["again"] = {"status": done["status"], "final": done["final_snapshot"]}
    if "other_spawn" in on:
        other = {**spawn, "op_config": {"child": name, "other": True}}
        req = {"kind": _AWAIT_KIND, "child_run_id": child, "spawn": other}
        out["other_spawn"] = await _code(io, IoCall(_AWAIT_NAMESPACE, req, f"other:{name}"))
    if "wrong_kind" in on:
        req = {"kind": "child_run_await_v0", "child_run_id": child, "spawn": spawn}
        out["wrong_kind"] = await _code(io, IoCall(_AWAIT_NAMESPACE, req, f"wrong:{name}"))
    return out


def _manifest_id(spawn: dict[str, Any]) -> str:
    """ENGINE.md: the child's manifest from the spawn request (`op_version` "1" when it has
    none; `{op_config, input}` as its input), by the content address of its canonical bytes."""
    manifest = RunManifest(
        str(spawn["op_id"]),
        str(spawn["op_version"]) if "op_version" in spawn else "1",
        {"op_config": spawn.get("op_config"), "input": spawn.get("input")},
        RunConfig.from_json(spawn["run_config"]),
    )
    return json_artifact_id(manifest.to_json())


def predict(awaits: Awaits, spawn: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """What `after_await` answers for a child whose first await answered `result`."""
    out: dict[str, Any] = {}
    on = awaits.variants
    if "ack" in on:
        out["ack"] = {
            "child_manifest_id": _manifest_id(spawn),
            "child_initial_snapshot_id": json_artifact_id(spawn.get("initial_context") or {}),
        }
    if "again" in on:  # the child the spawn recorded: joined or resumed, the same answer
        out["again"] = dict(result)
    if "other_spawn" in on:  # the stored child's manifest is not the one this spawn makes
        out["other_spawn"] = "child_run_conflict"
    if "wrong_kind" in on:
        out["wrong_kind"] = "child_run_request_invalid"
    return out
