"""``gd info``: everything gd knows about one component, for people and (``--json``) for programs.

What a component offers or needs is read without fitting anything. A model's capabilities come from the class
its factory builds (the class itself, a ``Deferred`` target, or the factory's return annotation), checked against
the capability protocols of ``gd_core.data``; only a factory that is a plain function with no annotation is
called, with its default parameters, and the unfitted object is checked. An acquisition's needs are its
``requires`` attribute, read the same way. A metric's direction is the ``better=`` it was registered with.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape

from gd_apps.common import PluginFiles, console, load_plugin_files, print_table, table
from gd_core.errors import GdError
from gd_core.hookspecs import declared_requirements, hookimpl
from gd_core.registry import (KINDS, Deferred, Entry, Unavailable, closest, literal, plain, summary_of,
                              unavailable)

if TYPE_CHECKING:
    from gd_core.plugins import PluginHost

# How each answer was found, as `--json` says it.
FROM_CLASS, FROM_INSTANCE = "class", "instance"


def singular(kind: str) -> str:
    """``models`` → ``model``; anything else as given."""
    return kind[:-1] if kind.endswith("s") and kind[:-1] in KINDS else kind


def description_of(entry: Entry) -> str:
    """``entry.description`` (the factory's docstring), or its stand-in."""
    try:
        return entry.description
    except Exception as exc:  # noqa: BLE001 — a factory whose __doc__ raises
        return unavailable("description", entry, exc)


def plain_of(entry: Entry, field: str, value: Any) -> Any:
    """``plain(value)`` (JSON's form of a metadata value), or its stand-in when its text cannot be made."""
    try:
        return plain(value)
    except Exception as exc:  # noqa: BLE001 — an object whose __str__ raises
        return unavailable(field, entry, exc)


def find_components(host: PluginHost, first: str, second: str | None) -> list[Entry]:
    """The components ``gd info FIRST [SECOND]`` names: ``KIND NAME``, or a NAME of any kind (all of them).

    An unknown name is one GdError with the closest known name and its kind, and the plugins that failed to load.
    """
    registries = host.registries
    if second is not None:
        if singular(first) not in KINDS:  # `gd info protocol NAME` is answered before this
            meant = closest(singular(first), [*KINDS, "protocol"])
            hint = f"did you mean '{meant}'? " if meant else ""
            raise GdError(f"unknown kind '{first}'; {hint}use one of: {', '.join(KINDS)}, protocol")
        return [registries.of(singular(first)).get(second)]
    found = registries.find(first)
    if found:
        return found
    if singular(first) in KINDS:
        kind = singular(first)
        raise GdError(f"give a {kind}'s name too: gd info {kind} NAME (`gd list {kind}` lists them)")
    from gd_core.protocols import PROTOCOLS

    if first in PROTOCOLS:
        raise GdError(f"'{first}' is a protocol, not a component: gd info protocol {first}")
    kinds: dict[str, list[str]] = {}
    for registry in registries:
        for entry in registry:
            kinds.setdefault(entry.name, []).append(entry.kind)
    meant = closest(first, sorted(kinds))
    hint = f"did you mean '{meant}' ({', '.join(kinds[meant])})? " if meant else ""
    raise GdError(f"unknown component '{first}'{host.missing_hint()}; {hint}"
                  "`gd list` shows every registered name")


def built_class(entry: Entry) -> type | None:
    """The class the factory builds, known without calling it: the factory itself when it is a class (also inside
    a ``functools.partial`` or a ``Deferred``, which is imported), or its return annotation when that is one."""
    target: Any = entry.factory
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, Deferred):
        target = target.load()
    if isinstance(target, type):
        return target
    try:
        returned = typing.get_type_hints(target).get("return")
    except Exception:  # a name in the annotation that its module cannot resolve: no answer, not an error
        return None
    return returned if isinstance(returned, type) else None


def model_capabilities(entry: Entry) -> tuple[list[str] | None, str | None]:
    """The capabilities a model offers and how that was found (``class`` or ``instance``); None when the factory
    can only tell by being called and cannot be called with its defaults."""
    from gd_core.data import CAPABILITIES, capabilities_of

    cls = built_class(entry)
    if cls is not None:
        return [name for name, protocol in CAPABILITIES.items() if _offers(cls, protocol)], FROM_CLASS
    try:
        return capabilities_of(entry.create()), FROM_INSTANCE
    except Exception:
        return None, None


def _offers(cls: type, protocol: type) -> bool:
    """Whether the class has every method of the protocol (what isinstance checks on an object)."""
    try:
        return issubclass(cls, protocol)
    except TypeError:  # a protocol with data members cannot be checked on a class
        members = [name for name in vars(protocol) if not name.startswith("_")]
        return all(callable(getattr(cls, name, None)) for name in members)


def acquisition_requires(entry: Entry) -> tuple[list[str] | None, str | None, str | None]:
    """The capabilities an acquisition requires of the model (its ``requires``), how that was found, and, for a
    ``requires`` that ``gd run`` refuses, its refusal (then the capabilities are None)."""
    try:
        cls = built_class(entry)
        # On the class, unless requires is computed per instance (a property's class attribute is the property)
        if cls is not None and hasattr(cls, "requires") and not hasattr(inspect.getattr_static(cls, "requires"),
                                                                        "__get__"):
            declaring, how = cls, FROM_CLASS
        else:
            declaring, how = entry.create(), FROM_INSTANCE
    except Exception:  # noqa: BLE001 — unknown: a factory that needs parameters
        return None, None, None
    try:  # gd run's own reading of requires, so that info shows what a run would accept
        return declared_requirements(declaring, entry.name, entry.origin), how, None
    except GdError as exc:
        return None, None, str(exc)


def describe(entry: Entry) -> dict[str, Any]:
    """One component as ``gd info --json`` prints it: plain JSON values only, the same in every process.

    ``parameters`` is null when the factory takes any keyword (so they cannot be listed); models add ``offers``,
    acquisitions ``requires`` (each with ``*_from``: ``class`` or ``instance``, null when unknown; acquisitions
    also ``requires_refused``, why ``gd run`` refuses their ``requires``, or null), metrics
    ``better`` (``lower``, ``higher`` or null when the plugin did not say) and ``needs_test_split`` (null when the
    class cannot be read without building it).
    """
    parameters = entry.parameters()
    listed = None if parameters is None else [
        {"name": p.name, "required": p.default is p.empty,
         "default": None if p.default is p.empty else plain_of(entry, f"default of {p.name}", p.default)}
        for p in parameters]
    about: dict[str, Any] = {
        "kind": entry.kind, "name": entry.name, "summary": summary_of(entry), "description": description_of(entry),
        "plugin": entry.plugin, "distribution": entry.distribution, "version": entry.version,
        "parameters": listed,
    }
    if entry.kind == "model":
        about["offers"], about["offers_from"] = model_capabilities(entry)
    elif entry.kind == "acquisition":
        about["requires"], about["requires_from"], about["requires_refused"] = acquisition_requires(entry)
    elif entry.kind == "metric":
        better = entry.metadata.get("better")
        about["better"] = better if better in ("lower", "higher") else None
        built = built_class(entry)
        about["needs_test_split"] = bool(getattr(built, "needs_test_split", False)) if built is not None else None
    about["metadata"] = {str(k): plain_of(entry, str(k), v) for k, v in entry.metadata.items()}
    return about


def show_protocols(name: str | None, as_json: bool) -> None:
    """``gd list protocols`` (every protocol, one line each) or ``gd info protocol NAME`` (one in full)."""
    from gd_core.protocols import PROTOCOLS, get_protocol

    try:
        chosen = [get_protocol(name)] if name is not None else list(PROTOCOLS.values())
    except GdError as exc:  # worded for --protocol; here it is a name
        raise GdError(str(exc).replace("--protocol ", "", 1).replace(" is not a protocol", " is no protocol", 1)
                      ) from None
    if as_json:
        described = [p.describe() for p in chosen]
        print(json.dumps(described[0] if name is not None else described, indent=2, ensure_ascii=False))
        return
    if name is None:
        listing = table("protocol", "summary", names=("protocol",))
        for protocol in chosen:
            listing.add_row(protocol.name, escape(protocol.summary))
        print_table(listing)
        return
    out = console()
    for key, value in chosen[0].describe().items():
        out.print(f"{key}: {escape(str(value))}", soft_wrap=True, highlight=False)


def show(entries: list[Entry], as_json: bool) -> None:
    """Print the components: JSON (one object, or a list for several), or a readable page each."""
    described = [describe(entry) for entry in entries]
    if as_json:
        print(json.dumps(described[0] if len(described) == 1 else described, indent=2, ensure_ascii=False))
        return
    out = console()
    for entry, about in zip(entries, described):
        _show_one(out, entry, about)
        if entry is not entries[-1]:
            out.print()


def _show_one(out: Any, entry: Entry, about: dict[str, Any]) -> None:
    kind, name = about["kind"], about["name"]

    def line(text: str) -> None:
        out.print(text, soft_wrap=True, highlight=False)

    line(f"[bold]{kind} {escape(name)}[/]: {escape(about['summary'] or '(no summary)')}")
    version = f" {about['version']}" if about["version"] else ""
    line(f"plugin: {escape(about['plugin'])} ({escape(about['distribution'])}{escape(version)})")
    if kind == "model":
        offers, how = about["offers"], about["offers_from"]
        if offers is None:
            line("offers: unknown (its factory must be called with parameters to tell)")
        else:
            source = "the class it builds" if how == FROM_CLASS else "a model built with the defaults"
            line(f"offers: {', '.join(offers)} [dim](read from {source}, without fitting)[/]")
    elif kind == "acquisition":
        needs = about["requires"]
        if about["requires_refused"]:
            line(f"requires: refused by `gd run`: {escape(about['requires_refused'])}")
        elif needs is None:
            line("requires: unknown (its factory must be called with parameters to tell)")
        else:
            line(f"requires: {', '.join(needs) if needs else 'predict only, which every model offers'} "
                 "[dim](what the model must offer; `gd info MODEL` shows a model's)[/]")
    elif kind == "metric":
        better = about["better"]
        line(f"better: {better} [dim](gd report ranks the {'lowest' if better == 'lower' else 'highest'} value "
             "first)[/]" if better else
             "better: not declared [dim](the plugin registers it with better=\"lower\" or \"higher\"; gd report "
             "then assumes higher)[/]")
        if about.get("needs_test_split"):
            line("needs a test split [dim](refused under protocols without one: biodiscoveryagent, discobax)[/]")
    parameters = about["parameters"]
    if parameters is None:
        line("parameters: not listed (the factory takes any keyword; see its documentation below)")
    elif not parameters:
        line("parameters: none")
    else:
        from gd_apps.common import table

        listing = table("parameter", "default", names=("parameter", "default"), box=None, padding=(0, 2, 0, 2))
        for p in parameters:
            default = p["default"] if isinstance(p["default"], Unavailable) else literal(p["default"])
            listing.add_row(p["name"], "(required)" if p["required"] else escape(default))
        line(f"parameters (set with --param {kind}.KEY=VALUE):")
        print_table(listing, out)
    for key, value in entry.metadata.items():
        # facts for people (source, licence, url…); hooks for gd's own code (a details function) are left to --json;
        # a fact whose text the plugin failed to give is shown as its stand-in
        if key in ("summary", "better"):
            continue
        if isinstance(about["metadata"].get(key), Unavailable):
            line(f"{escape(key)}: {escape(about['metadata'][key])}")
        elif isinstance(value, (str, int, float)):
            line(f"{escape(key)}: {escape(literal(value) if not isinstance(value, str) else value)}")
    body = about["description"].split("\n", 1)[1].strip() if "\n" in about["description"] else ""
    if body:  # the docstring as written: its own line breaks, no rewrapping
        out.print(body, soft_wrap=True, highlight=False, markup=False)


@hookimpl
def gd_register_commands(app: typer.Typer, host: PluginHost) -> None:
    """Add ``gd info`` to the root application (a built-in plugin, through the public hook)."""

    @app.command("info")
    def info(
        first: Annotated[str, typer.Argument(
            metavar="KIND_OR_NAME",
            help=f"A component's name; or its kind ({', '.join(KINDS)}, or protocol), then NAME.")],
        second: Annotated[Optional[str], typer.Argument(
            metavar="NAME", help="The component's name, after its kind.", show_default=False)] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON (stable keys, no memory addresses).")
                           ] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """Show a component in full: plugin, version, parameters, capabilities offered or needed, direction."""
        load_plugin_files(host, plugin)
        if first in ("protocol", "protocols"):  # not a component: the kernel's ways of scoring a run
            show_protocols(second, as_json)
            return
        show(find_components(host, first, second), as_json)
        from gd_core.protocols import PROTOCOLS

        if second is None and first in PROTOCOLS and not as_json:  # `discobax` is an acquisition and a protocol
            console(stderr=True).print(f"'{first}' is also a protocol: gd info protocol {first}", highlight=False)
