"""Make the mutated engine beside this folder the one imported, under mutmut's names.

mutmut copies `engine/` (mutated), `mfm_sim/`, `scenarios/` and `tools/` into `mutants/` and
runs the test command there. Two things would make every mutant survive unseen:

* the engine installs as `mfm_engine` (`package-dir` in `pyproject.toml`), a name no folder
  has, so the editable install imports the original `engine/`, not the copy;
* mutmut names a mutant by its file's path (`engine.config.x_compute_backoff__mutmut_1`) and
  activates it only in a function whose `__module__` is that path's module (`engine.config`),
  while the installed module is `mfm_engine.config`.

So when the `engine/` beside this folder is not the installed one, a finder loads
`mfm_engine.*` from it, executing each module under its path name (`engine.*`, which is
what its functions' `__module__` keeps) and restoring the installed name afterwards (what
`sys.modules`, the harness's frame test and every import see). In the working tree, where
the installed engine is this one, it does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__: list[str] = []

_ROOT = Path(__file__).resolve().parent.parent
_INSTALLED, _FOLDER = "mfm_engine", "engine"


class _PathNamedLoader(importlib.machinery.SourceFileLoader):
    """Runs a module's code under mutmut's path-derived name, then gives it its own back."""

    def __init__(self, fullname: str, path: str, path_name: str) -> None:
        super().__init__(fullname, path)
        self.path_name = path_name

    def exec_module(self, module: ModuleType) -> None:
        real = module.__name__
        code = self.get_code(real)
        module.__name__ = self.path_name
        try:
            exec(code, module.__dict__)
        finally:
            module.__name__ = real


class _CopyFinder(importlib.abc.MetaPathFinder):
    """`mfm_engine[.x]` from the `engine/` folder beside `tools/`."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        parts = fullname.split(".")
        if parts[0] != _INSTALLED:
            return None
        base = _ROOT.joinpath(_FOLDER, *parts[1:])
        if base.is_dir():
            file, search = base / "__init__.py", [str(base)]
        elif base.with_suffix(".py").is_file():
            file, search = base.with_suffix(".py"), None
        else:
            return None
        path_name = ".".join([_FOLDER, *parts[1:]])
        loader = _PathNamedLoader(fullname, str(file), path_name)
        return importlib.util.spec_from_file_location(
            fullname, file, loader=loader, submodule_search_locations=search
        )


def _installed_folder() -> Path | None:
    spec = importlib.util.find_spec(_INSTALLED)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _install() -> None:
    if _INSTALLED in sys.modules or any(isinstance(f, _CopyFinder) for f in sys.meta_path):
        return
    if _installed_folder() != _ROOT / _FOLDER:
        sys.meta_path.insert(0, _CopyFinder())


_install()
