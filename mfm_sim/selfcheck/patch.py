"""The one seam through which a broken engine variant changes the engine: a small source patch.

A `FunctionPatch` names one engine function or method (the module it is defined in and its
qualname) and the `Edit`s that put the bug in it. Applying it:

1. takes the function's source (`inspect.getsource`, dedented);
2. for each edit, finds its `old` lines, which must occur **exactly once** as whole lines at one
   indentation (each snippet is dedented, so it is written without the function's indentation),
   and puts its `new` lines there at the same indentation;
3. compiles the result with the module's own `__future__` flags and runs the `def` in the
   engine module's own globals, so the patched function reads the module's names at call time
   and its frames count as engine frames (`mfm_sim.world.frames` tells them by module name).
   What the module does not import can be handed in as `names`: they reach the function as
   closure variables, never as module globals, so the module itself is left as it was;
4. swaps it in wherever the engine looks the original up: the class attribute for a method
   (subclasses that inherit it see it; the engine keeps no bound methods); for a module-level
   function, every global bound to the original in its own module and in any loaded
   `mfm_engine` module, so a `from module import function` copy is patched as well;
5. restores every swapped binding when `patched(...)` exits, also when its body raises.

An edit that no longer matches raises `StalePatch`, naming the variant and the function: an
engine change that moves a variant's snippet fails loudly instead of leaving the variant
silently running the correct engine. A variant holds one `FunctionPatch` per function it
breaks (one patch may hold several edits). Only plain functions without decorators, closures
or name-mangled (`__x`) names are patchable; anything else is refused the same way.
"""

from __future__ import annotations
import __future__

import ast
import contextlib
import functools
import importlib
import inspect
import linecache
import sys
import textwrap
from collections.abc import Iterator, Sequence
from types import FunctionType, ModuleType
from typing import Any

import attrs

from mfm_sim.world.frames import ENGINE

__all__ = ["Edit", "FunctionPatch", "StalePatch", "apply", "patched"]


class StalePatch(RuntimeError):
    """A variant's patch does not apply to the engine as it is now."""


def _snippet(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


@attrs.frozen
class Edit:
    """Replace the whole lines `old` (exactly one occurrence) by the lines `new`."""

    old: str = attrs.field(converter=_snippet)
    new: str = attrs.field(converter=_snippet)


@attrs.frozen
class FunctionPatch:
    """The edits that break one engine function (`qualname` in `module`, where it is defined)."""

    module: str
    qualname: str
    edits: tuple[Edit, ...]
    names: tuple[tuple[str, Any], ...] = ()  # extra names the new lines use, as closure variables

    @property
    def target(self) -> str:
        return f"{self.module}.{self.qualname}"


def _owner_and_original(variant: str, patch: FunctionPatch) -> tuple[Any, FunctionType]:
    owner: Any = importlib.import_module(patch.module)
    *path, name = patch.qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = vars(owner).get(name)
    if not isinstance(original, FunctionType):
        raise StalePatch(f"engine variant {variant!r}: {patch.target} is not a plain function")
    return owner, original


def _replace_once(source: str, edit: Edit) -> str | int:
    """`source` with `edit` made, or how many times its old lines occur if not exactly once."""
    lines, old = source.splitlines(), edit.old.splitlines()
    found = []
    for i, first in enumerate(lines):
        indent = first[: len(first) - len(old[0])]
        if not first.endswith(old[0]) or indent.strip():
            continue
        window = lines[i : i + len(old)]
        if len(window) == len(old) and all(
            have == indent + want if want else not have.strip()
            for have, want in zip(window, old, strict=True)
        ):
            found.append((i, indent))
    if len(found) != 1:
        return len(found)
    i, indent = found[0]
    new = [indent + line if line else "" for line in edit.new.splitlines()]
    return "\n".join([*lines[:i], *new, *lines[i + len(old) :]]) + "\n"


def _future_flags(module: ModuleType) -> int:
    flags = 0
    for value in vars(module).values():
        if isinstance(value, __future__._Feature):
            flags |= value.compiler_flag
    return flags


def _refuse_mangled(variant: str, patch: FunctionPatch, tree: ast.AST) -> None:
    # Inside a class body `self.__x` is compiled as `self._Class__x`; compiled alone it is not.
    for node in ast.walk(tree):
        name = node.attr if isinstance(node, ast.Attribute) else ""
        name = node.id if isinstance(node, ast.Name) else name
        if name.startswith("__") and not name.endswith("__"):
            raise StalePatch(
                f"engine variant {variant!r}: {patch.target} uses the private name {name}, "
                "which a patch cannot reproduce"
            )


@functools.cache
def _compile(variant: str, patch: FunctionPatch, original: FunctionType) -> FunctionType:
    if original.__code__.co_freevars:
        raise StalePatch(f"engine variant {variant!r}: {patch.target} is a closure")
    source = textwrap.dedent(inspect.getsource(original))
    for edit in patch.edits:
        edited = _replace_once(source, edit)
        if isinstance(edited, int):
            raise StalePatch(
                f"engine variant {variant!r} no longer applies: {patch.target} holds {edited} "
                f"occurrences of the snippet {edit.old!r} (expected exactly one); "
                "update the variant to the engine's current code"
            )
        source = edited
    tree = ast.parse(source)
    func = tree.body[0]
    if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef) or func.decorator_list:
        raise StalePatch(f"engine variant {variant!r}: {patch.target} is decorated")
    _refuse_mangled(variant, patch, tree)
    # A factory whose parameters are the extra names, so the function closes over them.
    names = dict(patch.names)
    factory = ast.parse(f"def _factory({', '.join(names)}):\n    return {func.name}\n")
    factory_def = factory.body[0]
    assert isinstance(factory_def, ast.FunctionDef)
    factory_def.body.insert(0, func)
    filename = f"<engine variant {variant}: {patch.target}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = sys.modules[original.__module__]
    code = compile(factory, filename, "exec", flags=_future_flags(module), dont_inherit=True)
    scope: dict[str, Any] = {}
    exec(code, vars(module), scope)
    made: FunctionType = scope["_factory"](**names)
    made.__qualname__ = original.__qualname__
    return made


def _bindings(owner: Any, original: FunctionType) -> list[tuple[Any, str]]:
    """Every place the engine looks `original` up by name."""
    if isinstance(owner, type):
        return [(owner, original.__name__)]
    found = []
    for name, module in list(sys.modules.items()):
        if module is owner or name == ENGINE or name.startswith(ENGINE + "."):
            found.extend((module, attr) for attr, v in vars(module).items() if v is original)
    return found


def apply(variant: str, patch: FunctionPatch) -> tuple[FunctionType, FunctionType]:
    """The original function and the patched one; `StalePatch` if the patch does not apply."""
    _, original = _owner_and_original(variant, patch)
    return original, _compile(variant, patch, original)


@contextlib.contextmanager
def patched(variant: str, patches: Sequence[FunctionPatch]) -> Iterator[None]:
    """The engine with `patches` swapped in for the block, restored after it however it ends."""
    targets = [patch.target for patch in patches]
    if len(set(targets)) != len(targets):
        # A second patch of one function would be built from the original and undo the first.
        raise StalePatch(f"engine variant {variant!r} patches one function twice: {targets}")
    swaps = []
    for patch in patches:  # every patch is built before any is swapped in
        owner, original = _owner_and_original(variant, patch)
        made = _compile(variant, patch, original)
        swaps.extend((where, attr, original, made) for where, attr in _bindings(owner, original))
    done: list[tuple[Any, str, FunctionType]] = []
    try:
        for where, attr, original, made in swaps:
            setattr(where, attr, made)
            done.append((where, attr, original))
        yield
    finally:
        for where, attr, original in reversed(done):
            setattr(where, attr, original)
