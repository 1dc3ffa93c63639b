"""The engine's API contract: what the simulation saw the engine break while it ran.

Beside the thirteen invariants of SPEC §6: an untyped exception escaping the engine, an
engine call failing on its own (not because of a fault) after the run started, or a
refusal of input the engine's own validators accept. The simulation records each as a
`ContractBreach` on the observation; this check words them, first of all violations.
"""

from __future__ import annotations

from mfm_sim.invariants.derive import Out
from mfm_sim.invariants.invariant import Invariant
from mfm_sim.invariants.violation import Violation
from mfm_sim.run.observation import Breach, ContractBreach, Observation

__all__ = ["INVARIANT", "check_engine_contract"]


def _message(breach: ContractBreach) -> str:
    kind, code = breach.error_kind, breach.error_code
    if breach.kind is Breach.UNTYPED:
        return f"the engine raised an untyped {code}: {breach.detail}"
    if breach.kind is Breach.OWN_FAILURE:
        return (
            f"incarnation {breach.incarnation} ({breach.call}) failed on its own, not because "
            f"of a fault: {kind} {code}"
        )
    return f"the engine refused a valid run: {kind} {code}"


def check_engine_contract(obs: Observation) -> list[Violation]:
    """One violation per recorded breach, in the order the simulation saw them."""
    out = Out(INVARIANT.name, obs)
    for breach in obs.contract_breaches:
        out.add(breach.run_id, (), _message(breach))
    return out.items


INVARIANT = Invariant(
    "engine_contract",
    None,
    "the engine raises only typed errors, fails only because of faults, accepts valid input",
    check_engine_contract,
)
