"""Mistaken starts whose manifest itself cannot be hashed, and the refusal ENGINE.md gives each.

ENGINE.md "Start and resume": start validates the manifest hash before anything else of the
manifest (`manifest_not_canonical`, `secrets_detected`), and "Canonical JSON and hashing"
says why a value cannot be hashed: secrets are scanned first, then any float is refused and
an object key must be a string. The manifest's input parameters carry the flaw, so the rest
of the manifest is the main run's. The operator never stores such a manifest (a store must
never hold a secret or a float), so nothing may be written: invariant 13 checks that too.

Drawn swarm-style from a fork taken after the other mistakes (`mfm_scenarios.operator`), so
the mistakes a seed drew before stay as they were.
"""

from __future__ import annotations

import uuid

import attrs
from mfm_engine.config import RunManifest

from mfm_sim.run.operator import OperatorCall
from mfm_sim.world.rng import Rng

__all__ = [
    "FOREIGN_RUN",
    "LOG_MANIFESTS",
    "MANIFEST_MISTAKES",
    "NOT_A_MANIFEST",
    "draw_log_manifest_mistake",
    "draw_manifest_mistake",
]

INVALID_PLAN = "invalid_plan"
# name -> (input parameters that carry the flaw, the code ENGINE.md gives the refusal)
MANIFEST_MISTAKES: dict[str, tuple[object, str]] = {
    "manifest_float": ({"rate": 0.5}, "manifest_not_canonical"),
    "manifest_secret": ({"note": "ok", "api_key": "k-123"}, "secrets_detected"),
    "manifest_key_not_str": ({1: "one"}, "manifest_not_canonical"),
    # A float beside a secret: the secret scan comes first.
    "manifest_secret_and_float": ({"password": "hunter2", "rate": 0.5}, "secrets_detected"),
}
_NAMES = tuple(MANIFEST_MISTAKES)


def draw_manifest_mistake(
    rng: Rng, manifest: RunManifest
) -> tuple[OperatorCall, tuple[str, str | None]] | None:
    """Half the time, one mistaken start with an unhashable manifest, and its refusal."""
    if not rng.chance(0.5):
        return None
    name = rng.choice(_NAMES)
    params, code = MANIFEST_MISTAKES[name]
    bent = attrs.evolve(manifest, input_params=params)
    ctx = "omit" if rng.chance(0.5) else "main"
    call = OperatorCall(name, "start", manifest=bent, store_manifest=False, context=ctx)
    return call, (INVALID_PLAN, code)


# A resume of a run restored from elsewhere, whose log's RunStarted names a stored artifact
# that decodes as JSON (canonical, no float, no secret) but is not a manifest: ENGINE.md
# "Later checks" names the code, `manifest_deserialize_failed`, and "Ids and values" the
# error a value that does not deserialize is, a ContextError (kind SERIALIZATION): a RunError
# CONTEXT.
NOT_A_MANIFEST = "log_names_no_manifest"
FOREIGN_RUN = uuid.UUID("00000000-0000-4000-8000-00000000f0e1")
LOG_MANIFESTS: tuple[object, ...] = (
    {"op_id": "gen"},
    {"note": "a snapshot, not a manifest"},
    [1, 2],
    "text",
)


def draw_log_manifest_mistake(rng: Rng) -> tuple[OperatorCall, tuple[str, str | None]] | None:
    """Half the time, a resume of a planted run whose manifest is no manifest, and its refusal."""
    if not rng.chance(0.5):
        return None
    value = rng.choice(LOG_MANIFESTS)
    call = OperatorCall(NOT_A_MANIFEST, "resume", run_id=FOREIGN_RUN, log_manifest=value)
    return call, ("context", "manifest_deserialize_failed")
