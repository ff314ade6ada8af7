"""The plugin host: loads built-in and installed plugins one at a time and fills the registries.

A plugin that fails to import, implements a hook that does not exist, or raises while registering is
recorded with its error and skipped; every other plugin keeps working. ``GD_LOAD_PLUGINS`` chooses
which installed distributions load (unset: all; empty: none; ``a,b``: only those) and
``GD_STRICT_PLUGINS=1`` turns any plugin failure into an error, for plugin developers.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import pluggy

from gd_core import hookspecs
from gd_core.errors import GdError, shown
from gd_core.registry import Entry, Registries, failed_hint, validate_registration

if TYPE_CHECKING:
    import typer

ENTRY_POINT_GROUP = "gd.plugins"
BUILTIN_PACKAGE = "gd_plugins_builtin"
DISTRIBUTION = "gdisco"  # gd's own distribution on PyPI ("gd" there is an unrelated project)
_HOOK_NAMES = {name for name in dir(hookspecs) if name.startswith("gd_register_")}


@dataclass
class PluginRecord:
    """What ``gd list-plugins`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    source: str  # "builtin", "entry point", "file" (gd run --plugin) or "given" (passed in directly, as tests do)
    loaded: bool = False
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON form used by ``gd list-plugins --json``."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "source": self.source,
            "loaded": self.loaded,
            "registered": {kind: list(names) for kind, names in self.registered.items()},
            "error": self.error,
        }


_loading = threading.local()  # per thread: how deep we are in importing plugins or running their registration hooks


@contextlib.contextmanager
def _loading_plugins() -> Iterator[None]:
    _loading.depth = getattr(_loading, "depth", 0) + 1
    try:
        yield
    finally:
        _loading.depth -= 1


def plugins_loading() -> bool:
    """Whether this thread is importing a plugin or running its ``gd_register_*`` hooks (``gd_core.load`` refuses
    then: the registries it would read are still being filled)."""
    return getattr(_loading, "depth", 0) > 0


def gd_version() -> str:
    """The installed version of gd (the ``gdisco`` distribution), or the package's own in a source tree."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        from gd_core import __version__

        return __version__


def _command_names(app: typer.Typer) -> list[str]:
    """The names of the commands and command groups on ``app``, as typer will show them."""
    commands = [c.name or (c.callback.__name__.replace("_", "-") if c.callback else "") for c in app.registered_commands]
    return commands + [g.name or "" for g in app.registered_groups]


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower().strip()


class PluginHost:
    """Owns the pluggy manager, the per-plugin records and the registries they filled."""

    def __init__(
        self, *, builtins: bool = True, entry_points: bool = True, plugins: Iterable[object] = ()
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []
        self.left_out: list[str] = []  # installed plugin distributions GD_LOAD_PLUGINS leaves out
        self.unmatched: list[str] = []  # GD_LOAD_PLUGINS names that match no installed plugin distribution
        self.registries = Registries(missing_hint=self.missing_hint)
        self.failures_reported = False  # the CLI warns about failed plugins once per host
        if builtins:
            self._load_builtins()
        if entry_points:
            self._load_entry_points()
        for plugin in plugins:
            # modules and classes by their own name, instances by their class's name
            name = plugin.__name__ if isinstance(plugin, (type, ModuleType)) else type(plugin).__name__
            self.add(plugin, name=name, distribution=name, version="", source="given")
        if os.environ.get("GD_STRICT_PLUGINS", "") not in ("", "0"):
            failed = [r for r in self.records if r.error]
            if failed:
                raise GdError(f"plugin '{failed[0].name}' failed: {failed[0].error} (GD_STRICT_PLUGINS is set)")

    def _load_builtins(self) -> None:
        version = gd_version()
        package = importlib.import_module(BUILTIN_PACKAGE)
        for module_name in package.MODULES:
            name = "builtin." + module_name.rsplit(".", 1)[-1]
            record = PluginRecord(name, DISTRIBUTION, version, "builtin")
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:  # a broken built-in must not take the CLI down either
                record.error = _one_line(f"import failed: {type(exc).__name__}: {shown(exc)}")
                self.records.append(record)
                continue
            self.add(module, name=name, distribution=DISTRIBUTION, version=version, source="builtin")

    def failed_to_load(self) -> list[str]:
        """Names of the plugins that failed before registering anything (import, hook or registration errors)."""
        return [record.name for record in self.records if record.error and not record.loaded]

    def missing_hint(self) -> str:
        """For an unknown name: the plugins that failed to load or that GD_LOAD_PLUGINS leaves out ("" if none)."""
        return failed_hint(self.failed_to_load(), self.left_out)

    def _load_entry_points(self) -> None:
        chosen = os.environ.get("GD_LOAD_PLUGINS")
        wanted = None if chosen is None else {_canonical(n) for n in chosen.split(",") if n.strip()}
        points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        dists = [point.dist.name if point.dist else point.name for point in points]
        if wanted is not None:
            installed = {_canonical(dist) for dist in dists}
            self.unmatched = sorted(name for name in wanted if name not in installed)
        for dist, point in sorted(zip(dists, points), key=lambda pair: (_canonical(pair[0]), pair[1].name)):
            version = point.dist.version if point.dist else ""
            if wanted is not None and _canonical(dist) not in wanted:
                if wanted and dist not in self.left_out:  # a selection (where typos happen), not "load none"
                    self.left_out.append(dist)
                continue
            # a distribution with several entry points gets one record per entry point
            name = dist if dists.count(dist) == 1 else f"{dist}:{point.name}"
            try:
                plugin = point.load()
            except Exception as exc:
                self.records.append(
                    PluginRecord(name, dist, version, "entry point",
                                 error=_one_line(f"import of '{point.value}' failed: "
                                                f"{type(exc).__name__}: {shown(exc)}"))
                )
                continue
            if point.dist is not None:
                version = _editable_version(point.dist, version, point.module)
            self.add(plugin, name=name, distribution=dist, version=version, source="entry point")

    def add(self, plugin: object, *, name: str, distribution: str, version: str, source: str) -> PluginRecord:
        """Register one plugin object and run its registration hooks; failures land in its record."""
        record = PluginRecord(name, distribution, version, source)
        self.records.append(record)
        problem = _unmarked_or_misspelt_hooks(plugin)
        if problem:
            record.error = problem
            return record
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy's validation of hook signatures, or a name clash
            record.error = _one_line(f"{type(exc).__name__}: {shown(exc)}")
            if isinstance(exc, pluggy.PluginValidationError):
                record.error += "; a hook takes only arguments its spec names (see gd_core/hookspecs.py)"
            return record
        unknown = [caller.name for caller in self.pm.get_hookcallers(plugin) or [] if not caller.has_spec()]
        if unknown:
            self.pm.unregister(plugin)
            record.error = _unknown_hook_message(unknown[0])
            return record
        try:
            with _loading_plugins():
                staged = self._collect(plugin)
        except Exception as exc:
            self.pm.unregister(plugin)
            record.error = _one_line(f"raised while registering: {type(exc).__name__}: {shown(exc)}")
            return record
        record.loaded = True
        conflicts = []
        for entry in staged:
            held = self.registries.of(entry.kind).add(entry)
            if held is not None:
                conflicts.append(
                    f"{entry.kind} '{entry.name}' is registered by both '{held.plugin}' and '{name}'; "
                    "uninstall one or set GD_LOAD_PLUGINS"
                )
            record.registered.setdefault(entry.kind, []).append(entry.name)
        if conflicts:
            record.error = "; ".join(conflicts)
        return record

    def _collect(self, plugin: object) -> list[Entry]:
        """Call the plugin's registration hooks and return what it registered, validated."""
        record_of = {r.name: r for r in self.records}
        record = record_of[self.pm.get_name(plugin)]
        staged: list[Entry] = []
        seen: set[tuple[str, str]] = set()
        for hook_name, kind in hookspecs.REGISTRATION_HOOKS.items():

            def register(name: str, factory: Any, _kind: str = kind, **metadata: Any) -> None:
                validate_registration(_kind, name, factory)
                if _kind == "metric" and metadata.get("better", "higher") not in ("lower", "higher"):
                    raise ValueError(f"metric '{name}' declares better={shown(metadata['better'])!r}; write "
                                     "better=\"lower\" or better=\"higher\"")
                if (_kind, name) in seen:
                    raise ValueError(f"{_kind} '{name}' registered twice by the same plugin")
                seen.add((_kind, name))
                staged.append(Entry(_kind, name, factory, record.name, record.distribution,
                                    record.version, dict(metadata)))

            for impl in self._impls_of(hook_name, plugin):
                impl.function(*[{"register": register}[arg] for arg in impl.argnames])
        return staged

    def _impls_of(self, hook_name: str, plugin: object) -> list[pluggy.HookImpl]:
        caller = getattr(self.pm.hook, hook_name)
        return [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]

    def add_commands(self, app: typer.Typer) -> None:
        """Let each loaded plugin add CLI subcommands; a plugin that raises is recorded, not fatal.

        What each plugin added is recorded as its ``command`` registrations, so ``gd list-plugins`` shows it.
        """
        for record in self.records:
            plugin = self.pm.get_plugin(record.name) if record.loaded else None
            if plugin is None:
                continue
            for impl in self._impls_of("gd_register_commands", plugin):
                before = _command_names(app)
                try:
                    impl.function(*[{"app": app, "host": self}[arg] for arg in impl.argnames])
                except Exception as exc:
                    record.error = _one_line(f"gd_register_commands raised {type(exc).__name__}: {shown(exc)}")
                added = [name for name in _command_names(app) if name not in before]
                if added:
                    record.registered.setdefault("command", []).extend(added)


def load_plugin_file(host: PluginHost, path: Path) -> PluginRecord:
    """Load one Python file as a plugin for this invocation (``gd run --plugin FILE``).

    Its version, on the record and on every component it registers, is ``sha256:`` and the first 16 hex digits
    of the file's hash, so that results made by an edited file can be told from the old ones. Any problem is a
    GdError that points at the file (and line, where there is one).
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise GdError(f"--plugin {path}: {what}; give the path of a Python file with @hookimpl functions")
    module_name = f"gd_file_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise GdError(f"--plugin {path}: not a Python module; give a .py file")
    try:
        version = file_version(path)
    except OSError as exc:
        raise GdError(f"--plugin {path}: cannot read it: {exc.strerror or exc}") from None
    module = importlib.util.module_from_spec(spec)
    try:
        with _loading_plugins():
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise GdError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        line = next((frame.lineno for frame in reversed(traceback.extract_tb(exc.__traceback__))
                     if Path(frame.filename).resolve() == path.resolve()), None)
        where = f"{path}:{line}" if line else str(path)
        raise GdError(_one_line(f"{where}: {type(exc).__name__} while loading the plugin: {shown(exc)}")) from None
    record = host.add(module, name=f"file:{path.name}", distribution=str(path), version=version, source="file")
    if record.error:
        raise GdError(f"{path}: {record.error}")
    if not record.registered and not host._impls_of("gd_register_commands", module):
        raise GdError(f"{path}: registers nothing; define a @hookimpl gd_register_* function (see docs/plugins.md)")
    return record


def _editable_version(dist: importlib.metadata.Distribution, version: str, module: str) -> str:
    """``VERSION+sha256:<16 hex>`` for a distribution installed editable (``pip install -e``), else ``version``.

    An editable install runs its source as it is now, so its version alone does not say which code made a result:
    the hash covers every ``.py`` file of the entry point's top-level package (or its single module), so that an
    edit makes the runs it made stale, as a new release or an edited ``--plugin`` file does.
    """
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "null")
    except (OSError, ValueError):
        return version
    if not (isinstance(direct, dict) and isinstance(direct.get("dir_info"), dict) and direct["dir_info"].get("editable")):
        return version
    top = sys.modules.get(module.split(".")[0])
    paths = list(getattr(top, "__path__", None) or [])
    origin = getattr(top, "__file__", None)
    roots = [Path(root) for root in paths] if paths else [Path(origin).parent] if origin else []
    files = sorted((f.relative_to(root).as_posix(), f) for root in roots
                   for f in (root.rglob("*.py") if paths else [Path(origin)]))
    digest = hashlib.sha256()
    try:
        for relative, file in files:  # relative names: the hash does not change when the checkout moves
            digest.update(relative.encode() + b"\0" + file.read_bytes())
    except OSError:
        return version
    return f"{version}+sha256:{digest.hexdigest()[:16]}" if files else version


def file_version(path: Path) -> str:
    """``sha256:`` and the first 16 hex digits of the SHA-256 of the file's bytes: a plugin file's version."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _one_line(message: str) -> str:
    """A plugin's error on one line (pluggy's own messages span several), its lines joined by "; "."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def _unknown_hook_message(hook: str) -> str:
    close = difflib.get_close_matches(hook, sorted(_HOOK_NAMES), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else "; see gd_core/hookspecs.py for the hooks"
    return f"implements unknown hook '{hook}'{hint}"


def _unmarked_or_misspelt_hooks(plugin: object) -> str | None:
    """Catch a ``gd_register_*`` function that pluggy would silently ignore or that has no spec."""
    for attr in sorted(dir(plugin)):
        if not attr.startswith("gd_register"):
            continue
        value = getattr(plugin, attr, None)
        if not callable(value):
            continue
        if attr not in _HOOK_NAMES:
            return _unknown_hook_message(attr)
        if not hasattr(value, hookspecs.PROJECT + "_impl"):
            return f"defines '{attr}' without the @hookimpl decorator (from gd_core import hookimpl)"
    return None
