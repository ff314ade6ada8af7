"""gd core: hookspecs, plugin host, registries, data contracts, the active-learning loop and the CLI."""

from gd_core.data import Dataset, Pool, Truth
from gd_core.errors import GdError
from gd_core.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["Dataset", "GdError", "Pool", "Truth", "hookimpl", "__version__"]
