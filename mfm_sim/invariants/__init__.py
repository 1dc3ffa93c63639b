"""The oracle: one module per invariant, one registry, and what they share.

It reads an `Observation` and engine data types only. Every rule a check needs (backoff, Kahn
order, canonical JSON and hashing, secret detection and redaction, fact keys and bindings,
envelope walking, the phase of a status) is the oracle's own, in `spec/`, written from ENGINE.md
and checked against the engine by property tests; `tests/mfm_sim/invariants/test_oracle_imports.py`
refuses any import of engine logic here or in the scenarios' models.
"""

from mfm_sim.invariants.derive import ORPHAN_CODE
from mfm_sim.invariants.detected_not_silent import STORAGE_ERROR_CODES
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.registry import (
    CHECKS,
    INVARIANTS,
    REGISTRY,
    check,
    invariant_names,
    needs_reference,
)
from mfm_sim.invariants.violation import Violation

__all__ = [
    "CHECKS",
    "INVARIANTS",
    "ORPHAN_CODE",
    "REGISTRY",
    "STORAGE_ERROR_CODES",
    "Invariant",
    "Violation",
    "check",
    "invariant_names",
    "needs_reference",
]
