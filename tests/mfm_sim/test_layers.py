"""The layers of `mfm_sim` (docs/architecture.md) hold in the source.

Module-level imports only: an import inside a function (a command loading what it needs) or
under `TYPE_CHECKING` does not make one layer depend on another when it is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mfm_sim"

# Which subpackages each subpackage may import at module level (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "world": frozenset(),
    "faults": frozenset({"world"}),
    "invariants": frozenset({"faults", "run"}),
    "run": frozenset({"world", "faults", "invariants", "selfcheck"}),
    "explore": frozenset({"world", "faults", "run", "invariants", "selfcheck"}),
    "report": frozenset({"world", "faults", "run", "invariants", "explore"}),
    "testing": frozenset({"world", "faults", "run", "invariants", "explore"}),
    "selfcheck": frozenset({"world", "run", "explore"}),
    "cli": frozenset({"world", "faults", "run", "invariants", "explore", "report", "selfcheck"}),
    # The shipped worked example is a user's code: the engine and pytest, nothing of ours.
    "examples": frozenset(),
}
# Top-level modules every layer may import: the errors the harness raises to its callers.
SHARED = frozenset({"errors"})
# The oracle reads what a schedule left behind and the fault model's data, nothing else.
INVARIANTS_MAY_READ = frozenset({"mfm_sim.run.observation", "mfm_sim.faults.kinds"})
# `run` applies an engine variant by name; the variants must not reach back into `run`.
RUN_MAY_USE_OF_SELFCHECK = frozenset({"mfm_sim.selfcheck.variants"})


def _module_level_imports(path: Path) -> Iterator[str]:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _imports_by_subpackage() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2:
            continue  # the package's own __init__: the public surface, lazy
        mods = found.setdefault(parts[0], set())
        mods.update(m for m in _module_level_imports(path) if m.startswith("mfm_sim."))
    return found


IMPORTS = _imports_by_subpackage()


def test_every_subpackage_has_a_rule() -> None:
    assert set(IMPORTS) == set(ALLOWED)


@pytest.mark.parametrize("sub", sorted(ALLOWED))
def test_a_subpackage_imports_only_the_layers_it_may(sub: str) -> None:
    reached = {m.split(".")[1] for m in IMPORTS[sub]} - {sub} - SHARED
    assert reached <= ALLOWED[sub], f"{sub} imports {sorted(reached - ALLOWED[sub])}"


def test_the_oracle_reads_observations_and_fault_data_only() -> None:
    outside = {m for m in IMPORTS["invariants"] if not m.startswith("mfm_sim.invariants")}
    assert outside <= INVARIANTS_MAY_READ, sorted(outside - INVARIANTS_MAY_READ)


def test_run_uses_only_the_variants_of_selfcheck_and_they_do_not_use_run() -> None:
    used = {m for m in IMPORTS["run"] if m.startswith("mfm_sim.selfcheck")}
    assert used <= RUN_MAY_USE_OF_SELFCHECK
    for name in ("variants.py", "patch.py"):
        mods = set(_module_level_imports(PACKAGE / "selfcheck" / name))
        assert not {m for m in mods if m.startswith("mfm_sim.run")}, name


def test_the_rules_can_fail() -> None:
    # The walker sees imports: the world layer's loop imports the clock.
    assert "mfm_sim.world.clock" in IMPORTS["world"]
    assert any(m.startswith("mfm_sim.world") for m in IMPORTS["faults"])


# Dask is an optional extra: one module imports it, and no module imports that one at load
# time (a command loads it when `--dask` is given).
DASK_HOME = "mfm_sim.explore.dask"
DASK_PACKAGES = frozenset({"dask", "distributed"})


def _imported(nodes: Iterator[ast.AST]) -> Iterator[str]:
    """Every module an import among `nodes` names (`from a import b` names `a` and `a.b`)."""
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _module(path: Path) -> str:
    return ".".join(("mfm_sim", *path.relative_to(PACKAGE).with_suffix("").parts))


def test_only_one_module_imports_dask_and_nothing_loads_it_at_import_time() -> None:
    trees = {_module(p): ast.parse(p.read_text(encoding="utf-8")) for p in PACKAGE.rglob("*.py")}
    users = sorted(
        name
        for name, tree in trees.items()
        if any(m.split(".")[0] in DASK_PACKAGES for m in _imported(ast.walk(tree)))
    )
    assert users == [DASK_HOME]
    eager = sorted(name for name, tree in trees.items() if DASK_HOME in _imported(iter(tree.body)))
    assert eager == []
    # The rule can fail: the command that opens a cluster names the module (in a function).
    assert any(DASK_HOME in _imported(ast.walk(tree)) for tree in trees.values())
