"""gd core: hookspecs, plugin host, registries, data contracts, the active-learning loop and the CLI.

``gd_core.load(kind, name, **params)`` gives any registered descriptor or assay (``gd_core.loader``). The
public names below are imported on first use (PEP 562), so ``import gd_core`` alone — as the ``gd``
command does before it can handle Ctrl-C — loads no pandas or numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
_PUBLIC = {"Dataset": "gd_core.data", "Pool": "gd_core.data", "Truth": "gd_core.data",
           "GdError": "gd_core.errors", "hookimpl": "gd_core.hookspecs", "load": "gd_core.loader"}
__all__ = [*sorted(_PUBLIC), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'gd_core' has no attribute {name!r}")
