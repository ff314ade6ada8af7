"""``gd data``: list, inspect and export the assays and treatment descriptors that plugins register.

What a dataset says about itself comes from its registration metadata: ``source`` (``bundled``,
``download``, ``simulated``, …), ``licence``, ``citation``, ``url``, and optionally ``details``, a
callable returning a dict of facts (genes, dimensions, harmonisation counts, cache status) cheap enough
to call for a listing.
"""

from __future__ import annotations

import difflib
import errno
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from gd_apps.common import (PluginFiles, console, load_plugin_files, parse_params, print_table, table)
from gd_core.errors import GdError, shown
from gd_core.hookspecs import hookimpl
from gd_core.plugins import PluginHost
from gd_core.registry import Entry

_DATA_KINDS = ("assay", "descriptor")


def _entries(host: PluginHost) -> list[Entry]:
    return [*host.registries.assays, *host.registries.descriptors]


def find_dataset(host: PluginHost, name: str, kind: str | None) -> Entry:
    """The assay or descriptor called ``name``; ``kind`` settles a name registered as both.

    An unknown name is looked for among every kind, and the refusal suggests close names with their kind.
    """
    if kind is not None and kind not in _DATA_KINDS:
        raise GdError(f"--kind must be assay or descriptor, not '{kind}'")
    found = [k for k in _DATA_KINDS if name in host.registries.of(k)]
    if kind in found or (kind is None and len(found) == 1):
        return host.registries.of(kind or found[0]).get(name)
    if len(found) > 1:
        raise GdError(f"'{name}' is both an assay and a descriptor; pass --kind assay or --kind descriptor")
    if found:
        raise GdError(f"'{name}' is {_a(found[0])}, not {_a(kind)}; pass --kind {found[0]} or leave --kind out")
    names = {entry.name: entry.kind for entry in _entries(host)}
    both = {entry.name for entry in host.registries.assays} & {entry.name for entry in host.registries.descriptors}
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    shown = [f"'{c}'" + ("" if c in both else f" ({names[c]})") for c in close]
    hint = f"did you mean {' or '.join(shown)}?" if close else "no dataset has a close name"
    raise GdError(f"unknown dataset '{name}'{host.missing_hint()}; {hint} (see `gd data list` for "
                  "every assay and descriptor)")


def _a(kind: str | None) -> str:
    return f"an {kind}" if str(kind)[:1] in "aeiou" else f"a {kind}"


# What names a dataset and its plugin, in `gd data info`'s order: a details function's facts cannot change them.
_IDENTITY = ("name", "kind", "plugin", "distribution", "version")
# Text fields of a dataset's metadata and their defaults, in the order `gd data info` shows them.
_TEXT_FIELDS = {"source": "plugin", "licence": "", "citation": "", "url": ""}


def describe(entry: Entry) -> dict[str, Any]:
    """Everything ``gd data info`` knows about a dataset, as plain JSON-ready values.

    A field the plugin got wrong (of the wrong type, or whose ``details`` or ``__str__`` raises) is shown as a
    stand-in naming the plugin and what went wrong (``gd_core.registry.unavailable``): one bad plugin must not take
    ``gd data list`` down with it, nor hide the rest of its own entry.
    """
    from gd_apps.info import plain_of
    from gd_core.registry import summary_of, unavailable

    meta = entry.metadata
    facts: dict[str, Any] = {"name": entry.name, "kind": entry.kind, "summary": summary_of(entry)}
    for key, default in _TEXT_FIELDS.items():
        value = meta.get(key, default)
        # the type alone: a wrong value's own text may be what fails
        facts[key] = value if isinstance(value, str) else unavailable(key, entry, f"gave {type(value).__name__}, not "
                                                                                 "text")
    facts.update({"plugin": entry.plugin, "distribution": entry.distribution, "version": entry.version})
    # any other plain metadata (e.g. "value", the assay's definition) is shown as it is
    facts.update({k: v for k, v in meta.items() if k not in facts and isinstance(v, (str, int, float))})
    if "details" in meta:
        facts.update(_details(entry))
    problem = _files_problem(meta.get("files"))
    if problem:
        facts["files"] = unavailable("files", entry, f"gave {problem}")
    elif files := tuple(meta.get("files") or ()):  # checked just above
        from gd_core.helpers.downloads import cached_path, status

        states = {remote.filename: status(remote) for remote in files}
        facts["files"] = states
        facts["size"] = sum(cached_path(r).stat().st_size for r in files if states[r.filename] == "cached")
        facts["status"] = next((s for s in ("corrupt", "needs download") if s in states.values()), "cached")
    facts.setdefault("status", {"bundled": "offline", "simulated": "generated"}.get(facts["source"], "-"))
    return {key: plain_of(entry, key, value) for key, value in facts.items()}


def _details(entry: Entry) -> dict[str, Any]:
    """The facts of the dataset's ``details=`` function (genes, dims, harmonisation counts…), or a stand-in."""
    from gd_core.registry import unavailable

    details = entry.metadata["details"]
    if not callable(details):
        return {"details": unavailable("details", entry, f"gave {type(details).__name__}, not a function")}
    try:
        given = details()
    except Exception as exc:  # noqa: BLE001 — the plugin's own code: whatever it raises, the listing goes on
        return {"details": unavailable("details", entry, exc)}
    if not isinstance(given, dict):
        return {"details": unavailable("details", entry, f"returned {type(given).__name__}, not a dict of facts")}
    # Facts add to the entry: they do not rename it, nor change whose it is.
    facts = {shown(key): value for key, value in given.items()}
    return {key: value for key, value in facts.items() if key not in _IDENTITY}


def _note_unavailable(rows: list[dict[str, Any]]) -> None:
    """One line on stderr for each field a plugin failed to give: the table has no column for most of them (a
    ``details`` function's failure would read as a dataset of unknown size), ``--json`` holds each stand-in."""
    from gd_core.registry import Unavailable

    err = console(stderr=True)
    for row in rows:
        for value in row.values():
            if isinstance(value, Unavailable):
                err.print(f"[yellow]note:[/] {escape(str(row['kind']))} '{escape(str(row['name']))}' "
                          f"{escape(value)}", soft_wrap=True, highlight=False)


def _files_problem(files: Any) -> str | None:
    """What is wrong with a dataset's ``files=`` metadata (``int, not a tuple of RemoteFile``), or None: it holds
    only ``RemoteFile``s, or is left out."""
    from gd_core.helpers.downloads import RemoteFile

    if files is None or (isinstance(files, (list, tuple)) and all(isinstance(f, RemoteFile) for f in files)):
        return None
    held = "" if not isinstance(files, (list, tuple)) else \
        f" of {', '.join(sorted({type(f).__name__ for f in files}))}"
    return f"{type(files).__name__}{held}, not a tuple of RemoteFile"


def remote_files(entry: Entry) -> tuple[Any, ...]:
    """The ``RemoteFile``s of a dataset's ``files=`` metadata (none: empty), which ``gd data fetch`` and ``import``
    use; metadata of another kind is a GdError naming the dataset and its plugin."""
    files = entry.metadata.get("files")
    problem = _files_problem(files)
    if problem:
        raise GdError(f"{entry.kind} '{entry.name}': {entry.origin} registered files= as {problem} "
                      "(gd_core.helpers.downloads); fix its registration, or leave files= out")
    return tuple(files or ())


def _write_atomically(frame: Any, path: Path) -> None:
    """Write ``frame`` to ``path`` as its suffix says, whole or not at all, with the mode the umask gives.

    Every refusal names the path and the way out: a directory in the way, a parent that is a file, a
    place that cannot be written, a full disk.
    """
    from gd_core.helpers.downloads import file_mode
    from gd_core.results import file_in_the_way

    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    if path.is_dir():
        raise GdError(f"cannot export to {path}: it is a directory; give a file name, e.g. {path / 'table.csv'}")
    if suffix not in (".csv", ".csv.gz", ".tsv", ".parquet"):
        raise GdError(f"cannot export to '{path.name}': use a .csv, .csv.gz, .tsv or .parquet file name")
    blocker = file_in_the_way(path.parent)
    if blocker is not None:
        raise GdError(f"cannot export to {path}: {blocker} is a file, not a directory; choose another path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise _export_error(path, exc) from None
    os.close(handle)
    try:
        if suffix == ".parquet":
            try:
                frame.to_parquet(temporary, index=False)
            except ImportError:
                raise GdError("writing parquet needs pyarrow: pip install pyarrow, or export to .csv") from None
        else:
            frame.to_csv(temporary, index=False, sep="\t" if suffix == ".tsv" else ",",
                         compression="gzip" if suffix == ".csv.gz" else None)
        os.chmod(temporary, file_mode())  # mkstemp made it 0600; the user's umask decides instead
        os.replace(temporary, path)
    except OSError as exc:
        raise _export_error(path, exc) from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _export_error(path: Path, exc: OSError) -> GdError:
    """One line for an export the system refused, with the way out that fits the reason."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        way = f"choose a directory you can write to, or make {path.parent} writable"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        way = "free disk space there, or export to another disk"
    elif exc.errno == errno.EISDIR:
        way = "give a file name, not a directory"
    else:
        way = "choose another path"
    return GdError(f"cannot export to {path}: {exc.strerror or exc}; nothing was written; {way}")


@hookimpl
def gd_register_commands(app: typer.Typer, host: PluginHost) -> None:
    """Add the ``gd data`` command group to the root application (a built-in plugin, through the public hook)."""
    data = typer.Typer(no_args_is_help=True, help="List, inspect and export assays and treatment descriptors.")
    app.add_typer(data, name="data")

    @data.command("list")
    def list_datasets(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """List assays and descriptors: genes, dimensions, source, licence and availability."""
        load_plugin_files(host, plugin)
        rows = [describe(entry) for entry in _entries(host)]
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        from rich.table import Column

        from gd_core.registry import Unavailable

        listing = table("name", "kind", "genes", "dims", Column("size", justify="right", no_wrap=True), "source",
                        "licence", "status", names=("name", "kind", "genes", "dims", "source"))
        for row in rows:
            size = row.get("size")
            megabytes = f"{size / 1e6:.1f} MB" if isinstance(size, (int, float)) and not isinstance(size, bool) \
                and size > 0 else "-"
            # Every cell as text (a plugin's details may give any plain value); a field the plugin failed to give is
            # "-" here, and told below the table.
            cell = {key: "-" if isinstance(value, Unavailable) else escape(str(value)) for key, value in row.items()}
            listing.add_row(*(cell.get(key, "-") for key in ("name", "kind", "genes", "dims")), megabytes,
                            *(cell[key] for key in ("source", "licence", "status")))
        print_table(listing)
        _note_unavailable(rows)

    @data.command("info")
    def info(
        name: Annotated[str, typer.Argument(help="Assay or descriptor name.")],
        kind: Annotated[Optional[str], typer.Option(help="assay or descriptor, for a name that is both.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """Show a dataset's definition, provenance, licence, citation and gene harmonisation counts."""
        load_plugin_files(host, plugin)
        facts = describe(find_dataset(host, name, kind))
        if as_json:
            print(json.dumps(facts, indent=2))
            return
        listing = table("field", "value", names=("field",), show_header=False)
        for key, value in facts.items():
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
            listing.add_row(escape(key), escape(shown))
        print_table(listing)

    @data.command("fetch")
    def fetch(
        name: Annotated[str, typer.Argument(help="Descriptor or assay that is downloaded on first use.")],
        force: Annotated[bool, typer.Option("--force", help="Download again even if cached.")] = False,
        kind: Annotated[Optional[str], typer.Option(help="assay or descriptor, for a name that is both.")] = None,
        plugin: PluginFiles = None,
    ) -> None:
        """Download a dataset's source files into the cache and prepare its processed table."""
        from gd_core.helpers import downloads

        load_plugin_files(host, plugin)
        stdout = console()
        entry = find_dataset(host, name, kind)
        files = remote_files(entry)
        if not files:
            source = entry.metadata.get("source", "plugin")
            stdout.print(f"{entry.kind} '{name}' is {source}: nothing to download")
            return
        for remote in files:
            path = downloads.fetch(remote, force=force, name=name)
            stdout.print(f"{remote.filename}: {path}")
        loaded = entry.create()
        features = f" × {loaded.shape[1]} features" if loaded.ndim == 2 else ""  # an assay is one value per gene
        stdout.print(f"{entry.kind} '{name}' ready: {loaded.shape[0]} genes{features}")

    @data.command("import")
    def import_(
        name: Annotated[str, typer.Argument(help="Dataset to provide from a file you have.")],
        files: Annotated[list[Path], typer.Argument(help="The file(s): a source file as downloaded, or a "
                                                         "table the dataset's importer reads.")],
        kind: Annotated[Optional[str], typer.Option(help="assay or descriptor, for a name that is both.")] = None,
        plugin: PluginFiles = None,
    ) -> None:
        """Provide a dataset from local files: a source you downloaded elsewhere, or a screen to import."""
        from gd_core.helpers import downloads

        load_plugin_files(host, plugin)
        stdout = console()
        entry = find_dataset(host, name, kind)
        importer = entry.metadata.get("importer")
        if callable(importer):
            stdout.print(importer(files))
            return
        remotes = {remote.filename: remote for remote in remote_files(entry)}
        if not remotes:
            raise GdError(f"{entry.kind} '{name}' takes no imported files (it is "
                          f"{entry.metadata.get('source', 'a plugin dataset')})")
        # A file is matched by gd's name for it, the name it has at its source, or (renamed) its content.
        by_name = {**{remote.url.rsplit("/", 1)[-1]: remote for remote in remotes.values()}, **remotes}
        chosen = []
        for file in files:  # every name is checked before anything is imported
            remote = by_name.get(file.name) or (next(iter(remotes.values())) if len(remotes) == 1 else None)
            if remote is None and file.is_file():
                try:
                    digest = downloads.hash_file(file)
                except OSError:
                    digest = None  # unreadable: refused below by name
                remote = next((r for r in remotes.values() if r.sha256 == digest), None)
            if remote is None:
                raise GdError(f"'{file.name}' is not a source file of '{name}'; name it as one of: "
                              f"{', '.join(remotes)}")
            chosen.append((file, remote))
        if len(chosen) > 1:  # every file's pins first: a bad one leaves the others unimported too
            for file, remote in chosen:
                downloads.check_import(remote, file, name=name)
        check = entry.metadata.get("check")  # parses a file as a run would, so a bad one never enters the cache
        for file, remote in chosen:
            checker = functools.partial(check, remote) if callable(check) else None
            stdout.print(f"{file} → {downloads.import_file(remote, file, name=name, check=checker)}")

    @data.command("export")
    def export(
        name: Annotated[str, typer.Argument(help="Assay or descriptor name.")],
        file: Annotated[Path, typer.Argument(help="Output .csv, .csv.gz, .tsv or .parquet file.")],
        kind: Annotated[Optional[str], typer.Option(help="assay or descriptor, for a name that is both.")] = None,
        param: Annotated[Optional[list[str]], typer.Option(help="KEY=VALUE for the dataset's factory.")] = None,
        force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
        plugin: PluginFiles = None,
    ) -> None:
        """Write the processed, harmonised table: column `gene`, then the value or feature columns."""
        import pandas as pd

        load_plugin_files(host, plugin)
        if file.is_file() and not force:  # it may be the user's own table: replacing it is asked for, not assumed
            raise GdError(f"{file} exists; pass --force to replace it, or choose another file name")
        entry = find_dataset(host, name, kind)
        for item in param or []:  # checked here: parse_params would name the KIND. prefix added below
            if not item.partition("=")[0].strip() or "=" not in item:
                raise GdError(f"--param {item!r} must look like KEY=VALUE, e.g. --param n_genes=500")
        params = parse_params([f"x.{item}" for item in param or []]).get("x", {})
        loaded = entry.create(**params)
        if not isinstance(loaded, (pd.Series, pd.DataFrame)):
            raise GdError(f"{entry.kind} '{name}' returned {type(loaded).__name__}, not a pandas table by gene; "
                          f"its plugin ({entry.plugin}) must return a DataFrame or Series indexed by gene")
        frame = loaded.to_frame(name="value") if isinstance(loaded, pd.Series) else loaded
        frame = frame.rename_axis("gene").reset_index()
        _write_atomically(frame, file)
        console().print(f"wrote {len(frame)} genes × {frame.shape[1] - 1} columns of {entry.kind} '{name}' to {file}")
