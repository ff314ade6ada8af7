"""Registries: what each plugin registered, by kind, and how to build it."""

from __future__ import annotations

import difflib
import functools
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from gd_core.errors import GdError

KINDS = ("descriptor", "assay", "model", "acquisition", "metric")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
        # a partial's own docstring describes functools.partial, not the component
        target = self.factory.func if isinstance(self.factory, functools.partial) else self.factory
        doc = inspect.getdoc(target) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def create(self, **params: Any) -> Any:
        """Call the factory, turning a wrong parameter into a GdError that lists the accepted ones."""
        check_params(self, params)
        try:
            return self.factory(**params)
        except ValueError as exc:  # the factory's own verdict on a parameter value
            raise GdError(f"{self.kind} '{self.name}': {exc}") from None


def check_params(entry: Entry, params: dict[str, Any]) -> None:
    """Refuse parameters the factory does not accept, before anything is built."""
    try:
        signature = inspect.signature(entry.factory)
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return
    try:
        signature.bind(**params)
    except TypeError as exc:
        accepted = [p for p, v in signature.parameters.items() if v.kind is not v.VAR_KEYWORD]
        takes = ", ".join(accepted) if accepted else "no parameters"
        raise GdError(
            f"{entry.kind} '{entry.name}' refused its parameters ({exc}); it takes: {takes}"
        ) from None


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

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._conflicts: dict[str, list[Entry]] = {}

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
        raise GdError(f"unknown {self.kind} '{name}'; {hint} (known: {known}; see `gd list {self.kind}`)")

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


class Registries:
    """One registry per kind: ``registries.models.create("random_forest")``."""

    def __init__(self) -> None:
        self.descriptors = Registry("descriptor")
        self.assays = Registry("assay")
        self.models = Registry("model")
        self.acquisitions = Registry("acquisition")
        self.metrics = Registry("metric")

    def of(self, kind: str) -> Registry:
        """The registry for a kind name such as ``"model"``."""
        by_kind = {r.kind: r for r in self}
        if kind not in by_kind:
            raise GdError(f"unknown kind '{kind}'; use one of: {', '.join(KINDS)}")
        return by_kind[kind]

    def __iter__(self) -> Iterator[Registry]:
        return iter((self.descriptors, self.assays, self.models, self.acquisitions, self.metrics))
