"""The scenario's input, checked: bad input is the scenario's fault, never an engine violation."""

from __future__ import annotations

from mfm_engine.context import snapshot_bytes
from mfm_engine.errors import (
    EngineError,
)
from mfm_engine.hashing import (
    CanonicalJsonError,
    canonical_json_bytes,
    json_bytes_unchecked,
)
from mfm_engine.plan import (
    PlanValidationError,
    topological_order,
)
from mfm_engine.runtime.engine import validate_execution_mode

from mfm_sim.errors import InvalidScenario
from mfm_sim.run.scenario import ScenarioRun

__all__ = ["checked_manifest", "manifest_bytes"]


def checked_manifest(scenario: str, instance: ScenarioRun) -> bytes:
    """The canonical bytes of the run's manifest, or `InvalidScenario` if the engine must
    refuse this run before writing anything.

    Checked with the engine's own pure validators, so a refusal of valid input can be told
    apart from bad input: the first is an engine violation, the second the scenario's fault.
    """
    try:
        validate_execution_mode(instance.run_config)
        topological_order(instance.plan)
        data = canonical_json_bytes(instance.manifest().to_json())
        snapshot_bytes(dict(instance.initial_context))
    except PlanValidationError as exc:
        raise InvalidScenario(
            scenario, "invalid_plan", f"execution plan failed validation: {exc}"
        ) from None
    except CanonicalJsonError as exc:
        raise InvalidScenario(
            scenario, exc.code, f"the run manifest cannot be hashed: {exc}"
        ) from None
    except EngineError as exc:
        raise InvalidScenario(scenario, exc.info.code, exc.info.message) from None
    return data


def manifest_bytes(scenario: str, instance: ScenarioRun) -> bytes:
    """The bytes the operator stores for the run's manifest, before the first start.

    The engine checks the manifest, the plan and the initial context itself before it writes
    anything, so the harness checks them again (`checked_manifest`) only when the engine did
    not start the run: it then tells bad input (`InvalidScenario`) from an engine that
    refused valid input. An engine that wrongly accepts invalid input is not caught here (the
    harness never ran an engine on input it had refused up front either).
    """
    try:
        return json_bytes_unchecked(instance.manifest().to_json())
    except Exception:  # not JSON at all: let the checked path name the problem
        return checked_manifest(scenario, instance)
