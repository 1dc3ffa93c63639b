"""The oracle imports engine data types only.

Every module of `mfm_sim/invariants/` (its `spec/` included) and every scenario module (their
models predict outcomes; their handlers use the engine's API as a user does, which needs data
types only) is read as source: an import from `mfm_engine` must name a data type of the
allow-list below. Engine logic (`compute_backoff`, `topological_order`, the hashing helpers,
redaction, fact-key derivation, envelope analysis...) is refused: a check that asks the system
under test for the right answer cannot catch that system's mistakes.
"""

from __future__ import annotations

import ast
import enum
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ORACLE_DIRS = (ROOT / "mfm_sim" / "invariants", ROOT / "scenarios")

# Engine names that are data, with the module that defines them. Ids are plain strings and
# UUIDs; the engine's id helpers validate, so they are logic and not listed.
ALLOWED: dict[str, str] = {
    # events: kernel and domain events, the envelope, statuses and phases, event names
    "DomainEvent": "mfm_engine.events",
    "EventEnvelope": "mfm_engine.events",
    "RunStarted": "mfm_engine.events",
    "StateEntered": "mfm_engine.events",
    "StateCompleted": "mfm_engine.events",
    "StateFailed": "mfm_engine.events",
    "RunCompleted": "mfm_engine.events",
    "RunStatus": "mfm_engine.events",
    "RunPhase": "mfm_engine.events",
    "FACT_RECORDED": "mfm_engine.events",
    "ARTIFACT_WRITTEN": "mfm_engine.events",
    "OP_BOUNDARY": "mfm_engine.events",
    "CHILD_RUN_SPAWNED": "mfm_engine.events",
    "CHILD_RUN_COMPLETED": "mfm_engine.events",
    # errors: the error info, categories, exception classes and their kinds
    "ErrorInfo": "mfm_engine.errors",
    "ErrorCategory": "mfm_engine.errors",
    "EngineError": "mfm_engine.errors",
    "StateError": "mfm_engine.errors",
    "IoError": "mfm_engine.errors",
    "IoErrorKind": "mfm_engine.errors",
    "ContextError": "mfm_engine.errors",
    "ContextErrorKind": "mfm_engine.errors",
    "StorageError": "mfm_engine.errors",
    "StorageErrorKind": "mfm_engine.errors",
    "RunError": "mfm_engine.errors",
    "RunErrorKind": "mfm_engine.errors",
    "info": "mfm_engine.errors",  # builds an ErrorInfo: how a handler raises a StateError
    # config: run config, manifest, retry policy and backoff kinds, modes and profiles
    "RunConfig": "mfm_engine.config",
    "RunManifest": "mfm_engine.config",
    "RetryPolicy": "mfm_engine.config",
    "Fixed": "mfm_engine.config",
    "Exponential": "mfm_engine.config",
    "EventProfile": "mfm_engine.config",
    "IoMode": "mfm_engine.config",
    "ExecutionMode": "mfm_engine.config",
    "FanOutJoin": "mfm_engine.config",
    "BuildProvenance": "mfm_engine.config",
    # plans and state metadata
    "ExecutionPlan": "mfm_engine.plan",
    "StateGraph": "mfm_engine.plan",
    "StateNode": "mfm_engine.plan",
    "DependencyEdge": "mfm_engine.plan",
    "PlanErrorKind": "mfm_engine.plan",
    "PlanValidationError": "mfm_engine.plan",
    # the reason an envelope refusal chains (an enum of ENGINE.md's rules, no walk)
    "EnvelopeErrorKind": "mfm_engine.envelopes",
    "StateMeta": "mfm_engine.meta",
    "Idempotency": "mfm_engine.meta",
    "SideEffectKind": "mfm_engine.meta",
    # what a handler hands the engine or gets back, and the child-run protocol's names
    "IoCall": "mfm_engine.live_io",
    "LiveIoEnv": "mfm_engine.live_io",  # what a transport factory is given: a user's reads it
    "ArtifactKind": "mfm_engine.stores",
    "RunResult": "mfm_engine.runtime.engine",
    "SPAWN_KIND": "mfm_engine.runtime.child_runs",
    "AWAIT_KIND": "mfm_engine.runtime.child_runs",
    "SPAWN_NAMESPACE": "mfm_engine.runtime.child_runs",
    "AWAIT_NAMESPACE": "mfm_engine.runtime.child_runs",
}
_CONSTRUCTORS = frozenset({"info"})  # functions that only build a data value


def refusals(source: str, where: str = "<source>") -> list[str]:
    """Each import of engine logic in `source`, as 'where:line: what'."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "mfm_engine" or alias.name.startswith("mfm_engine."):
                    # The module itself gives access to all of its logic.
                    out.append(f"{where}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module == "mfm_engine" or node.module.startswith("mfm_engine."):
                out.extend(
                    f"{where}:{node.lineno}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if alias.name not in ALLOWED
                )
        elif isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if (
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and first.value.startswith("mfm_engine")
            ):
                out.append(f"{where}:{node.lineno}: dynamic import of {first.value}")
    return out


def _oracle_modules() -> list[Path]:
    return sorted(p for d in ORACLE_DIRS for p in d.rglob("*.py"))


def test_the_oracle_imports_engine_data_types_only() -> None:
    modules = _oracle_modules()
    assert any(p.parent.name == "spec" for p in modules)
    assert any(p.parent.name == "scenarios" for p in modules)
    found = [
        r
        for p in modules
        for r in refusals(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))
    ]
    assert found == [], "engine logic imported by the oracle:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from mfm_engine.config import compute_backoff\n",
        "from mfm_engine.config import RunConfig, compute_backoff\n",
        "from mfm_engine.plan import topological_order\n",
        "from mfm_engine.hashing import artifact_id_for_json\n",
        "from mfm_engine.events import PHASE_FOR_STATUS\n",
        "from mfm_engine import hashing\n",
        "import mfm_engine.hashing\n",
        "import mfm_engine as e\n",
        "def f():\n    from mfm_engine.live_io import derived_fact_key\n",
        "import importlib\nimportlib.import_module('mfm_engine.envelopes')\n",
    ],
)
def test_engine_logic_is_refused(source: str) -> None:
    assert refusals(source) != []


def test_data_types_pass() -> None:
    source = (
        "from mfm_engine.events import EventEnvelope, RunPhase\n"
        "from mfm_engine import StateNode, IoCall\n"
        "from mfm_engine.config import Exponential as Exp\n"
        "import json\n"
    )
    assert refusals(source) == []


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_every_allowed_name_is_data(name: str) -> None:
    """The allow-list cannot smuggle logic in: each name is a class (an attrs class, an enum,
    an exception), a str constant, or a function that only builds a data value."""
    value = getattr(importlib.import_module(ALLOWED[name]), name)
    if name in _CONSTRUCTORS:
        assert callable(value)
    elif isinstance(value, type):
        assert issubclass(value, (enum.Enum, Exception)) or hasattr(value, "__attrs_attrs__"), (
            f"{name} is a class but not data"
        )
    else:
        assert isinstance(value, str), f"{name} is neither a class nor a name"
