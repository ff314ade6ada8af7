"""Old import paths kept for plugins written against gdisco 0.1: ``gd_core.genes`` and its siblings now live in
``gd_core.helpers``. Importing an old path still works (with a ``DeprecationWarning``): it gives a stand-in
module whose attributes are read from, and written to, the module at its new place, so ``monkeypatch`` and
``from gd_core.downloads import cached_table`` behave as before. Remove in gdisco 1.0.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import types
import warnings
from typing import Any

#: Old module name → new module name.
MOVED = {f"gd_core.{name}": f"gd_core.helpers.{name}" for name in ("genes", "tables", "downloads", "parallel")}


class _StandIn(types.ModuleType):
    """A module under its old name that forwards every attribute to the module at its new place."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__(old)
        super().__setattr__("_moved_to", importlib.import_module(new))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moved_to, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("__"):  # the import system's own bookkeeping (__spec__, …) stays on the stand-in
            super().__setattr__(name, value)
        else:
            setattr(self._moved_to, name, value)

    def __dir__(self) -> list[str]:
        return dir(self._moved_to)


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there (the old path goes in gdisco 1.0)",
                      DeprecationWarning, stacklevel=2)
        return _StandIn(spec.name, new)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class MovedModules(importlib.abc.MetaPathFinder):
    """Finds the old names in ``MOVED``; every other import is left to the normal finders."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED:
            return importlib.machinery.ModuleSpec(fullname, _Loader())
        return None
