"""The installed import names are safe: `mfm_engine`, `mfm_scenarios`, `mfm_sim`, and nothing
called `engine` or `scenarios` that would shadow (or be shadowed by) a user's own package.

Also: the `packages` list in pyproject.toml is the folders on disk, and the dependency
direction `mfm_scenarios -> mfm_sim -> mfm_engine` holds in the source.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Import name -> folder, as setuptools installs them.
PACKAGE_DIR: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]


def _python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run this interpreter in `cwd` as a user would: nothing of this checkout or of the
    pytest running now on its path or in its options."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    assert ROOT not in tmp_path.parents
    return tmp_path


def test_the_installed_names_import_from_outside_the_checkout(outside: Path) -> None:
    done = _python(["-c", "import mfm_engine, mfm_scenarios, mfm_sim"], outside)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ["engine", "scenarios"])
def test_the_folder_names_are_not_installed(outside: Path, name: str) -> None:
    done = _python(["-c", f"import {name}"], outside)
    assert done.returncode != 0
    assert f"No module named '{name}'" in done.stderr


# A user's project with packages of its own named like this repository's folders.
USER_ENGINE = 'WHO = "user engine"\n'
USER_SCENARIOS = 'WHO = "user scenarios"\n'
USER_TEST = textwrap.dedent(
    """
    import engine
    import scenarios
    from mfm_engine import ExecutionPlan, StateGraph, StateMeta, StateNode


    class Write:
        def meta(self):
            return StateMeta()

        async def handle(self, ctx, io, events):
            ctx.write("who", engine.WHO)


    def test_own_packages_are_imported():
        assert engine.WHO == "user engine"
        assert scenarios.WHO == "user scenarios"


    def test_own_packages_survive_the_fixture(mfm_sim):
        plan = ExecutionPlan("own", StateGraph([StateNode("own.write.who", Write())]))
        mfm_sim.check(plan, services=(), seeds=3)
        import mfm_scenarios  # the built-in scenarios, under their own name

        assert mfm_scenarios.__name__ == "mfm_scenarios"
        assert engine.WHO == "user engine"
        assert scenarios.WHO == "user scenarios"
    """
)


def test_a_users_engine_and_scenarios_packages_are_their_own(outside: Path) -> None:
    for name, text in (("engine", USER_ENGINE), ("scenarios", USER_SCENARIOS)):
        (outside / name).mkdir()
        (outside / name / "__init__.py").write_text(text, encoding="utf-8")
    (outside / "test_user.py").write_text(USER_TEST, encoding="utf-8")
    done = _python(["-m", "pytest", "-p", "no:cacheprovider", "-q"], outside)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def _packages_on_disk() -> list[str]:
    found = []
    for name, folder in PACKAGE_DIR.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            parts = init.parent.relative_to(base).parts
            found.append(".".join((name, *parts)))
    return sorted(found)


def test_pyproject_packages_are_the_packages_on_disk() -> None:
    assert sorted(PACKAGE_DIR) == ["mfm_engine", "mfm_scenarios", "mfm_sim"]
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == _packages_on_disk()


def _imported(node: ast.AST) -> Iterator[str]:
    """The absolute module names an import statement names (relative ones stay inside)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module


def _module_level(tree: ast.Module) -> Iterator[ast.AST]:
    """Every node that runs when the module is imported: all but function bodies."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))


def _imports(folder: str, *, module_level_only: bool) -> list[tuple[str, int, str]]:
    """(file, line, imported top-level package) for every import in the folder's sources."""
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        nodes = _module_level(tree) if module_level_only else ast.walk(tree)
        for node in nodes:
            for name in _imported(node):
                out.append((str(path.relative_to(ROOT)), node.lineno, name.partition(".")[0]))
    return out


def test_the_walkers_see_imports() -> None:
    # The checks below pass vacuously if nothing is found; they do find the known imports.
    assert any(top == "mfm_engine" for _, _, top in _imports("mfm_sim", module_level_only=True))
    assert any(top == "mfm_engine" for _, _, top in _imports("engine", module_level_only=False))
    tree = ast.parse("import a\ndef f():\n    import b\nclass C:\n    import c\n")
    assert sorted(n for node in _module_level(tree) for n in _imported(node)) == ["a", "c"]


def test_the_engine_imports_neither_the_harness_nor_the_scenarios() -> None:
    bad = [
        i
        for i in _imports("engine", module_level_only=False)
        if i[2] in ("mfm_sim", "mfm_scenarios")
    ]
    assert bad == []


def test_the_harness_imports_the_scenarios_only_when_asked() -> None:
    bad = [i for i in _imports("mfm_sim", module_level_only=True) if i[2] == "mfm_scenarios"]
    assert bad == []
