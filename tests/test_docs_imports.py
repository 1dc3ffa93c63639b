"""Every import path the docs show exists.

Collected from README.md and docs/*.md: each `import X` / `from X import Y` in a Python code
block, and each dotted `mfm_sim.…`, `mfm_engine.…` or `mfm_scenarios.…` name in backticks.
Each module must import and each name must exist. The folder names `engine` and `scenarios`
are not import names (the checkout's root is on this process's path, so they would import
here, and nowhere a user runs the docs).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import attrs
import pytest

from mfm_sim.testing.check import MfmSim

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

INSTALLED = ("mfm_sim", "mfm_engine", "mfm_scenarios")
# Folder name -> the name it installs under.
OLD_NAMES = {"engine": "mfm_engine", "scenarios": "mfm_scenarios"}

FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`]+)`")
# A dotted name not itself part of a path or a longer name (`runtime/engine.py` is a file).
DOTTED = re.compile(r"(?<![\w./-])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)")


@attrs.frozen
class Reference:
    """A module, or a name in a module, that a doc shows."""

    doc: str
    line: int
    module: str
    name: str | None = None

    def __str__(self) -> str:
        shown = f"{self.module}.{self.name}" if self.name else self.module
        return f"{self.doc}:{self.line}: {shown}"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _code_imports(doc: str, text: str) -> list[Reference]:
    """The import statements of the Python code blocks (blocks may be excerpts, so each
    statement is parsed on its own)."""
    refs = []
    for block in FENCE.finditer(text):
        if block.group("lang") not in ("python", "py"):
            continue
        first = _line_of(text, block.start("body"))
        lines = block.group("body").splitlines()
        i = 0
        while i < len(lines):
            start = i
            statement = lines[i].strip()
            i += 1
            if not statement.startswith(("import ", "from ")):
                continue
            while statement.count("(") > statement.count(")") and i < len(lines):
                statement += " " + lines[i].strip()
                i += 1
            for node in ast.parse(statement).body:
                line = first + start
                if isinstance(node, ast.Import):
                    refs += [Reference(doc, line, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    assert node.module and node.level == 0, statement
                    refs += [Reference(doc, line, node.module, a.name) for a in node.names]
    return refs


def _inline_names(doc: str, text: str) -> list[tuple[int, str]]:
    """(line, dotted name) for each dotted name in backticks outside code blocks."""
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    found = []
    for span in INLINE.finditer(prose):
        for name in DOTTED.finditer(span.group(1)):
            found.append((_line_of(prose, span.start(1) + name.start(1)), name.group(1)))
    return found


def _inline_references(doc: str, text: str) -> list[Reference]:
    return [
        Reference(doc, line, name)
        for line, name in _inline_names(doc, text)
        if name.partition(".")[0] in INSTALLED
    ]


def _collect() -> list[Reference]:
    refs: list[Reference] = []
    for path in DOCS:
        doc = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8")
        refs += _code_imports(doc, text) + _inline_references(doc, text)
    return refs


REFERENCES = _collect()


def _resolve(dotted: str) -> object:
    """The object a dotted name names: the longest importable module prefix, then
    attributes. Raises ImportError or AttributeError if there is none."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            if cut == 1:
                raise
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError("unreachable")


def _is_the_fixture(dotted: str) -> bool:
    """`mfm_sim.check(...)` in the docs is the `mfm_sim` fixture's method, not the package's."""
    head, _, attr = dotted.partition(".")
    return head == "mfm_sim" and attr.isidentifier() and hasattr(MfmSim, attr)


def test_the_docs_show_imports_and_names() -> None:
    # The test below is parametrized by what is found here: an empty list would pass.
    shown = {str(r).partition(": ")[2] for r in REFERENCES}
    assert "mfm_sim.simulate" in shown
    assert "mfm_sim.testing.userplan.user_scenario" in shown
    assert len({r.doc for r in REFERENCES}) >= 2


@pytest.mark.parametrize("ref", REFERENCES, ids=str)
def test_each_shown_import_exists(ref: Reference) -> None:
    top = ref.module.partition(".")[0]
    assert top not in OLD_NAMES, f"{ref}: the package installs as {OLD_NAMES[top]}"
    if ref.name is None and _is_the_fixture(ref.module):
        return
    try:
        module = _resolve(ref.module)
        if ref.name is not None and not hasattr(module, ref.name):
            importlib.import_module(f"{ref.module}.{ref.name}")
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{ref}: {exc}", pytrace=False)


def test_no_backticked_name_uses_a_folder_name_for_an_installed_one() -> None:
    # `engine.hashing.x` where `mfm_engine.hashing.x` exists is the old import name; a name
    # that only looks alike (a function in runtime/engine.py, say) is left alone.
    stale = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for line, name in _inline_names(path.name, text):
            head, _, rest = name.partition(".")
            if head in OLD_NAMES:
                try:
                    _resolve(f"{OLD_NAMES[head]}.{rest}")
                except (ImportError, AttributeError):
                    continue
                stale.append(f"{path.name}:{line}: {name}")
    assert stale == []


# A path into this repository: one of its top folders, then a file or a folder.
REPO_PATH = re.compile(r"^(?:engine|scenarios|mfm_sim|tests|examples|tools|ci|docs)/[\w/.-]*$")


def test_each_backticked_repository_path_exists() -> None:
    # Modules are named by path too (`mfm_sim/selfcheck/variants.py`); a moved one is stale.
    paths = []
    for path in DOCS:
        prose = FENCE.sub("", path.read_text(encoding="utf-8"))
        paths += [(path.name, m.group(1)) for m in INLINE.finditer(prose)]
    shown = [(doc, p) for doc, p in paths if REPO_PATH.match(p)]
    assert ("library-users.md", "mfm_sim/examples/payments.py") in shown
    assert [f"{doc}: {p}" for doc, p in shown if not (ROOT / p).exists()] == []


def test_the_collector_reads_code_blocks_and_backticks() -> None:
    text = (
        "Use `mfm_sim.world.rng.parse_seed` or `engine.ids`, not `runtime/engine.py`.\n"
        "```python\nfrom mfm_engine import (\n    ExecutionPlan,\n    StateGraph,\n)\n"
        "import mfm_sim.run.simulate\nx = 1\n```\n"
        "```\nfrom not_python import nothing\n```\n"
    )
    assert [str(r) for r in _code_imports("d.md", text)] == [
        "d.md:3: mfm_engine.ExecutionPlan",
        "d.md:3: mfm_engine.StateGraph",
        "d.md:7: mfm_sim.run.simulate",
    ]
    assert _inline_names("d.md", text) == [(1, "mfm_sim.world.rng.parse_seed"), (1, "engine.ids")]
    assert [str(r) for r in _inline_references("d.md", text)] == [
        "d.md:1: mfm_sim.world.rng.parse_seed"
    ]
    assert _is_the_fixture("mfm_sim.check")
    assert not _is_the_fixture("mfm_sim.nothing")
