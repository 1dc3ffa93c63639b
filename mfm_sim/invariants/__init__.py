"""The oracle: one module per invariant, one registry, and what they share.

It reads an `Observation`, and engine data types. (Four checks still call engine helpers:
`retry_timing`, `order`, `hash_integrity` and `outcome`; issue 15 replaces them with our own.)
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
