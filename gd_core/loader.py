"""``gd_core.load(kind, name, **params)``: any registered descriptor or assay, built as ``gd run`` builds it.

For plugins that build on another component (a descriptor derived from ``gene_ontology``) and for notebooks::

    from gd_core import load

    go = load("descriptor", "gene_ontology")            # pandas DataFrame, genes × 128 features
    il2 = load("assay", "schmidt_2021_il2")             # pandas Series, one value per gene
    go64 = load("descriptor", "gene_ontology", dims=64)  # parameters as ``--param descriptor.dims=64``

The name is looked up in the same registries as ``gd run --descriptor/--assay`` (a file path reads a user
table, as there), the parameters are checked against the factory's signature, and every refusal is one
``GdError`` line: an unknown name with the closest ones, a parameter the factory lacks, a value it refuses.

Caching. One plugin host is built per process, on the first call (built-ins and installed plugins, as
``GD_LOAD_PLUGINS`` allows), never one per call. Within the process each (kind, name, parameters) is built
once; every call returns a fresh copy of that table (a millisecond for ``gene_ontology``), so a caller
that changes its copy never changes what the next caller gets. Across processes, components cache what is
expensive themselves (downloaded descriptors and computed SVDs live in gd's data cache,
``gd_core.helpers.downloads``); this module adds no disk cache of its own. ``reset()`` forgets the host and the tables.

Call ``load`` inside a factory (it runs when a run needs the data), never at a plugin's import or in its
``gd_register_*`` hook: plugins are still loading then, and the call is refused with a message saying so.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Iterable

from gd_core.errors import GdError

if TYPE_CHECKING:
    from gd_core.plugins import PluginHost
    from gd_core.registry import Entry

#: The kinds ``load`` builds: the data kinds (models, acquisitions and metrics are objects a run builds afresh).
LOADABLE = ("descriptor", "assay")
#: Tables kept per process, most recently used last; older ones are dropped (a large descriptor is ~100 MB).
CACHE_SIZE = 8

_lock = threading.RLock()
_local = threading.local()  # per thread: the keys being built now, to catch a factory that loads itself
_host: PluginHost | None = None
_cache: OrderedDict[str, Any] = OrderedDict()
_given: set[str] = set()  # plugins added by `plugins=`, by resolved file path or module name


def load(kind: str, name: str, /, *, plugins: Iterable[Any] = (), **params: Any) -> Any:
    """The registered descriptor (a ``pandas.DataFrame``) or assay (a ``pandas.Series``) ``name``, built with
    ``params`` as ``gd run --param KIND.KEY=VALUE`` would; a fresh copy of a per-process cached table.

    ``plugins`` are plugin files (``.py`` paths), module names or plugin objects to add to the process's
    host first, as ``gd run --plugin`` does; they stay loaded for the rest of the process.
    """
    kind = _checked_kind(kind)
    if not isinstance(name, str) or not name:
        raise GdError(f"gd_core.load: the {kind} name must be a non-empty string, got {name!r}")
    host = process_host()
    if plugins:
        _add_plugins(host, plugins)
    from gd_core.loop import dataset_entry

    entry = dataset_entry(kind, name, host.registries)
    key = _key(kind, name, entry, params)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key].copy()
    stack: list[str] = _local.__dict__.setdefault("stack", [])
    if key in stack:
        chain = " → ".join(json.loads(k)[1] for k in stack[stack.index(key):]) + f" → {name}"
        raise GdError(f"{kind} '{name}' loads itself through gd_core.load ({chain}); a factory must not load "
                      "the component it builds")
    stack.append(key)
    try:
        table = _as_kind(kind, name, entry.create(**params))
    finally:
        stack.pop()
    with _lock:
        _cache[key] = table
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return table.copy()


def process_host() -> PluginHost:
    """The plugin host ``load`` uses: the one given to ``use_host``, else one built on first use (built-ins and
    the installed plugins ``GD_LOAD_PLUGINS`` allows)."""
    global _host
    from gd_core.plugins import PluginHost, plugins_loading

    if plugins_loading():  # whichever host is loading them: a plugin's import or registration hook called load
        raise GdError("gd_core.load was called while gd was loading plugins (at a plugin's import or in its "
                      "gd_register_* hook); call it inside the factory, which runs when a run needs the data")
    with _lock:
        if _host is None:
            _host = PluginHost()
        return _host


def use_host(host: PluginHost) -> None:
    """Make ``load`` look names up in ``host`` (the CLI's own, so that ``--plugin`` files are seen too).

    A different host from the current one empties the cache, whose tables its registries might not build alike.
    """
    global _host
    with _lock:
        if host is not _host:
            _host = host
            _cache.clear()
            _given.clear()


def reset() -> None:
    """Forget the host and every cached table (after changing a source a factory reads, or between tests)."""
    global _host
    with _lock:
        _host = None
        _cache.clear()
        _given.clear()


def _checked_kind(kind: object) -> str:
    if kind in LOADABLE:
        return str(kind)
    from gd_core.registry import KINDS, closest

    if kind in KINDS:
        raise GdError(f"gd_core.load builds descriptors and assays, not a {kind}: a run builds a fresh {kind} "
                      f"itself (in a test, use gd_core.testing or host.registries.of({kind!r}).create(NAME))")
    meant = closest(str(kind), list(LOADABLE))
    hint = f"did you mean '{meant}'? " if meant else ""
    raise GdError(f"gd_core.load: unknown kind {kind!r}; {hint}use 'descriptor' or 'assay'")


def _key(kind: str, name: str, entry: Entry, params: dict[str, Any]) -> str:
    """The cache key: kind, name, the parameters with the factory's defaults filled in (so that an explicit
    default and an omitted one share a table), and a user table's size and modification time."""
    bound = dict(params)
    signature = entry.signature() if entry.parameters() is not None else None
    if signature is not None:
        try:
            arguments = signature.bind_partial(**params)
            arguments.apply_defaults()
            bound = dict(arguments.arguments)
        except TypeError:  # a name it lacks: entry.create refuses it in one line
            pass
    identity = None
    if entry.plugin == "user file":
        try:
            stat = Path(name).stat()
            identity = [str(Path(name).resolve()), stat.st_size, stat.st_mtime_ns]
        except OSError:
            pass  # the reader refuses a missing file in its own words
    return json.dumps([kind, name, bound, identity], sort_keys=True, default=repr)


def _as_kind(kind: str, name: str, table: Any) -> Any:
    """Refuse a factory's result that is not the pandas object its kind promises (a one-column frame is an assay)."""
    import pandas as pd

    if kind == "assay" and isinstance(table, pd.DataFrame) and table.shape[1] == 1:
        table = table.iloc[:, 0]
    wanted = pd.DataFrame if kind == "descriptor" else pd.Series
    if not isinstance(table, wanted):
        article = "an" if kind == "assay" else "a"
        raise GdError(f"{kind} '{name}' returned {type(table).__name__}; {article} {kind} factory must return a "
                      f"pandas {wanted.__name__} indexed by gene")
    return table


def _add_plugins(host: PluginHost, plugins: Iterable[Any]) -> None:
    """Add plugin files, module names or objects to ``host``, each once per process."""
    from gd_core.plugins import load_plugin_file

    if isinstance(plugins, (str, os.PathLike)):
        plugins = [plugins]
    with _lock:
        for plugin in plugins:
            if isinstance(plugin, os.PathLike) or (isinstance(plugin, str) and _is_file_name(plugin)):
                path = Path(plugin).resolve()
                if str(path) in _given or _loaded_file(host, path):
                    continue
                load_plugin_file(host, path)
                _given.add(str(path))
                continue
            if isinstance(plugin, str):
                try:
                    plugin = importlib.import_module(plugin)
                except ImportError as exc:
                    raise GdError(f"gd_core.load plugins=[{plugin!r}]: cannot import it ({exc}); give an importable "
                                  "module name or the path of a .py file") from None
            if host.pm.is_registered(plugin):
                continue
            name = plugin.__name__ if isinstance(plugin, (type, ModuleType)) else type(plugin).__name__
            record = host.add(plugin, name=name, distribution=name, version="", source="given")
            if record.error:
                raise GdError(f"plugin '{name}': {record.error}")


def _is_file_name(text: str) -> bool:
    return text.endswith(".py") or "/" in text or os.sep in text


def _loaded_file(host: PluginHost, path: Path) -> bool:
    """Whether ``host`` already holds the plugin file ``path`` (``gd run --plugin`` loaded it)."""
    return any(r.source == "file" and Path(r.distribution).resolve() == path for r in host.records)
