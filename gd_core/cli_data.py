"""``gd data``: list, inspect and export the assays and treatment descriptors that plugins register.

What a dataset says about itself comes from its registration metadata: ``source`` (``bundled``,
``download``, ``simulated``, …), ``licence``, ``citation``, ``url``, and optionally ``details``, a
callable returning a dict of facts (genes, dimensions, harmonisation counts, cache status) cheap enough
to call for a listing.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from gd_core.errors import GdError
from gd_core.plugins import PluginHost
from gd_core.registry import Entry

stdout = Console()
_DATA_KINDS = ("assay", "descriptor")


def _entries(host: PluginHost) -> list[Entry]:
    return [*host.registries.assays, *host.registries.descriptors]


def find_dataset(host: PluginHost, name: str, kind: str | None) -> Entry:
    """The assay or descriptor called ``name``; ``kind`` settles a name registered as both."""
    if kind is not None and kind not in _DATA_KINDS:
        raise GdError(f"--kind must be assay or descriptor, not '{kind}'")
    kinds = [kind] if kind else [k for k in _DATA_KINDS if name in host.registries.of(k)]
    if len(kinds) > 1:
        raise GdError(f"'{name}' is both an assay and a descriptor; pass --kind assay or --kind descriptor")
    if not kinds:  # let the registries phrase the error, with close matches
        host.registries.assays.get(name) if kind != "descriptor" else host.registries.descriptors.get(name)
    return host.registries.of(kinds[0]).get(name)


def describe(entry: Entry) -> dict[str, Any]:
    """Everything ``gd data info`` knows about a dataset, as plain JSON-ready values."""
    meta = entry.metadata
    facts: dict[str, Any] = {
        "name": entry.name, "kind": entry.kind, "summary": entry.summary,
        "source": meta.get("source", "plugin"), "licence": meta.get("licence", ""),
        "citation": meta.get("citation", ""), "url": meta.get("url", ""),
        "plugin": entry.plugin, "distribution": entry.distribution, "version": entry.version,
    }
    # any other plain metadata (e.g. "value", the assay's definition) is shown as it is
    facts.update({k: v for k, v in meta.items() if k not in facts and isinstance(v, (str, int, float))})
    details = meta.get("details")
    if callable(details):
        facts.update(details())
    files = meta.get("files")
    if files:
        from gd_core.downloads import cached_path, status

        states = {remote.filename: status(remote) for remote in files}
        facts["files"] = states
        facts["size"] = sum(cached_path(r).stat().st_size for r in files if states[r.filename] == "cached")
        facts["status"] = next((s for s in ("corrupt", "needs download") if s in states.values()), "cached")
    facts.setdefault("status", {"bundled": "offline", "simulated": "generated"}.get(facts["source"], "-"))
    return facts


def _write_atomically(frame: Any, path: Path) -> None:
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    if suffix not in (".csv", ".csv.gz", ".tsv", ".parquet"):
        raise GdError(f"cannot export to '{path.name}': use a .csv, .csv.gz, .tsv or .parquet file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
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
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def add_data_commands(app: typer.Typer, host: PluginHost) -> None:
    """Attach the ``gd data`` command group to the root application."""
    data = typer.Typer(no_args_is_help=True, help="List, inspect and export assays and treatment descriptors.")
    app.add_typer(data, name="data")

    @data.command("list")
    def list_datasets(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
        """List assays and descriptors: genes, dimensions, source, licence and availability."""
        rows = [describe(entry) for entry in _entries(host)]
        if as_json:
            print(json.dumps(rows, indent=2))
            return
        table = Table(Column("name", no_wrap=True), "kind", "genes", "dims", Column("size", justify="right"),
                      Column("source", overflow="fold"), Column("licence", overflow="fold"),
                      Column("status", overflow="fold"))
        for row in rows:
            size = f"{row['size'] / 1e6:.1f} MB" if row.get("size") else "-"
            table.add_row(row["name"], row["kind"], str(row.get("genes", "-")), str(row.get("dims", "-")), size,
                          row["source"], escape(row["licence"]), row["status"])
        stdout.print(table)

    @data.command("info")
    def info(
        name: Annotated[str, typer.Argument(help="Assay or descriptor name.")],
        kind: Annotated[Optional[str], typer.Option(help="assay or descriptor, for a name that is both.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show a dataset's definition, provenance, licence, citation and gene harmonisation counts."""
        facts = describe(find_dataset(host, name, kind))
        if as_json:
            print(json.dumps(facts, indent=2))
            return
        table = Table(Column("field"), Column("value", overflow="fold"), show_header=False)
        for key, value in facts.items():
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
            table.add_row(key, escape(shown))
        stdout.print(table)

    @data.command("fetch")
    def fetch(
        name: Annotated[str, typer.Argument(help="Descriptor or assay that is downloaded on first use.")],
        force: Annotated[bool, typer.Option("--force", help="Download again even if cached.")] = False,
        kind: Annotated[Optional[str], typer.Option(help="assay or descriptor, for a name that is both.")] = None,
    ) -> None:
        """Download a dataset's source files into the cache and prepare its processed table."""
        from gd_core import downloads

        entry = find_dataset(host, name, kind)
        files = entry.metadata.get("files")
        if not files:
            source = entry.metadata.get("source", "plugin")
            stdout.print(f"{entry.kind} '{name}' is {source}: nothing to download")
            return
        for remote in files:
            path = downloads.fetch(remote, force=force, name=name)
            stdout.print(f"{remote.filename}: {path}")
        table = entry.create()
        stdout.print(f"{entry.kind} '{name}' ready: {table.shape[0]} genes × {table.shape[1]} features")

    @data.command("import")
    def import_(
        name: Annotated[str, typer.Argument(help="Dataset to provide from a file you have.")],
        files: Annotated[list[Path], typer.Argument(help="The file(s): a source file as downloaded, or a "
                                                         "table the dataset's importer reads.")],
        kind: Annotated[Optional[str], typer.Option(help="assay or descriptor, for a name that is both.")] = None,
    ) -> None:
        """Provide a dataset from local files: a source you downloaded elsewhere, or a screen to import."""
        from gd_core import downloads

        entry = find_dataset(host, name, kind)
        importer = entry.metadata.get("importer")
        if callable(importer):
            stdout.print(importer(files))
            return
        remotes = {remote.filename: remote for remote in entry.metadata.get("files", ())}
        if not remotes:
            raise GdError(f"{entry.kind} '{name}' takes no imported files (it is "
                          f"{entry.metadata.get('source', 'a plugin dataset')})")
        for file in files:
            remote = remotes.get(file.name) or (next(iter(remotes.values())) if len(remotes) == 1 else None)
            if remote is None:
                raise GdError(f"'{file.name}' is not a source file of '{name}'; name it as one of: "
                              f"{', '.join(remotes)}")
            stdout.print(f"{file} → {downloads.import_file(remote, file)}")

    @data.command("export")
    def export(
        name: Annotated[str, typer.Argument(help="Assay or descriptor name.")],
        file: Annotated[Path, typer.Argument(help="Output .csv, .csv.gz, .tsv or .parquet file.")],
        kind: Annotated[Optional[str], typer.Option(help="assay or descriptor, for a name that is both.")] = None,
        param: Annotated[Optional[list[str]], typer.Option(help="KEY=VALUE for the dataset's factory.")] = None,
    ) -> None:
        """Write the processed, harmonised table: column `gene`, then the value or feature columns."""
        from gd_core.cli import parse_params

        entry = find_dataset(host, name, kind)
        params = parse_params([f"x.{item}" for item in param or []]).get("x", {})
        loaded = entry.create(**params)
        frame = loaded.to_frame(name="value") if hasattr(loaded, "to_frame") and loaded.ndim == 1 else loaded
        frame = frame.rename_axis("gene").reset_index()
        _write_atomically(frame, file)
        stdout.print(f"wrote {len(frame)} genes × {frame.shape[1] - 1} columns of {entry.kind} '{name}' to {file}")
