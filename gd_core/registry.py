"""Registries: what each plugin registered, by kind, and how to build it with checked parameters."""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import importlib
import inspect
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from gd_core.errors import MESSAGE_LIMIT, GdError, described, one_line

KINDS = ("descriptor", "assay", "model", "acquisition", "metric")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_LONGEST_LITERAL = 60  # characters of a value quoted in a message; a pasted file must not flood the line
# Python's wording when a callable gets a keyword it has no parameter for.
_REFUSED_KEYWORD = re.compile(r"got an unexpected keyword argument '(\w+)'")
# The memory address in a default repr (``<function f at 0x7f…>``): it differs between processes.
_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


def literal(value: Any) -> str:
    """``value`` as a user writes it in a spec file or a ``--param`` value (TOML/JSON): ``true``, ``"abc"``."""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, dict, str)):
        value = value.tolist()  # numpy scalars and arrays as Python numbers and lists
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float) and not math.isfinite(value):
        text = "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(literal(v) for v in value) + "]"
    elif isinstance(value, dict):
        keys = (k if _BARE_KEY.match(str(k)) else json.dumps(str(k)) for k in value)
        text = "{" + ", ".join(f"{k} = {literal(v)}" for k, v in zip(keys, value.values())) + "}"
    elif isinstance(value, (datetime.date, datetime.time)):
        text = value.isoformat()
    elif isinstance(value, (int, float)):
        text = repr(value)
    else:
        text = _stable_text(value)
    return text if len(text) <= _LONGEST_LITERAL else text[:_LONGEST_LITERAL - 1] + "…"


def plain(value: Any) -> Any:
    """``value`` as JSON holds it, the same in every process: lists and dicts element by element, a dataclass as
    a dict of its fields, a function or class by its qualified name, anything else as text without memory
    addresses. Non-finite floats become ``"nan"``/``"inf"`` (JSON has no such numbers)."""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, dict, str)):
        value = value.tolist()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else literal(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [plain(v) for v in items]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return _stable_text(value)


def _stable_text(value: Any) -> str:
    """Text for a value with no literal form: a callable by its qualified name (a partial with its arguments),
    anything else as ``str`` gives it, memory addresses removed."""
    if isinstance(value, functools.partial):
        arguments = [_stable_text(value.func), *(literal(a) for a in value.args),
                     *(f"{k}={literal(v)}" for k, v in value.keywords.items())]
        return f"partial({', '.join(arguments)})"
    if isinstance(value, Deferred):
        return value.target
    qualname = getattr(value, "__qualname__", None)
    if callable(value) and isinstance(qualname, str):
        module = getattr(value, "__module__", None)
        return f"{module}.{qualname}" if module else qualname
    return _ADDRESS.sub("", str(value))


class BadParameter(ValueError):
    """A factory's refusal of one parameter value; the registry adds the component and where the value was set.

    Raise it from a factory (or let ``gd_plugins_builtin._checks`` raise it) as
    ``BadParameter("max_depth", "a whole number ≥ 1, or null for no limit", value)``.
    """

    def __init__(self, parameter: str, allowed: str, value: Any) -> None:
        self.parameter, self.allowed, self.value = parameter, allowed, value
        super().__init__(f"{parameter} must be {allowed}, got {literal(value)}")


def boolean(name: str, value: object) -> bool:
    """``value`` if it is true or false (not 0, 1 or a string), else a ``BadParameter``."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise BadParameter(name, "true or false", value)
    return bool(value)


class Deferred:
    """A factory imported on first use, so registering it imports nothing heavy (torch, say).

    ``Deferred("package.module:Class", "One-line summary.")`` builds ``Class(**params)``. Its signature is
    the target's, so parameter names are still checked before anything is built and ``gd list KIND NAME``
    shows them with their defaults (which imports the target); a factory written as ``def f(**params)``
    would hide them.
    """

    def __init__(self, target: str, doc: str) -> None:
        self.target = target
        self.__doc__ = doc

    def __call__(self, **params: Any) -> Any:
        return self.load()(**params)

    def __repr__(self) -> str:
        return f"Deferred({self.target!r})"

    def load(self) -> Callable[..., Any]:
        """The target callable, imported now."""
        module, _, attribute = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise GdError(f"cannot import {self.target}: {exc}; reinstall the distribution that provides it") from None

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.load())


@dataclass(frozen=True)
class Entry:
    """One registered component: its name, factory and the plugin that provided it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str
    version: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The one-line description shown by ``gd list``."""
        if "summary" in self.metadata:
            return str(self.metadata["summary"])
        doc = self.description
        return doc.splitlines()[0] if doc else ""

    @property
    def description(self) -> str:
        """The factory's whole docstring, cleaned of indentation (empty without one)."""
        # a partial's own docstring describes functools.partial, not the component
        target = self.factory.func if isinstance(self.factory, functools.partial) else self.factory
        return (inspect.getdoc(target) or "").strip()

    @property
    def origin(self) -> str:
        """Which plugin registered this, for messages: ``plugin 'gdisco-foo'`` (and its distribution if it differs)."""
        extra = f" of {self.distribution}" if self.distribution and self.distribution != self.plugin else ""
        return f"plugin '{self.plugin}'{extra}"

    def signature(self) -> inspect.Signature | None:
        """The factory's signature, or None where Python cannot tell (some builtins and C callables)."""
        try:
            return inspect.signature(self.factory)
        except (TypeError, ValueError):
            return None

    def parameters(self) -> list[inspect.Parameter] | None:
        """The parameters a user can set by name, in order; None when the factory takes any keyword (``**params``)
        or its signature is unknown, so that names cannot be checked."""
        signature = self.signature()
        if signature is None or any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            return None
        return [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def create(self, **params: Any) -> Any:
        """Build the component; a parameter it does not take or cannot use is a GdError (see ``build``)."""
        return self.build(params)

    def build(self, params: dict[str, Any], *, prefixes: dict[str, str] | None = None) -> Any:
        """Call the factory with ``params``, after checking their names against its signature.

        ``prefixes`` says how the user addressed each parameter: by kind (``model.max_depth``, the default) or
        by the component's name (``random_forest.max_depth`` in a sweep), so that a refused value is named as
        it was written. A ``BadParameter`` or ``ValueError`` from the factory becomes a GdError; a ``TypeError``
        too when it is a keyword passed on to something that has no such parameter. Any other exception is a
        bug in the factory (or a failure it did not word, such as running out of memory): a GdError too, on one
        line naming the component and its plugin, the original chained; with ``GD_DEBUG`` set it propagates as
        raised, so that its traceback is printed.
        """
        check_params(self, params)
        try:
            return self.factory(**params)
        except BadParameter as exc:
            written = f"{(prefixes or {}).get(exc.parameter, self.kind)}.{exc.parameter}"
            raise GdError(f"{self.kind} '{self.name}': {exc} (set as {written})") from None
        except ValueError as exc:  # the factory's own verdict on a parameter value
            raise GdError(f"{self.kind} '{self.name}': {one_line(exc)}") from None
        except TypeError as exc:
            # A factory taking **params hands them on; the callee refusing one of the user's names means the
            # component has no such parameter. Whatever else a TypeError means is a bug, as below.
            refused = _REFUSED_KEYWORD.search(str(exc))
            if refused is None or refused.group(1) not in params:
                raise self._failed(exc) from exc
            raise GdError(f"{self.kind} '{self.name}' has no parameter '{refused.group(1)}' ({self.origin} refused "
                          f"it); see `gd list {self.kind} {self.name}` for the ones it takes") from None
        except GdError:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: Exception) -> Exception:
        """What a factory's unworded exception becomes: one line naming this component and its plugin (the
        exception itself under ``GD_DEBUG``, for its traceback)."""
        if os.environ.get("GD_DEBUG"):
            return exc
        return GdError(f"{self.kind} '{self.name}' ({self.origin}) raised {type(exc).__name__} while being built: "
                       f"{one_line(exc, limit=MESSAGE_LIMIT)} (a bug in it, or a failure it did not word; set "
                       "GD_DEBUG=1 to see the traceback)")


def parameter_listing(parameters: list[inspect.Parameter]) -> str:
    """``temperature = 1.5, relative = true``: each parameter with its default, or ``(required)``."""
    return ", ".join(f"{p.name} (required)" if p.default is p.empty else f"{p.name} = {literal(p.default)}"
                     for p in parameters)


def closest(word: str, candidates: list[str]) -> str | None:
    """The candidate a user most likely meant by ``word``: one it abbreviates (``temp``), else a close spelling."""
    prefixed = [c for c in candidates if c.startswith(word) or word.startswith(c)] if len(word) >= 3 else []
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return (close or prefixed or [None])[0]


def check_params(entry: Entry, params: dict[str, Any]) -> None:
    """Refuse parameter names the factory does not take, and missing required ones, before anything is built."""
    parameters = entry.parameters()
    if parameters is None:  # a factory taking **params, or one Python cannot inspect: it checks for itself
        return
    names = [p.name for p in parameters]
    takes = f"its parameters: {parameter_listing(parameters)}" if parameters else "it takes no parameters"
    for given in params:
        if given not in names:
            meant = closest(given, names)
            hint = f"; did you mean '{meant}'? {takes[0].upper()}{takes[1:]}" if meant else f"; {takes}"
            raise GdError(f"{entry.kind} '{entry.name}' has no parameter '{given}'{hint}")
    missing = [p.name for p in parameters if p.default is p.empty and p.name not in params]
    if missing:
        raise GdError(f"{entry.kind} '{entry.name}' needs parameter '{missing[0]}': set {entry.kind}.{missing[0]}; "
                      f"{takes}")


def validate_registration(kind: str, name: object, factory: object) -> None:
    """Raise ValueError for a name or factory no registry can hold (the plugin is then skipped)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{kind} name {name!r} is not valid: use letters, digits and underscores, starting with a letter"
        )
    if not callable(factory):
        raise ValueError(f"{kind} '{name}': factory {factory!r} is not callable")


class Registry:
    """The components of one kind, by name. Names claimed by two plugins are kept as conflicts."""

    def __init__(self, kind: str, missing_hint: Callable[[], str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._conflicts: dict[str, list[Entry]] = {}
        # Which plugins failed or were left out, any of which may have held a name ("" when none).
        self.missing_hint = missing_hint or (lambda: "")

    def add(self, entry: Entry) -> Entry | None:
        """Add an entry; return the entry already holding that name if there is one (a conflict)."""
        held = self._entries.get(entry.name)
        if held is None:
            self._entries[entry.name] = entry
            return None
        self._conflicts.setdefault(entry.name, [held]).append(entry)
        return held

    def get(self, name: str) -> Entry:
        """The entry for ``name``, or a GdError naming close matches or both conflicting plugins."""
        if name in self._conflicts:
            first, *others = self._conflicts[name]
            other = others[0]
            raise GdError(
                f"{self.kind} '{name}' is registered by both '{first.plugin}' and '{other.plugin}'; "
                "uninstall one or set GD_LOAD_PLUGINS"
            )
        try:
            return self._entries[name]
        except KeyError:
            pass
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "none is close"
        known = ", ".join(sorted(self._entries)) or "none registered"
        raise GdError(f"unknown {self.kind} '{name}'{self.missing_hint()}; {hint} (known: {known}; "
                      f"see `gd list {self.kind}`)")

    def create(self, name: str, **params: Any) -> Any:
        """Build the component registered as ``name`` with the given parameters."""
        return self.get(name).create(**params)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)


def failed_hint(failed: list[str], left_out: list[str] | tuple[str, ...] = ()) -> str:
    """`` (plugin 'x' failed to load and may have provided it: gd list-plugins)`` for an unknown name, with the
    installed distributions ``GD_LOAD_PLUGINS`` leaves out; ``""`` when there are none of either."""
    notes = []
    if failed:
        who = f"plugin '{failed[0]}'" if len(failed) == 1 else "plugins " + ", ".join(f"'{name}'" for name in failed)
        notes.append(f"{who} failed to load and may have provided it: gd list-plugins")
    if left_out:
        notes.append("GD_LOAD_PLUGINS leaves out the installed " + ", ".join(f"'{name}'" for name in left_out))
    return f" ({'; '.join(notes)})" if notes else ""


class Registries:
    """One registry per kind: ``registries.models.create("random_forest")``.

    ``missing_hint`` says which plugins failed to load or were left out by ``GD_LOAD_PLUGINS`` (``failed_hint``),
    so that a name none of the registries holds can say which plugin might have provided it (the plugin host
    passes it in).
    """

    def __init__(self, missing_hint: Callable[[], str] | None = None) -> None:
        self.missing_hint = missing_hint or (lambda: "")
        self.descriptors = Registry("descriptor", self.missing_hint)
        self.assays = Registry("assay", self.missing_hint)
        self.models = Registry("model", self.missing_hint)
        self.acquisitions = Registry("acquisition", self.missing_hint)
        self.metrics = Registry("metric", self.missing_hint)

    def of(self, kind: str) -> Registry:
        """The registry for a kind name such as ``"model"``."""
        by_kind = {r.kind: r for r in self}
        if kind not in by_kind:
            meant = closest(kind, list(KINDS))
            hint = f"did you mean '{meant}'? " if meant else ""
            raise GdError(f"unknown kind '{kind}'; {hint}use one of: {', '.join(KINDS)}")
        return by_kind[kind]

    def find(self, name: str) -> list[Entry]:
        """Every component registered as ``name``, whatever its kind (``simulated`` is a descriptor and an assay)."""
        return [registry.get(name) for registry in self if name in registry]

    def __iter__(self) -> Iterator[Registry]:
        return iter((self.descriptors, self.assays, self.models, self.acquisitions, self.metrics))


# A plugin's metadata is read by code of its own (a summary's __str__, a details function) or given in a type gd
# cannot use: a field that fails is shown as a marked stand-in naming the plugin, never the failure, so that one
# bad plugin leaves every listing and every other field readable.

class Unavailable(str):
    """A metadata field's stand-in: text, so that tables and JSON show it as they show any field, and a type of its
    own, so that a listing whose table has no column for the field can still tell the user about it."""


def unavailable(field: str, entry: Entry, reason: BaseException | str) -> Unavailable:
    """The stand-in for a metadata ``field`` the plugin failed to give: ``(details unavailable: plugin 'x' raised
    ZeroDivisionError: division by zero)``, or with ``reason`` as text (``gave int, not text``)."""
    if isinstance(reason, BaseException):
        reason = f"raised {described(reason, limit=200)}"
    return Unavailable(f"({field} unavailable: {entry.origin} {reason})")


def summary_of(entry: Entry) -> str:
    """``entry.summary`` (the ``summary=`` metadata as text, else the docstring's first line), or its stand-in."""
    try:
        return entry.summary
    except Exception as exc:  # noqa: BLE001 — a summary object whose __str__ raises, a __doc__ that does
        return unavailable("summary", entry, exc)
