"""The gd kernel: what a plugin author needs, and nothing else.

- ``hookspecs`` — the hooks a plugin implements and the contracts of what it registers (read this first);
- ``plugins`` — finding and loading plugins; ``registry`` — the registries and parameter checks;
- ``data`` — the data a component sees (``Dataset``, ``Pool``, ``Truth``) and the model capabilities;
- ``loop`` — the active-learning loop; ``results`` — writing a run's directory;
- ``loader`` — ``gd_core.load``; ``testing`` — checkers for plugin tests; ``errors`` — ``GdError``;
- ``helpers/`` — offered to plugins: gene symbols, user tables, cached downloads, threads.

The command line and the applications built on this kernel (sweeps, reports, plots) are the ``gd_apps`` package,
which the kernel never imports.

``gd_core.load(kind, name, **params)`` gives any registered descriptor or assay (``gd_core.loader``). The
public names below are imported on first use (PEP 562), so ``import gd_core`` alone — as the ``gd``
command does before it can handle Ctrl-C — loads no pandas or numpy.

``gd_core.run``, ``sweep``, ``propose`` and ``Campaign`` are the Python API of ``gd_apps.api`` (docs/python.md),
looked up by name on first use: the kernel still imports nothing of ``gd_apps``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from gd_core._moved import MovedModules

__version__ = "0.1.0"
if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(MovedModules())  # last: only names no real module has reach it
_PUBLIC = {"Dataset": "gd_core.data", "Pool": "gd_core.data", "Truth": "gd_core.data",
           "GdError": "gd_core.errors", "hookimpl": "gd_core.hookspecs", "load": "gd_core.loader",
           # the Python API lives with the applications; a module path here is a string, not an import
           "run": "gd_apps.api", "sweep": "gd_apps.api", "propose": "gd_apps.api", "Campaign": "gd_apps.api"}
__all__ = [*sorted(_PUBLIC), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'gd_core' has no attribute {name!r}")
