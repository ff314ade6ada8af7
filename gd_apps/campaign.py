"""A lab's screen, round after round: the campaign directory, and the one-shot plate (``propose_plate``).

A campaign is the loop of the paper's Figure 1 run for real: the lab measures a plate, adds the values, and gd fits
the model on everything measured so far and proposes the next plate, through the very steps ``gd run`` takes
(``gd_core.loop.initial_batch``, ``fit_model``, ``select_batch``). Fed exactly what a benchmark run had measured by
cycle c, it proposes exactly the batch that run acquires at cycle c, so what the benchmark says about a strategy
holds for the lab. A directory holds everything::

    DIR/campaign.toml       settings, the user's to edit between rounds; every change lands in history.jsonl
    DIR/history.jsonl       one JSON line per event: init, add, propose, settings-changed
    DIR/measurements.csv    gene, value (mean of replicates), n_replicates, round, added, source
    DIR/round-N/            proposal.csv (the plate) and config.json (settings, versions, checksums of every input);
                            an earlier plate for the round, replaced with --force, is kept in superseded-<time>/
    DIR/.lock               one writer at a time

Round N is fitted on every measured gene and selects with cycle index N − 1; round 0, with nothing measured, is the
run's random first batch. Every file is replaced whole (written beside it, then renamed), so a campaign killed at any
moment keeps every measurement and shows no half-written round.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import secrets
import shutil
import sys
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from gd_core.errors import GdError, described
from gd_core.helpers.downloads import hash_file
from gd_core.registry import closest, literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from gd_core.data import Dataset
    from gd_core.plugins import PluginHost
    from gd_core.registry import Entry

SETTINGS = "campaign.toml"
HISTORY = "history.jsonl"
MEASUREMENTS = "measurements.csv"
PROPOSAL = "proposal.csv"
ROUND_CONFIG = "config.json"
LOCK = ".lock"
MEASUREMENT_COLUMNS = ("gene", "value", "n_replicates", "round", "added", "source")
PROPOSAL_COLUMNS = ("gene", "rank", "predicted_mean", "predicted_sd")
#: Columns of the campaign's own measurements.csv that hold no replicate: read back, only ``value`` is a value.
METADATA_COLUMNS = ("n_replicates", "round", "added", "source")
#: Kinds a campaign's ``--param`` may set (it has no assay: its values are the lab's).
PARAM_KINDS = ("descriptor", "model", "acquisition")
SETTING_KEYS = ("descriptor", "model", "acquisition", "batch_size", "seed", "params", "only", "exclude",
                "skip_essential", "plugins")
ESSENTIAL = "CEGv2"  # the bundled list of common essential genes (gd_core/resources/CEGv2.txt, MIT; DATA.md)
STATUS_COLUMNS = ("round", "proposed", "measured", "pending", "value_mean", "value_sd", "value_min", "value_median",
                  "value_max")
PLOT_FORMATS = (".png", ".svg", ".pdf")
_ROUND = re.compile(r"round-(\d+)")
_EXAMPLES = 3  # names shown in a report line


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _say(line: str) -> None:
    """The default for notices (a changed campaign.toml, genes left out): one line on stderr."""
    print(line, file=sys.stderr)


def _examples(items: Iterable[Any], limit: int = _EXAMPLES) -> str:
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return shown + (", …" if len(items) > limit else "")


# ------------------------------------------------------------------------------------------------ gene lists


def essential_genes_path() -> Path:
    """Where the bundled CEGv2 list of common essential genes is (BioDiscoveryAgent, MIT; see DATA.md)."""
    return Path(str(resources.files("gd_core") / "resources" / "CEGv2.txt"))


@dataclass
class GeneList:
    """A file of gene names as a campaign reads it: the official symbols, in file order, and what was renamed or
    dropped on the way (the report of ``gd_core.helpers.genes.harmonise_names``)."""

    path: Path
    genes: list[str]
    renamed: list[tuple[str, str]] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """The file's checksum, for a proposal's config.json."""
        return hash_file(self.path)


def _gene_column(columns: list[str]) -> int:
    """The column holding genes: the first whose header names genes (``gene``, ``symbol``…), else the first."""
    from gd_core.helpers.tables import GENE_HEADERS

    for position, column in enumerate(columns):
        if re.sub(r"[\s.\-]+", "_", str(column).strip().lower()) in GENE_HEADERS:
            return position
    return 0


def _harmonised(names: list[str], verbatim: Collection[str] = ()) -> tuple[list[str], list[bool],
                                                                            list[tuple[str, str]], dict[str, list[str]]]:
    """Each raw name's official symbol and whether it is kept (``harmonise_names``, as for user tables), with the
    renamed pairs and the dropped names by reason: ``ambiguous``, ``unknown`` or ``control``.

    A name in ``verbatim`` (the campaign's genes: rows of its descriptor) is kept as written: it names a row exactly,
    even where the descriptor's names are not human symbols (a simulated or another species' descriptor).
    """
    from gd_core.helpers.genes import default_symbol_map, harmonise_names, is_control, repair_name

    symbol_map = default_symbol_map()
    symbols, kept, _ = harmonise_names(names, symbol_map)
    if verbatim:
        for i, name in enumerate(names):
            if name in verbatim:
                symbols[i], kept[i] = name, True
    renamed = [(n, s) for n, s, k in zip(names, symbols, kept) if k and n != s]
    dropped: dict[str, list[str]] = {}
    for name, keep in zip(names, kept):
        if keep:
            continue
        if name in symbol_map or repair_name(name) in symbol_map:
            reason = "ambiguous"  # known, but to no single gene (or an alias of a gene the list also names)
        else:
            reason = "control" if is_control(name) else "unknown"
        dropped.setdefault(reason, []).append(name)
    return symbols, [bool(k) for k in kept], renamed, dropped


def read_gene_list(path: str | Path, *, option: str, verbatim: Collection[str] = ()) -> GeneList:
    """A gene list: a table with a gene column (``gene``, ``symbol``…, else the first column; CSV, TSV, the bundled
    CEGv2.txt) or plain text, one name per line (blank lines and ``#`` comments skipped, a ``gene`` header too).

    Names are harmonised to official symbols as user tables are, except those in ``verbatim`` (the campaign's genes),
    kept as written; ``option`` names the list in refusals.
    """
    from gd_core.helpers.tables import GENE_HEADERS, read_table

    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            first = next((line for line in handle if line.strip() and not line.lstrip().startswith("#")), "")
    except FileNotFoundError:
        raise GdError(f"{option} {path}: no such file; check the path (relative paths start from {Path.cwd()})"
                      ) from None
    except IsADirectoryError:
        raise GdError(f"{option} {path}: is a directory; give the gene list file inside it") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise GdError(f"{option} {path}: cannot read the file ({reason}); give a text file with one gene per line"
                      ) from None
    if "\t" in first or "," in first:
        table = read_table(path)
        column = table.columns[_gene_column(list(table.columns))]
        names = [str(n).strip() for n in table[column].tolist() if str(n).strip()]
    else:
        with open(path, encoding="utf-8-sig") as handle:
            names = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
        if names and re.sub(r"[\s.\-]+", "_", names[0].lower()) in GENE_HEADERS:
            names = names[1:]
    symbols, kept, renamed, dropped = _harmonised(names, verbatim)
    genes = list(dict.fromkeys(s for s, k in zip(symbols, kept) if k))
    return GeneList(path, genes, renamed, dropped)


# ------------------------------------------------------------------------------------------------ measurements


@dataclass
class MeasuredTable:
    """A file of measured values, read: one value per official symbol (the mean of its replicates), in file order."""

    path: Path
    genes: list[str]
    values: list[float]
    n_replicates: list[int]
    rounds: list[int] | None  # a ``round`` column, where the file has one (a campaign's own measurements.csv)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    no_value: list[str] = field(default_factory=list)  # genes with no value in any replicate
    merged: int = 0  # raw rows folded into another row's gene (replicates on several rows)

    def frame(self) -> pd.DataFrame:
        """gene, value, n_replicates (and round)."""
        data: dict[str, Any] = {"gene": self.genes, "value": self.values, "n_replicates": self.n_replicates}
        if self.rounds is not None:
            data["round"] = self.rounds
        return pd.DataFrame(data)


def _number(text: Any) -> float | None:
    """A cell as a float; NaN for a missing cell; None when it is not a number."""
    from gd_core.helpers.tables import MISSING

    if text is None or (isinstance(text, float) and math.isnan(text)):
        return math.nan
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, (bool, np.bool_)):
        return float(text)
    cell = str(text).strip()
    if cell.lower() in MISSING:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        return None


def read_measured(path: str | Path, *, option: str = "", verbatim: Collection[str] = (),
                  harmonise: bool = True) -> MeasuredTable:
    """Read a CSV/TSV (or parquet) of measured values: a gene column (``gene``, or the first column) and one or more
    numeric value columns, several being replicates (averaged, NaN ones ignored, their count kept).

    Gene names are harmonised as user tables are (unless ``harmonise`` is false), those in ``verbatim`` kept as
    written; rows that land on one gene pool their replicates. A campaign's own measurements.csv reads back too
    (its ``value`` column, and ``round``).
    """
    return pool_measured(parse_measured(path, option=option), verbatim=verbatim, harmonise=harmonise)


@dataclass
class ParsedMeasured:
    """A measured-values file checked and parsed, names as written: one list of replicate values per row."""

    path: Path
    names: list[str]
    cells: list[list[float]]
    rounds: list[int] | None


def parse_measured(path: str | Path, *, option: str = "") -> ParsedMeasured:
    """The structure of a measured-values file, checked (``read_measured`` without the harmonising): every refusal
    names the file, and comes before any data is loaded."""
    from gd_core.helpers.tables import read_table

    path = Path(path)
    where = f"{option} {path}".strip()
    table = read_table(path)  # refuses a missing, empty or unreadable file in one line naming it
    columns = [str(c) for c in table.columns]
    gene_at = _gene_column(columns)
    gene_column = table.columns[gene_at]
    others = [c for i, c in enumerate(table.columns) if i != gene_at]
    rounds_column = None
    if "value" in [str(c) for c in others] and any(str(c) in METADATA_COLUMNS for c in others):
        rounds_column = next((c for c in others if str(c) == "round"), None)
        others = [c for c in others if str(c) == "value"]
    if not others:
        raise GdError(f"{where}: has only the gene column {str(gene_column)!r}; add a column of measured values "
                      "(several columns: replicates)")
    names = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
             for v in table[gene_column].tolist()]
    blank = [i + 1 for i, n in enumerate(names) if not n]
    if blank:
        raise GdError(f"{where}: {len(blank)} row(s) have no gene name (data row(s) {blank[:3]}); fill them in or "
                      "delete those rows")
    cells: list[list[float]] = []
    for row in range(len(table)):
        values = []
        for column in others:
            value = _number(table[column].iat[row])
            if value is None:
                raise GdError(f"{where}: column {str(column)!r} is not numeric ({str(table[column].iat[row])[:30]!r} "
                              f"for gene {names[row]!r}, data row {row + 1}); every column but the gene column "
                              "must hold measured values (replicates)")
            if math.isinf(value):
                raise GdError(f"{where}: infinite value for gene {names[row]!r} in column {str(column)!r}; "
                              "replace it with a finite number")
            values.append(value)
        cells.append(values)
    rounds = None
    if rounds_column is not None:
        rounds = []
        for row in range(len(table)):
            value = _number(table[rounds_column].iat[row])
            if value is None or math.isnan(value) or value < 0 or value != int(value):
                raise GdError(f"{where}: column 'round' holds {str(table[rounds_column].iat[row])!r} for gene "
                              f"{names[row]!r}; rounds are whole numbers ≥ 0")
            rounds.append(int(value))
    return ParsedMeasured(path, names, cells, rounds)


def measured_table(paths: Sequence[str | os.PathLike[str]],
                   notice: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The files of ``gd propose --measured`` as one table (gene, value, n_replicates[, round]), names as written (the
    plate's genes are harmonised against the descriptor's later); genes without a value are left out and told to
    ``notice``; files that give a gene different values are refused."""
    notice = notice or _say
    frames = []
    for path in paths:
        read = read_measured(Path(path), option="--measured", harmonise=False)
        if read.no_value:
            notice(f"{Path(path).name}: {len(read.no_value)} gene(s) have no value in any replicate, left out")
        frames.append(read.frame())
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"gene": [], "value": []})
    if "round" in table.columns and table["round"].isna().any():
        raise GdError("--measured: some files have a round column and some do not; give rounds in all or none")
    values = table.groupby("gene", sort=False)["value"].nunique()
    differing = list(values[values > 1].index)
    if differing:
        raise GdError(f"--measured files give {len(differing)} gene(s) different values (e.g. "
                      f"{', '.join(differing[:3])}); keep one value per gene")
    return table.drop_duplicates("gene", keep="first")


def pool_measured(parsed: ParsedMeasured, *, verbatim: Collection[str] = (), harmonise: bool = True) -> MeasuredTable:
    """One value per gene from a parsed file: names harmonised (``verbatim`` ones kept), replicates pooled."""
    names, cells, rounds = parsed.names, parsed.cells, parsed.rounds
    if harmonise:
        symbols, kept, renamed, dropped = _harmonised(names, verbatim)
    else:
        symbols, kept, renamed, dropped = list(names), [True] * len(names), [], {}
    pooled: dict[str, list[float]] = {}
    first_round: dict[str, int] = {}
    merged = 0
    for row, (symbol, keep) in enumerate(zip(symbols, kept)):
        if not keep:
            continue
        if symbol in pooled:
            merged += 1
        pooled.setdefault(symbol, []).extend(v for v in cells[row] if not math.isnan(v))
        if rounds is not None:
            first_round.setdefault(symbol, rounds[row])
    genes = [g for g, v in pooled.items() if v]
    return MeasuredTable(
        path=parsed.path, genes=genes, values=[float(np.mean(pooled[g], dtype=np.float64)) for g in genes],
        n_replicates=[len(pooled[g]) for g in genes], rounds=None if rounds is None else [first_round[g] for g in genes],
        renamed=renamed, dropped=dropped, no_value=[g for g, v in pooled.items() if not v], merged=merged)


def harmonise_lines(renamed: list[tuple[str, str]], dropped: dict[str, list[str]], what: str) -> list[str]:
    """The report of a harmonised file, one line per kind of change (count and examples); none when nothing changed."""
    lines = []
    if renamed:
        lines.append(f"{what}: renamed {len(renamed)} gene name(s) to their official symbol "
                     f"({_examples(f'{a} → {b}' for a, b in renamed)})")
    labels = {"ambiguous": "ambiguous name(s) (no single gene)", "unknown": "name(s) that are no known human gene",
              "control": "non-targeting control(s)"}
    for reason in ("ambiguous", "unknown", "control"):
        if dropped.get(reason):
            lines.append(f"{what}: dropped {len(dropped[reason])} {labels[reason]} ({_examples(dropped[reason])})")
    return lines


# ------------------------------------------------------------------------------------------------ settings


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any, where: str) -> str:
    """A value in TOML; None has no TOML form and is refused, naming the setting."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v, where)}" for k, v in value.items()) + "}"
    if value is None:
        raise GdError(f"{where} is null, which campaign.toml cannot hold (TOML has no null); leave the parameter "
                      "out to use its default")
    raise GdError(f"{where} is {type(value).__name__}, which campaign.toml cannot hold; give a number, text, true/"
                  "false or a list")


def settings_toml(settings: dict[str, Any]) -> str:
    """campaign.toml's text for ``settings``: every key with a comment saying what it does."""
    lines = [
        "# gd campaign settings. Edit them between rounds: the next gd campaign command records every change",
        "# in history.jsonl. Relative paths are read from this directory.",
        f"descriptor = {_toml_value(settings['descriptor'], 'descriptor')}",
        f"model = {_toml_value(settings['model'], 'model')}",
        f"acquisition = {_toml_value(settings['acquisition'], 'acquisition')}",
        f"batch_size = {settings['batch_size']}  # genes per plate",
        f"seed = {settings['seed']}  # the first plate, model fits and acquisitions draw from it",
        f"skip_essential = {_toml_value(settings['skip_essential'], 'skip_essential')}  "
        "# never propose the bundled CEGv2 common essential genes",
        f"exclude = {_toml_value(settings['exclude'], 'exclude')}  # gene lists never to propose",
    ]
    if settings["only"] is None:
        lines.append('# only = "genes.txt"  # propose only genes of this list (absent: every gene of the descriptor)')
    else:
        lines.append(f"only = {_toml_value(settings['only'], 'only')}  # the campaign's genes: this list ∩ the "
                     "descriptor's")
    lines.append(f"plugins = {_toml_value(settings['plugins'], 'plugins')}  # plugin files loaded by every command")
    for kind, values in settings["params"].items():
        lines += ["", f"[params.{_toml_key(kind)}]"]
        lines += [f"{_toml_key(str(k))} = {_toml_value(v, f'--param {kind}.{k}')}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def check_settings(settings: dict[str, Any], where: Callable[[str], str]) -> dict[str, Any]:
    """Refuse settings no campaign can use, naming each as ``where(key)`` says (an option, or campaign.toml's key);
    returns them complete (defaults filled in) and in ``SETTING_KEYS`` order."""
    from gd_core.loop import is_whole

    unknown = [k for k in settings if k not in SETTING_KEYS]
    if unknown:
        meant = closest(unknown[0], list(SETTING_KEYS))
        hint = f"did you mean '{meant}'? " if meant else ""
        raise GdError(f"{where(unknown[0])}: unknown setting; {hint}the settings are {', '.join(SETTING_KEYS)}")
    complete = {"seed": 0, "params": {}, "only": None, "exclude": [], "skip_essential": False, "plugins": [],
                **settings}
    for key in ("descriptor", "model", "acquisition"):
        value = complete.get(key)
        if not isinstance(value, str) or not value.strip():
            raise GdError(f"{where(key)} must name a {key}, got {literal(value)}")
    if not is_whole(complete.get("batch_size"), 1):
        raise GdError(f"{where('batch_size')} must be a positive whole number, got {literal(complete.get('batch_size'))}")
    if not is_whole(complete["seed"], 0):
        raise GdError(f"{where('seed')} must be a whole number ≥ 0, got {literal(complete['seed'])}")
    if not isinstance(complete["skip_essential"], bool):
        raise GdError(f"{where('skip_essential')} must be true or false, got {literal(complete['skip_essential'])}")
    if complete["only"] is not None and not isinstance(complete["only"], (str, os.PathLike)):
        raise GdError(f"{where('only')} must be the path of a gene list, got {literal(complete['only'])}")
    for key in ("exclude", "plugins"):
        value = complete[key]
        if isinstance(value, (str, os.PathLike)):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, os.PathLike)) for v in value):
            raise GdError(f"{where(key)} must be a list of file paths, got {literal(value)}")
        complete[key] = [str(v) for v in value]
    if complete["only"] is not None:
        complete["only"] = str(complete["only"])
    params = complete["params"]
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise GdError(f"{where('params')} must map a kind to its parameters ({{model = {{hidden = 64}}}}), got "
                      f"{literal(params)}")
    for kind in params:
        if kind not in PARAM_KINDS:
            if kind == "assay":
                raise GdError(f"{where('params')}: a campaign has no assay (its values are the ones you add); set "
                              f"parameters of {', '.join(PARAM_KINDS)}")
            meant = closest(kind, list(PARAM_KINDS))
            hint = f"did you mean '{meant}'? " if meant else ""
            raise GdError(f"{where('params')}: unknown kind '{kind}'; {hint}use KIND.KEY=VALUE with KIND one of "
                          f"{', '.join(PARAM_KINDS)}")
    complete["params"] = {kind: dict(values) for kind, values in params.items() if values}
    return {key: complete[key] for key in SETTING_KEYS}


_OPTIONS = {"descriptor": "--descriptor", "model": "--model", "acquisition": "--acquisition",
            "batch_size": "--batch-size", "seed": "--seed", "params": "--param", "only": "--only",
            "exclude": "--exclude", "skip_essential": "--skip-essential", "plugins": "--plugin"}


def _as_option(key: str) -> str:
    return _OPTIONS.get(key, key)


# ------------------------------------------------------------------------------------------------ components


def _registries(host: PluginHost | None, plugins: Iterable[str | Path]) -> Any:
    """The registries of ``host`` (default: the process's, as ``gd_core.load`` uses), with the plugin files loaded."""
    from gd_core.loader import process_host
    from gd_core.plugins import load_plugin_file

    host = host if host is not None else process_host()
    for plugin in plugins:
        path = Path(plugin).resolve()
        if not any(r.source == "file" and Path(r.distribution).resolve() == path for r in host.records):
            load_plugin_file(host, path)
    return host.registries


@dataclass
class _Components:
    """A campaign's model and acquisition, checked: names, parameters and their pairing."""

    entries: dict[str, Entry]
    model: Any  # one built with the parameters, for config.json (each plate fits a fresh one)
    acquisition: Any


def _components(registries: Any, settings: dict[str, Any]) -> _Components:
    """Look the descriptor, model and acquisition up and build the last two: every refusal before any data loads."""
    from gd_core.data import check_compatible
    from gd_core.loop import dataset_entry

    params = settings["params"]
    entries = {"descriptor": dataset_entry("descriptor", settings["descriptor"], registries),
               "model": registries.models.get(settings["model"]),
               "acquisition": registries.acquisitions.get(settings["acquisition"])}
    model = entries["model"].create(**params.get("model", {}))
    acquisition = entries["acquisition"].create(**params.get("acquisition", {}))
    check_compatible(settings["model"], model, settings["acquisition"], acquisition,
                     model_origin=entries["model"].origin, acquisition_origin=entries["acquisition"].origin)
    return _Components(entries, model, acquisition)


# Universes aligned in this process, per plugin host's registries, so that a notebook's rounds load the descriptor once.
_UNIVERSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _universe(registries: Any, entry: Entry, settings: dict[str, Any], only: Path | None, only_option: str,
              on_status: Callable[[str], None]) -> tuple[Dataset, GeneList | None]:
    """The campaign's genes (the descriptor's ∩ the ``only`` list, sorted) and their features, aligned by
    ``gd_core.data.align`` exactly as ``gd run`` aligns them for an assay covering those genes; and the list read."""
    from gd_core.data import align
    from gd_core.loop import DatasetCache

    cache = _UNIVERSES.setdefault(registries, DatasetCache(size=2))
    name, params = settings["descriptor"], settings["params"].get("descriptor", {})
    identity = None
    if entry.metadata.get("source") == "file":
        with contextlib.suppress(OSError):
            stat = Path(name).stat()
            identity = [str(Path(name).resolve()), stat.st_size, stat.st_mtime_ns]
    only_identity = None
    if only is not None:
        with contextlib.suppress(OSError):
            only_identity = [str(only.resolve()), hash_file(only)]
    key = json.dumps([name, entry.plugin, params, identity, str(only), only_identity], sort_keys=True, default=repr)

    def load() -> tuple[Dataset, GeneList | None]:
        on_status(f"loading descriptor '{name}'")
        descriptor = entry.create(**params)
        if not isinstance(descriptor, pd.DataFrame):
            raise GdError(f"descriptor '{name}' returned {type(descriptor).__name__}; a descriptor factory must "
                          "return a pandas DataFrame indexed by gene")
        genes = pd.Index(descriptor.index.astype(str))
        listed = None
        if only is not None:
            listed = read_gene_list(only, option=only_option, verbatim=set(genes))
            genes = genes.intersection(pd.Index(listed.genes, dtype=str))
            if len(genes) < 2:
                raise GdError(f"{only_option} {only}: {len(genes)} of its {len(listed.genes)} genes are in "
                              f"descriptor '{name}' (whose genes are like {_examples(descriptor.index[:3])}); a "
                              "campaign needs at least 2; give official gene symbols")
        # A stand-in assay over exactly these genes: align then builds X as gd run does, row for row.
        stand_in = pd.Series(np.zeros(len(genes), dtype=np.float32), index=genes.unique())
        return align(descriptor, stand_in, descriptor_name=name, assay_name="the campaign's gene list"), listed

    return cache.get(key, load)


# ------------------------------------------------------------------------------------------------ the plate


@dataclass
class _Plate:
    """A proposed plate and what made it, for proposal.csv and config.json."""

    table: pd.DataFrame
    cycle: int | None
    n_fitted: int
    n_available: int
    n_excluded: int
    acquired_genes: list[str]
    seconds: float


# What an explanation column may hold, by numpy dtype kind: booleans and real numbers (a score, a cluster index).
_EXPLANATION_KINDS = "biuf"
_KIND_WORDS = {"U": "text", "S": "bytes", "O": "Python objects", "c": "complex numbers", "M": "dates",
               "m": "time spans", "V": "raw records"}


def _explanation(acquisition: Any, entry: Entry, size: int, notice: Callable[[str], None]) -> dict[str, np.ndarray]:
    """The columns an acquisition's ``last_explanation`` adds to the plate (see ``gd_register_acquisitions``).

    A value that is not one per gene of the batch is left out with a notice, as the hook promises; one that is not
    numbers is a GdError naming the acquisition and its plugin, raised before the plate is written anywhere.
    """
    name = entry.name
    explanation = getattr(acquisition, "last_explanation", None)
    if explanation is None:
        return {}
    if not isinstance(explanation, dict):
        notice(f"acquisition '{name}' set last_explanation to {type(explanation).__name__}, not a dict; left out")
        return {}
    columns = {}
    for key, values in explanation.items():
        if not isinstance(key, str):
            notice(f"acquisition '{name}' explained its batch with a {type(key).__name__} key, not a column name; "
                   "left out")
            continue
        try:
            array = np.asarray(values)
        except Exception as exc:  # a ragged list, or an object numpy cannot read as an array
            raise GdError(f"acquisition '{name}' ({entry.origin}) explained its batch with {key!r} that is not an "
                          f"array ({described(exc, limit=200)}); nothing was written; "
                          "last_explanation maps each name to numbers, one per gene of the batch: fix the "
                          f"acquisition, or leave {key!r} out") from None
        if key in PROPOSAL_COLUMNS or array.ndim != 1 or len(array) != size:
            notice(f"acquisition '{name}' explained its batch with {key!r} of shape {array.shape} for {size} genes; "
                   "left out")
            continue
        # Numbers only, refused rather than written as text: an explanation is what the genes were ranked or
        # grouped by (a score, a cluster), which the lab sorts and compares and every reader of a plate (its
        # table on screen, read_plate) takes as numbers; an object's text may differ from run to run (a memory
        # address) or fail to be made at all. A refusal naming the plugin tells its author now, where a column
        # quietly turned to text (or dropped) would surprise a lab later; and it comes before anything is written.
        if array.dtype.kind not in _EXPLANATION_KINDS:
            held = _KIND_WORDS.get(array.dtype.kind, f"{array.dtype} values")
            raise GdError(f"acquisition '{name}' ({entry.origin}) explained its batch with {key!r} holding {held}, "
                          "not numbers; nothing was written; last_explanation maps each name to numbers, one per "
                          f"gene of the batch (a score, a cluster index): fix the acquisition, or leave {key!r} out")
        columns[key] = array
    order = [k for k in ("score", "cluster") if k in columns] + sorted(k for k in columns if k not in ("score",
                                                                                                     "cluster"))
    return {k: columns[k] for k in order}


def _make_plate(components: _Components, settings: dict[str, Any], universe: Dataset, *,
                acquired_genes: list[str], acquired_values: list[float], excluded: set[str], only: set[str] | None,
                batch_size: int, cycle: int | None, on_status: Callable[[str], None],
                notice: Callable[[str], None]) -> _Plate:
    """Fit on the acquired genes (in order) and select ``batch_size`` available genes, by gd run's own steps; with
    nothing acquired, the random first batch."""
    import time

    from threadpoolctl import threadpool_limits

    from gd_core.data import Pool, Sampler
    from gd_core.loop import ComponentError, fit_model, initial_batch, is_whole, select_batch

    started = time.perf_counter()
    genes = universe.genes
    where = genes.get_indexer(pd.Index(acquired_genes, dtype=str))
    outside = [g for g, p in zip(acquired_genes, where) if p < 0]
    if outside:
        notice(f"{len(outside)} measured gene(s) are not among the campaign's genes and are not fitted on "
               f"({_examples(outside)})")
    inside = where >= 0
    acquired = where[inside].astype(np.int64)
    values = np.asarray(acquired_values, dtype=np.float64)[inside]
    available_mask = np.ones(len(genes), dtype=bool)
    available_mask[acquired] = False
    excluded_positions = genes.get_indexer(pd.Index(sorted(excluded), dtype=str))
    excluded_positions = excluded_positions[excluded_positions >= 0]
    available_mask[excluded_positions] = False
    if only is not None:
        available_mask &= genes.isin(list(only))
    available = np.flatnonzero(available_mask)
    if not is_whole(batch_size, 1):
        raise GdError(f"--batch-size must be a positive whole number, got {literal(batch_size)}")
    if batch_size > len(available):
        unavailable = len(genes) - len(acquired) - len(available)
        raise GdError(f"--batch-size {batch_size} is more than the {len(available)} genes left to propose (of the "
                      f"{len(genes)} campaign genes, {len(acquired)} are measured and {unavailable} excluded or "
                      "pending); lower --batch-size or exclude fewer genes")
    if cycle is not None and not is_whole(cycle, 0):
        raise GdError(f"--cycle must be a whole number ≥ 0, got {literal(cycle)}")

    seed = settings["seed"]
    model_entry, acquisition_entry = components.entries["model"], components.entries["acquisition"]
    X = universe.X.view()
    X.setflags(write=False)
    mean = sd = None
    explanation: dict[str, np.ndarray] = {}
    # One BLAS thread, as gd run computes: a product's last bits depend on how its work is split.
    with threadpool_limits(limits=1, user_api="blas"):
        if len(acquired) == 0:
            batch = initial_batch(available, batch_size, seed)
            cycle = None
        else:
            cycle = int(cycle) if cycle is not None else 0
            y = np.full(len(genes), np.nan, dtype=np.float32)
            y[acquired] = values.astype(np.float32)
            on_status(f"fitting model '{model_entry.name}' on {len(acquired)} measured genes")
            try:
                model = fit_model(model_entry, settings["params"].get("model", {}), X, y, acquired, seed, cycle)
                on_status(f"choosing {batch_size} of {len(available)} genes with '{acquisition_entry.name}'")
                acquisition = acquisition_entry.create(**settings["params"].get("acquisition", {}))
                measured = y[acquired]
                measured.setflags(write=False)
                pool = Pool(X=X, genes=genes, available=available, acquired=acquired, cycle=cycle, measured=measured)
                batch = select_batch(acquisition_entry, acquisition, pool, model, batch_size, seed, cycle,
                                     model_entry=model_entry)
                explanation = _explanation(acquisition, acquisition_entry, len(batch), notice)
            except ComponentError as exc:
                raise GdError(str(exc)) from exc
            try:  # what the model expects of the plate's genes, for the lab to read beside the choice
                mean = _plate_means(model, model_entry, X[batch], cycle)
                if isinstance(model, Sampler):
                    sd = _plate_spread(model, model_entry, X[batch], cycle)
            except ComponentError as exc:
                raise GdError(str(exc)) from exc
    table = pd.DataFrame({"gene": genes[batch].astype(str), "rank": np.arange(1, len(batch) + 1),
                          "predicted_mean": mean if mean is not None else np.full(len(batch), np.nan),
                          "predicted_sd": sd if sd is not None else np.full(len(batch), np.nan), **explanation})
    return _Plate(table, cycle, len(acquired), len(available), len(excluded_positions),
                  [str(g) for g in genes[acquired]], time.perf_counter() - started)


def _plate_means(model: Any, entry: Entry, X_plate: np.ndarray, cycle: int) -> np.ndarray:
    """The model's predicted means for the plate's genes, checked as gd run checks its test predictions (one real,
    finite number per gene, by ``gd_core.loop``'s own check), so that no plate is written with a mean left empty;
    an exception of the model's own is a ComponentError naming it and its plugin."""
    from gd_core.data import Truth
    from gd_core.loop import blaming, check_predictions

    X_plate.setflags(write=False)  # as a run's test features are: predict must not change them
    truth = Truth(X_plate, np.zeros(len(X_plate), dtype=np.float32), np.arange(len(X_plate), dtype=np.int64),
                  np.empty(0, dtype=np.int64), model, entry.name)
    with blaming(entry, "predict", cycle):
        check_predictions(truth, entry, cycle, genes="genes of the plate")
    return truth.predicted_test


def _plate_spread(model: Any, entry: Entry, X_plate: np.ndarray, cycle: int) -> np.ndarray:
    """The sd of the model's posterior samples for each gene of the plate; refused when not finite, since an empty
    cell would read as a model that has no samples."""
    from gd_core.loop import blaming

    # An overflow's warning would print lines of its own; the infinity it warns of is refused below, named.
    with blaming(entry, "sample", cycle), np.errstate(all="ignore"):
        sd = np.std(np.asarray(model.sample(X_plate), dtype=np.float64), axis=0).reshape(len(X_plate))
    bad = int((~np.isfinite(sd)).sum())
    if bad:
        raise GdError(f"model '{entry.name}' ({entry.origin}) sampled non-finite values (NaN or infinite) for {bad} "
                      f"of the {len(sd)} genes of the plate in cycle {cycle}; fix the model or its parameters")
    return sd


def plate_csv(table: pd.DataFrame) -> str:
    """proposal.csv's text: numbers written exactly (``repr``), a missing prediction left empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(table.columns))
    for row in table.itertuples(index=False):
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    return str(value)


def read_plate(path: Path) -> pd.DataFrame:
    """A proposal.csv read back: genes as text (``NA`` is a gene), rank as int, the rest as floats."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    columns = {name: [row[i] if i < len(row) else "" for row in body] for i, name in enumerate(header)}
    return pd.DataFrame({name: cells if name == "gene" else _column(cells) for name, cells in columns.items()})


def _column(cells: list[str]) -> list[Any]:
    """A plate column's cells as whole numbers if all are, else numbers (empty: NaN) if all are, else text."""
    try:
        return [int(c) for c in cells]
    except ValueError:
        pass
    try:
        return [float(c) if c else math.nan for c in cells]
    except ValueError:
        return cells


# ------------------------------------------------------------------------------------------------ files


def _write_atomic(path: Path, text: str) -> None:
    from gd_core.results import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        raise GdError(f"cannot write {path}: {exc.strerror or exc}; nothing was changed; free some space or make "
                      f"{path.parent} writable") from None


def _measurements_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MEASUREMENT_COLUMNS)
    for row in rows:
        writer.writerow([row["gene"], repr(float(row["value"])), int(row["n_replicates"]), int(row["round"]),
                         row["added"], row["source"]])
    return buffer.getvalue()


@dataclass
class AddReport:
    """What ``Campaign.add`` did with a file: genes added, replaced, unchanged, and those it left out, and why."""

    file: Path
    round: int
    added: list[str] = field(default_factory=list)
    replaced: list[tuple[str, float, float]] = field(default_factory=list)  # gene, old value, new value
    unchanged: list[str] = field(default_factory=list)  # measured again with the same value
    outside: list[str] = field(default_factory=list)  # not among the campaign's genes
    no_value: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    replicates: tuple[int, int] = (0, 0)  # fewest and most replicates of a gene added or replaced

    @property
    def changed(self) -> bool:
        """Whether measurements.csv changed."""
        return bool(self.added or self.replaced)

    def lines(self) -> list[str]:
        """The report for people: one line per kind of outcome, with counts and examples."""
        name = self.file.name
        low, high = self.replicates
        replicates = "" if high <= 1 else f"; replicates averaged ({low}–{high} per gene)" if low != high else \
            f"; {high} replicates averaged per gene"
        lines = [f"{name}: added {len(self.added)} measurement(s) to round {self.round}{replicates}"]
        lines += harmonise_lines(self.renamed, self.dropped, name)
        if self.replaced:
            lines.append(f"{name}: replaced {len(self.replaced)} value(s) "
                         f"({_examples(f'{g} {a:.4g} → {b:.4g}' for g, a, b in self.replaced)}; recorded in {HISTORY})")
        if self.unchanged:
            lines.append(f"{name}: {len(self.unchanged)} gene(s) already measured with the same value, unchanged "
                         f"({_examples(self.unchanged)})")
        if self.outside:
            lines.append(f"{name}: {len(self.outside)} gene(s) are not among the campaign's genes, not added "
                         f"({_examples(self.outside)})")
        if self.no_value:
            lines.append(f"{name}: {len(self.no_value)} gene(s) have no value in any replicate, not added "
                         f"({_examples(self.no_value)})")
        return lines


class Campaign:
    """A screening campaign in a directory: settings, measurements, and one proposed plate per round.

    ``Campaign.init(DIR, …)`` starts one; ``Campaign(DIR)`` opens it. ``add`` records measured values, ``propose``
    fits on all of them and writes the next plate, ``status`` summarises the rounds. Every refusal is one GdError line.
    ``host`` is the plugin host whose components are used (default: the process's, as ``gd_core.load`` uses);
    ``on_notice`` receives one-line notices (a changed campaign.toml, genes left out), by default printed on stderr.
    """

    def __init__(self, directory: str | Path, *, host: PluginHost | None = None,
                 on_notice: Callable[[str], None] | None = None,
                 on_status: Callable[[str], None] | None = None) -> None:
        self.directory = Path(directory)
        self.host = host
        self.on_notice = on_notice or _say
        self.on_status = on_status or (lambda line: None)
        self._pending_change: tuple[dict[str, Any], str] | None = None  # a settings change to record (see above)
        if not (self.directory / SETTINGS).is_file():
            if not self.directory.exists():
                raise GdError(f"{self.directory}: no such campaign; start one with gd campaign init {self.directory} "
                              "--descriptor D --model M --acquisition Q --batch-size B")
            raise GdError(f"{self.directory} is not a gd campaign (it has no {SETTINGS}); start one with gd campaign "
                          f"init DIR, or give the directory of an existing campaign")

    # --------------------------------------------------------------------------------------------- start one

    @classmethod
    def init(cls, directory: str | Path, *, descriptor: str, model: str, acquisition: str, batch_size: int,
             seed: int = 0, params: dict[str, dict[str, Any]] | None = None, only: str | Path | None = None,
             exclude: Iterable[str | Path] = (), skip_essential: bool = False, plugins: Iterable[str | Path] = (),
             host: PluginHost | None = None, on_notice: Callable[[str], None] | None = None,
             on_status: Callable[[str], None] | None = None) -> Campaign:
        """Start a campaign in ``directory`` (new, or empty): check the settings as ``propose`` will use them (names,
        parameters, pairing, gene lists, the descriptor and the batch size against its genes), then write them."""
        directory = Path(directory)
        on_status = on_status or (lambda line: None)
        notice = on_notice or _say
        if isinstance(exclude, (str, os.PathLike)):
            exclude = [exclude]
        if isinstance(plugins, (str, os.PathLike)):
            plugins = [plugins]
        # Paths as absolute ones: the campaign is used from any directory later.
        settings = check_settings({
            "descriptor": str(descriptor) if isinstance(descriptor, os.PathLike) else descriptor,
            "model": model, "acquisition": acquisition, "batch_size": batch_size, "seed": seed,
            "params": params or {}, "only": None if only is None else _absolute(only),
            "exclude": [_absolute(p) for p in exclude], "skip_essential": skip_essential,
            "plugins": [_absolute(p) for p in plugins]}, _as_option)
        from gd_core.helpers.tables import looks_like_path

        if looks_like_path(settings["descriptor"]):
            settings["descriptor"] = _absolute(settings["descriptor"])
        settings_toml(settings)  # refuses a null parameter before anything is made
        _refuse_not_empty(directory, clean=False)
        registries = _registries(host, settings["plugins"])
        components = _components(registries, settings)
        universe, only_list = _universe(registries, components.entries["descriptor"], settings,
                                        _only_path(settings, directory), "--only", on_status)
        lists = _lists(settings, directory, (), None, universe, only_list, option_names=True)
        excluded = set(lists.excluded) & set(universe.genes)
        left = universe.n - len(excluded)
        if settings["batch_size"] > left:
            raise GdError(f"--batch-size {settings['batch_size']} is more than the {left} genes the campaign can "
                          f"propose ({universe.n} genes, {len(excluded)} excluded); lower --batch-size")
        for line in lists.report_lines():
            notice(line)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GdError(f"cannot create {directory}: {exc.strerror or exc}; choose a writable place") from None
        campaign = cls.__new__(cls)
        campaign.directory, campaign.host = directory, host
        campaign.on_notice, campaign.on_status = notice, on_status
        campaign._pending_change = None
        with campaign._locked():
            _refuse_not_empty(directory, clean=True)  # again under the lock: another init may have won
            from gd_core.results import package_versions

            campaign._append({"event": "init", "settings": settings, "versions": package_versions(),
                              "genes": universe.n})
            _write_atomic(directory / MEASUREMENTS, _measurements_csv([]))
            # The settings go last: a directory with campaign.toml is a complete campaign.
            _write_atomic(directory / SETTINGS, settings_toml(settings))
        return campaign

    # --------------------------------------------------------------------------------------------- reading

    @property
    def settings(self) -> dict[str, Any]:
        """The settings as campaign.toml holds them now (paths as written there)."""
        return self._read_settings()

    @property
    def measurements(self) -> pd.DataFrame:
        """Every measurement: gene, value, n_replicates, round, added, source, in the order added."""
        rows = self._measurement_rows()
        frame = pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))
        return frame.astype({"gene": str, "value": np.float64, "n_replicates": np.int64, "round": np.int64,
                             "added": str, "source": str})

    def proposal(self, round: int) -> pd.DataFrame:
        """The plate proposed for ``round`` (its proposal.csv), or a GdError if it has none."""
        path = self.directory / f"round-{round}" / PROPOSAL
        if not path.is_file():
            raise GdError(f"{self.directory}: round {round} has no proposal; `gd campaign status` lists the rounds")
        return read_plate(path)

    def history(self) -> list[dict[str, Any]]:
        """Every recorded event, oldest first."""
        return self._history()

    @property
    def next_round(self) -> int:
        """The round ``propose`` proposes: the one after the last measured round (0 before any measurement)."""
        rows = self._measurement_rows()
        return max(r["round"] for r in rows) + 1 if rows else 0

    # --------------------------------------------------------------------------------------------- add

    def add(self, path: str | Path, round: int | None = None, replace: bool = False) -> AddReport:
        """Record the measured values of a file (gene column, one or more value columns: replicates) in ``round``
        (default: the latest round with a proposal, or 0).

        A gene measured before with a different value is refused, nothing being written, unless ``replace``; the
        same value again changes nothing. Genes outside the campaign's genes are reported, not added.
        """
        from gd_core.loop import is_whole

        if round is not None and not is_whole(round, 0):
            raise GdError(f"--round must be a whole number ≥ 0, got {literal(round)}")
        path = Path(path)
        with self._locked():
            self._recover()
            settings = _usable(self._current_settings(), self.directory)
            parsed = parse_measured(path)  # the file's own problems first, before any data loads
            registries = _registries(self.host, self._plugin_paths(settings))
            from gd_core.loop import dataset_entry

            entry = dataset_entry("descriptor", settings["descriptor"], registries)
            universe, _ = _universe(registries, entry, settings, _only_path(settings, self.directory),
                                    f"{self.directory / SETTINGS}: only", self.on_status)
            measured = pool_measured(parsed, verbatim=set(universe.genes))
            rows = self._measurement_rows()
            chosen_round = round if round is not None else max(self._proposed_rounds(), default=0)
            report = AddReport(file=path, round=chosen_round, renamed=measured.renamed, dropped=measured.dropped,
                               no_value=measured.no_value)
            known = {row["gene"]: i for i, row in enumerate(rows)}
            in_universe = set(universe.genes)
            conflicts = []
            now = _now()
            changes: list[tuple[str, float, int]] = []
            for gene, value, count in zip(measured.genes, measured.values, measured.n_replicates):
                if gene not in in_universe:
                    report.outside.append(gene)
                elif gene in known:
                    old = rows[known[gene]]["value"]
                    if old == value:
                        report.unchanged.append(gene)
                    else:
                        conflicts.append((gene, old, value))
                        changes.append((gene, value, count))
                else:
                    changes.append((gene, value, count))
            if conflicts and not replace:
                raise GdError(f"{path}: {len(conflicts)} gene(s) already measured with a different value ("
                              f"{_examples(f'{g} {a:.4g}, now {b:.4g}' for g, a, b in conflicts)}); nothing was "
                              "added; pass --replace to replace them (recorded in history.jsonl)")
            replaced_events = []
            counts = []
            for gene, value, count in changes:
                counts.append(count)
                entry_row = {"gene": gene, "value": value, "n_replicates": count, "round": chosen_round,
                             "added": now, "source": path.name}
                if gene in known:
                    before = dict(rows[known[gene]])
                    if round is None:  # re-measured: it stays in the round it was measured for, unless told
                        entry_row["round"] = before["round"]
                    rows[known[gene]] = entry_row
                    report.replaced.append((gene, before["value"], value))
                    replaced_events.append({"gene": gene, "before": before, "after": entry_row})
                else:
                    rows.append(entry_row)
                    report.added.append(gene)
            report.replicates = (min(counts), max(counts)) if counts else (0, 0)
            if report.changed:
                # Kept in the order the model is fitted on (as propose orders them), so that the file alone, given to
                # `gd propose --measured`, reproduces the campaign's next plate.
                order = self._acquired_order(rows, {r: self.proposal(r) for r in self._proposed_rounds()})
                rows = [rows[i] for i in order]
                _write_atomic(self.directory / MEASUREMENTS, _measurements_csv(rows))
                self._append({"event": "add", "file": str(path.resolve()), "sha256": hash_file(path),
                              "round": chosen_round, "added": len(report.added), "replaced": replaced_events,
                              "unchanged": len(report.unchanged), "outside": len(report.outside),
                              "renamed": len(report.renamed),
                              "dropped": {k: len(v) for k, v in report.dropped.items()}})
        return report

    # --------------------------------------------------------------------------------------------- propose

    def propose(self, batch_size: int | None = None, exclude: Iterable[str | Path] = (),
                only: str | Path | None = None, force: bool = False) -> pd.DataFrame:
        """Fit on every measured gene and write the next round's plate (``round-N/proposal.csv``); returns it.

        Never proposed: measured genes, pending ones (proposed in another round, not measured yet), the settings'
        exclusions (and CEGv2 with skip_essential), and this call's ``exclude`` lists; with ``only``, only genes of
        that list. A round that has a proposal is proposed again only with ``force``, which keeps the earlier one in
        ``round-N/superseded-<time>/``.
        """
        if isinstance(exclude, (str, os.PathLike)):
            exclude = [exclude]
        with self._locked():
            self._recover()
            settings = _usable(self._current_settings(), self.directory)
            size = settings["batch_size"] if batch_size is None else batch_size
            from gd_core.loop import is_whole

            if not is_whole(size, 1):
                raise GdError(f"--batch-size must be a positive whole number, got {literal(size)}")
            rows = self._measurement_rows()
            target = max(r["round"] for r in rows) + 1 if rows else 0
            round_dir = self.directory / f"round-{target}"
            if round_dir.exists() and not force:
                raise GdError(f"round {target} already has a proposal ({round_dir / PROPOSAL}); add its measurements "
                              f"first (gd campaign add {self.directory} FILE), or pass --force to propose it again "
                              f"(the earlier one is kept in round-{target}/superseded-…)")
            registries = _registries(self.host, self._plugin_paths(settings))
            components = _components(registries, settings)  # names, parameters and pairing: before any data
            universe, only_list = _universe(registries, components.entries["descriptor"], settings,
                                            _only_path(settings, self.directory), f"{self.directory / SETTINGS}: only",
                                            self.on_status)
            lists = _lists(settings, self.directory, exclude, only, universe, only_list)
            measured_genes = {r["gene"] for r in rows}
            proposals = {r: self.proposal(r) for r in self._proposed_rounds() if r != target}
            pending = {g for table in proposals.values() for g in table["gene"]} - measured_genes
            order = self._acquired_order(rows, proposals)
            plate = _make_plate(components, settings, universe, acquired_genes=[rows[i]["gene"] for i in order],
                                acquired_values=[rows[i]["value"] for i in order],
                                excluded=set(lists.excluded) | pending, only=lists.command_only, batch_size=size,
                                cycle=target - 1 if target else None, on_status=self.on_status,
                                notice=self.on_notice)
            config = self._round_config(target, plate, settings, components, universe, lists, size,
                                        batch_size, exclude, only, n_pending=len(pending))
            superseded = self._publish_round(target, plate.table, config)
            self._append({"event": "propose", "round": target, "cycle": plate.cycle, "batch_size": size,
                          "genes": list(plate.table["gene"]), "fitted_on": plate.n_fitted,
                          "superseded": superseded})
        table = plate.table.copy()
        table.attrs.update({"round": target, "path": str(round_dir / PROPOSAL)})
        return table

    def _acquired_order(self, rows: list[dict[str, Any]], proposals: dict[int, pd.DataFrame]) -> list[int]:
        """Indices of ``rows`` in the order the model is fitted on them: rounds ascending; within a round, that
        round's proposal in rank order, then its other genes in the order they were added (as gd run's batches)."""
        order = []
        by_round: dict[int, list[int]] = {}
        for i, row in enumerate(rows):
            by_round.setdefault(row["round"], []).append(i)
        for rnd in sorted(by_round):
            members = by_round[rnd]
            ranked = {}
            if rnd in proposals:
                ranked = {g: k for k, g in enumerate(proposals[rnd].sort_values("rank", kind="stable")["gene"])}
            proposed = sorted((i for i in members if rows[i]["gene"] in ranked), key=lambda i: ranked[rows[i]["gene"]])
            order += proposed + [i for i in members if rows[i]["gene"] not in ranked]
        return order

    def _round_config(self, target: int, plate: _Plate, settings: dict[str, Any], components: _Components,
                      universe: Dataset, lists: _Lists, size: int, given_size: int | None,
                      exclude: Iterable[str | Path], only: str | Path | None, *, n_pending: int) -> dict[str, Any]:
        """config.json of a round: what made the plate, enough to audit and reproduce it."""
        from gd_core.data import genes_checksum
        from gd_core.results import code_record, component_record, package_versions, resolved_parameters

        checksums = universe.checksums()
        return {
            "format": "gd-proposal/1",
            "round": target,
            "cycle": plate.cycle,
            "batch_size": size,
            "settings": settings,
            "options": {"batch_size": given_size, "exclude": [_absolute(p) for p in exclude],
                        "only": None if only is None else _absolute(only)},
            "components": {k: component_record(e) for k, e in components.entries.items()},
            "code": code_record(components.entries),
            "parameters": {"model": resolved_parameters(components.model),
                           "acquisition": resolved_parameters(components.acquisition)},
            "versions": package_versions(),
            "data": {"n_genes": universe.n, "n_features": int(universe.X.shape[1]), "n_fitted_on": plate.n_fitted,
                     "n_pending": n_pending, "n_excluded": plate.n_excluded, "n_available": plate.n_available,
                     "X_sha256": checksums["X_sha256"], "genes_sha256": checksums["genes_sha256"],
                     "fitted_genes_sha256": genes_checksum(plate.acquired_genes)},
            "inputs": {MEASUREMENTS: hash_file(self.directory / MEASUREMENTS), **lists.checksums()},
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "created": _now(),
            "seconds": round(plate.seconds, 3),
        }

    def _publish_round(self, target: int, table: pd.DataFrame, config: dict[str, Any]) -> str | None:
        """Write round-N whole: staged in a hidden directory, then renamed; an earlier round-N becomes its
        ``superseded-<time>/`` (with the plates it had superseded beside it). Returns that name, if any."""
        from gd_core.results import signals_held, write_synced

        final = self.directory / f"round-{target}"
        staging = self.directory / f".round-{target}.partial-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            staging.mkdir()
            write_synced(staging / PROPOSAL, plate_csv(table))
            write_synced(staging / ROUND_CONFIG, json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise GdError(f"cannot write round {target} in {self.directory}: {exc.strerror or exc}; nothing was "
                          "proposed; free some space or make the directory writable") from None
        superseded = None
        with signals_held():
            try:
                if final.exists():
                    superseded = _superseded_name(final)
                    for earlier in sorted(final.glob("superseded-*")):
                        os.rename(earlier, staging / earlier.name)
                    os.rename(final, staging / superseded)
                os.rename(staging, final)
            except OSError as exc:
                raise GdError(f"cannot publish round {target} in {self.directory}: {exc.strerror or exc}; run the "
                              "command again (the earlier plate is restored first)") from None
        return superseded

    def _recover(self) -> None:
        """Put back what a killed command left half done (we hold the lock, so every staging is a dead one's): an
        earlier plate moved into a staging directory goes back to its round; the unpublished plate is dropped."""
        for staging in sorted(self.directory.glob(".round-*.partial-*")):
            match = re.fullmatch(r"\.round-(\d+)\.partial-.*", staging.name)
            if match is None or not staging.is_dir():
                continue
            final = self.directory / f"round-{match.group(1)}"
            earlier = sorted(staging.glob("superseded-*"))
            with contextlib.suppress(OSError):
                if not final.exists() and earlier:
                    os.rename(earlier[-1], final)  # the plate that was current: the newest superseded one
                    earlier = earlier[:-1]
                for directory in earlier:
                    os.rename(directory, final / directory.name)
                shutil.rmtree(staging)
        for temporary in self.directory.glob(f".{MEASUREMENTS}.*"):
            with contextlib.suppress(OSError):
                temporary.unlink()

    # --------------------------------------------------------------------------------------------- status

    def status(self, hit_threshold: float | None = None) -> pd.DataFrame:
        """One row per round: genes proposed, measured, still pending; the measured values' mean, sd, min, median
        and max; with ``hit_threshold``, ``hits`` (measured genes with |value| ≥ it) and ``hits_cumulative``."""
        if hit_threshold is not None and (isinstance(hit_threshold, bool) or not isinstance(
                hit_threshold, (int, float)) or not math.isfinite(hit_threshold) or hit_threshold < 0):
            raise GdError(f"--hit-threshold must be a finite number ≥ 0 (a hit: |value| ≥ it), got "
                          f"{literal(hit_threshold)}")
        lock = self._try_lock()
        try:
            if lock is not None:
                self._recover()
                self._current_settings()
                self._record_settings_change()  # a changed campaign.toml is recorded, as by every command
            rows = self._measurement_rows()
            proposals = {r: self.proposal(r) for r in self._proposed_rounds()}
        finally:
            if lock is not None:
                lock.release()
        return status_table(rows, proposals, hit_threshold)

    def plot(self, path: str | Path, hit_threshold: float | None = None) -> Path:
        """Draw the status (values measured per round; hits found, cumulative, with a threshold) to a PNG/SVG/PDF."""
        table = self.status(hit_threshold)
        return plot_status(table, self.measurements, Path(path), hit_threshold, title=self.directory.name)

    # --------------------------------------------------------------------------------------------- internals

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the campaign's lock: a second writer is refused in one line, naming the holder's pid."""
        from gd_core.results import FileLock, LockBusy

        lock = FileLock(self.directory / LOCK, remove=True)
        try:
            lock.acquire()
        except LockBusy as busy:
            pid = f" (pid {busy.pid})" if busy.pid else ""
            raise GdError(f"campaign {self.directory} is being written by another gd process{pid}; wait for it to "
                          "finish, then run this command again") from None
        except OSError as exc:
            raise GdError(f"cannot lock campaign {self.directory}: {exc.strerror or exc}; make the directory "
                          "writable") from None
        try:
            yield
        finally:
            lock.release()

    def _try_lock(self) -> Any:
        """The lock if it is free (status records settings changes then), else None (status only reads)."""
        from gd_core.results import FileLock, LockBusy

        lock = FileLock(self.directory / LOCK, remove=True)
        try:
            lock.acquire()
        except (LockBusy, OSError):
            return None
        return lock

    def _append(self, event: dict[str, Any]) -> None:
        """Append one event to history.jsonl, on disk before returning, after a settings change still to record."""
        self._record_settings_change()
        self._write_event(event)

    def _write_event(self, event: dict[str, Any]) -> None:
        line = json.dumps({**event, "time": _now()}, ensure_ascii=False, default=str) + "\n"
        path = self.directory / HISTORY
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise GdError(f"cannot write {path}: {exc.strerror or exc}; free some space or make it writable"
                          ) from None

    def _history(self) -> list[dict[str, Any]]:
        path = self.directory / HISTORY
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        events = []
        lines = text.split("\n")
        for number, line in enumerate(lines[:-1], start=1):  # the last piece is empty, or a write cut short
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except ValueError:
                raise GdError(f"{path} line {number} is not JSON; restore the file, or delete that line") from None
        return events

    def _read_settings(self) -> dict[str, Any]:
        path = self.directory / SETTINGS
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise GdError(f"{path} is not valid TOML: {exc}; fix the file (or copy the settings from the last "
                          f"'settings' in {HISTORY})") from None
        except OSError as exc:
            raise GdError(f"cannot read {path}: {exc.strerror or exc}") from None
        return check_settings(raw, lambda key: f"{path}: {key}")

    def _current_settings(self) -> dict[str, Any]:
        """campaign.toml's settings; a change since the last recorded copy is recorded (and told) first."""
        settings = self._read_settings()
        recorded = None
        for event in self._history():
            if event.get("event") == "init":
                recorded = event.get("settings")
            elif event.get("event") == "settings-changed":
                recorded = event.get("after")
        if recorded != settings:
            changed = sorted(k for k in SETTING_KEYS if (recorded or {}).get(k) != settings.get(k))
            shown = "; ".join(f"{k}: {literal((recorded or {}).get(k))} → {literal(settings.get(k))}" for k in changed)
            # Written with the command's own event (or by status), so a command refused for the edited settings
            # leaves the campaign's files as they were; the next command that goes through records the change.
            self._pending_change = ({"event": "settings-changed", "before": recorded, "after": settings},
                                    f"{SETTINGS} changed since the last command ({shown}); recorded in {HISTORY}")
        return settings

    def _record_settings_change(self) -> None:
        """Write the settings change ``_current_settings`` found, if any, and say so."""
        pending, self._pending_change = self._pending_change, None
        if pending is not None:
            event, notice = pending
            self._write_event(event)
            self.on_notice(notice)

    def _plugin_paths(self, settings: dict[str, Any]) -> list[Path]:
        return [_resolved(p, self.directory) for p in settings["plugins"]]

    def _measurement_rows(self) -> list[dict[str, Any]]:
        path = self.directory / MEASUREMENTS
        if not path.exists():
            return []
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header != list(MEASUREMENT_COLUMNS):
                raise GdError(f"{path} has columns {header}, not {list(MEASUREMENT_COLUMNS)}; it is gd's own file: "
                              "restore it, and add measurements with gd campaign add")
            rows = []
            for number, row in enumerate(reader, start=2):
                try:
                    gene, value, count, rnd, added, source = row
                    rows.append({"gene": gene, "value": float(value), "n_replicates": int(count), "round": int(rnd),
                                 "added": added, "source": source})
                except ValueError:
                    raise GdError(f"{path} line {number} is not a measurement ({row[:6]}); it is gd's own file: "
                                  "restore it, and add measurements with gd campaign add") from None
        return rows

    def _proposed_rounds(self) -> list[int]:
        rounds = []
        for path in self.directory.glob("round-*"):
            match = _ROUND.fullmatch(path.name)
            if match and (path / PROPOSAL).is_file():
                rounds.append(int(match.group(1)))
        return sorted(rounds)


def _superseded_name(final: Path) -> str:
    """``superseded-<UTC time>``, sortable, with a counter when two plates are replaced within a second."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name, n = f"superseded-{stamp}", 2
    while (final / name).exists():
        name, n = f"superseded-{stamp}-{n}", n + 1
    return name


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def _refuse_not_empty(directory: Path, *, clean: bool) -> None:
    """A campaign starts in a new or empty directory, or one a killed init left (a history, no settings), whose
    files ``clean`` removes (only under the lock: a running init's must stay)."""
    if (directory / SETTINGS).exists():
        raise GdError(f"{directory} is a campaign already; open it (gd campaign status {directory}) or choose a new "
                      "directory")
    if directory.exists() and not directory.is_dir():
        raise GdError(f"{directory} is a file; give a new directory for the campaign")
    leftovers = {HISTORY, MEASUREMENTS, LOCK}
    temporary = (f".{MEASUREMENTS}.", f".{SETTINGS}.")  # write_atomic's temporary files, left by a kill
    if directory.is_dir() and any(p.name not in leftovers and not p.name.startswith(temporary)
                                  for p in directory.iterdir()):
        raise GdError(f"{directory} is not empty; a campaign starts in a new or empty directory")
    if clean and directory.is_dir():
        # a killed init's files: it never finished, so nothing is lost
        for path in [directory / HISTORY, directory / MEASUREMENTS,
                     *(p for p in directory.iterdir() if p.name.startswith(temporary))]:
            with contextlib.suppress(OSError):
                path.unlink()


@dataclass
class _Lists:
    """The gene lists a plate uses: the campaign's ``only`` and exclusions, CEGv2, and a command's own."""

    only: GeneList | None
    exclude: list[GeneList]
    essential: GeneList | None
    command_exclude: list[GeneList]
    command_only_list: GeneList | None

    @property
    def excluded(self) -> list[str]:
        """Every excluded gene (the settings' lists, CEGv2 if skipped, the command's lists)."""
        lists = [*self.exclude, *([self.essential] if self.essential else []), *self.command_exclude]
        return list(dict.fromkeys(g for gl in lists for g in gl.genes))

    @property
    def command_only(self) -> set[str] | None:
        """The command's ``--only`` genes, if given."""
        return None if self.command_only_list is None else set(self.command_only_list.genes)

    def checksums(self) -> dict[str, Any]:
        """sha256 of every list file used, for config.json."""
        sums: dict[str, Any] = {}
        if self.only is not None:
            sums["only"] = {str(self.only.path): self.only.sha256}
        if self.exclude:
            sums["exclude"] = {str(gl.path): gl.sha256 for gl in self.exclude}
        if self.essential is not None:
            sums["essential"] = {f"{ESSENTIAL} (bundled)": self.essential.sha256}
        if self.command_exclude:
            sums["command_exclude"] = {str(gl.path): gl.sha256 for gl in self.command_exclude}
        if self.command_only_list is not None:
            sums["command_only"] = {str(self.command_only_list.path): self.command_only_list.sha256}
        return sums

    def report_lines(self) -> list[str]:
        """What harmonising the user's lists renamed or dropped (CEGv2's own renames are expected and not told)."""
        lines = []
        for gl in [*([self.only] if self.only else []), *self.exclude, *self.command_exclude,
                   *([self.command_only_list] if self.command_only_list else [])]:
            lines += harmonise_lines(gl.renamed, gl.dropped, gl.path.name)
        return lines


def _lists(settings: dict[str, Any], directory: Path, exclude: Iterable[str | Path], only: str | Path | None,
           universe: Dataset, only_list: GeneList | None, *, option_names: bool = False) -> _Lists:
    """Read every gene list the settings and a command name (a missing or unreadable one is refused, named), the
    campaign's genes taken as written."""
    genes = set(universe.genes)

    def read(path: str | Path, option: str) -> GeneList:
        return read_gene_list(_resolved(path, directory), option=option, verbatim=genes)

    where = _as_option if option_names else (lambda key: f"{directory / SETTINGS}: {key}")
    return _Lists(
        only=only_list,
        exclude=[read(p, where("exclude")) for p in settings["exclude"]],
        essential=read(essential_genes_path(), ESSENTIAL) if settings["skip_essential"] else None,
        command_exclude=[read_gene_list(Path(p), option="--exclude", verbatim=genes) for p in exclude],
        command_only_list=None if only is None else read_gene_list(Path(only), option="--only", verbatim=genes))


def _resolved(path: str | Path, directory: Path) -> Path:
    """A path of campaign.toml: relative ones are read from the campaign's directory."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else directory / path


def _usable(settings: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The settings with a descriptor file's relative path read from the campaign's directory, as every path of
    campaign.toml is."""
    from gd_core.helpers.tables import looks_like_path

    if not looks_like_path(settings["descriptor"]):
        return settings
    return {**settings, "descriptor": str(_resolved(settings["descriptor"], directory))}


def _only_path(settings: dict[str, Any], directory: Path) -> Path | None:
    return None if settings["only"] is None else _resolved(settings["only"], directory)


# ------------------------------------------------------------------------------------------------ status


def status_table(rows: list[dict[str, Any]], proposals: dict[int, pd.DataFrame],
                 hit_threshold: float | None) -> pd.DataFrame:
    """The per-round summary of ``Campaign.status`` from measurement rows and the current plates."""
    measured_all = {r["gene"] for r in rows}
    rounds = sorted(set(proposals) | {r["round"] for r in rows})
    records = []
    cumulative = 0
    for rnd in rounds:
        values = np.array([r["value"] for r in rows if r["round"] == rnd], dtype=np.float64)
        plate = proposals.get(rnd)
        record: dict[str, Any] = {
            "round": rnd,
            "proposed": 0 if plate is None else len(plate),
            "measured": len(values),
            "pending": 0 if plate is None else int(sum(g not in measured_all for g in plate["gene"])),
            "value_mean": float(values.mean()) if len(values) else math.nan,
            "value_sd": float(values.std()) if len(values) else math.nan,
            "value_min": float(values.min()) if len(values) else math.nan,
            "value_median": float(np.median(values)) if len(values) else math.nan,
            "value_max": float(values.max()) if len(values) else math.nan,
        }
        if hit_threshold is not None:
            hits = int((np.abs(values) >= hit_threshold).sum())
            cumulative += hits
            record["hits"] = hits
            record["hits_cumulative"] = cumulative
        records.append(record)
    columns = list(STATUS_COLUMNS) + (["hits", "hits_cumulative"] if hit_threshold is not None else [])
    return pd.DataFrame(records, columns=columns).astype(
        {"round": np.int64, "proposed": np.int64, "measured": np.int64, "pending": np.int64})


def check_plot_path(path: Path) -> None:
    """Refuse a --plot path that cannot take a figure, before anything is drawn."""
    if path.suffix.lower() not in PLOT_FORMATS:
        raise GdError(f"--plot {path}: end the file name in {', '.join(PLOT_FORMATS)}")
    if path.exists() and path.is_dir():
        raise GdError(f"--plot {path} is a directory; give a file name")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise GdError(f"--plot {path}: {parent} is a file, not a directory; choose another path")


def plot_status(table: pd.DataFrame, measurements: pd.DataFrame, path: Path, hit_threshold: float | None, *,
                title: str = "") -> Path:
    """Two panels: every measured value by round (with ±threshold), and genes measured and hits found, cumulative.

    Written beside ``path`` and renamed over it, so a failed save leaves no half-written image.
    """
    check_plot_path(path)
    if table.empty:
        raise GdError("the campaign has no round yet; propose or add measurements first")
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.6), dpi=150, layout="constrained")
    rounds = table["round"].tolist()
    rng = np.random.default_rng(0)  # jitter only; fixed so the same campaign draws the same picture
    for rnd in rounds:
        values = measurements.loc[measurements["round"] == rnd, "value"].to_numpy(dtype=np.float64)
        if not len(values):
            continue
        hit = np.abs(values) >= hit_threshold if hit_threshold is not None else np.zeros(len(values), dtype=bool)
        x = rnd + rng.uniform(-0.18, 0.18, len(values))
        left.scatter(x[~hit], values[~hit], s=9, color="0.55", alpha=0.7, linewidths=0)
        if hit.any():
            left.scatter(x[hit], values[hit], s=14, color="tab:red", alpha=0.9, linewidths=0)
        left.hlines(np.median(values), rnd - 0.3, rnd + 0.3, color="black", linewidth=1.2)
    if hit_threshold is not None:
        for level in (hit_threshold, -hit_threshold):
            left.axhline(level, color="tab:red", linestyle=":", linewidth=1)
    left.set_xticks(rounds)
    left.set_xlabel("round")
    left.set_ylabel("measured value")
    left.set_title("values measured per round (line: median)", fontsize=9)

    # Right: per round, bars of what the round found (hits, or genes measured without a threshold) and the running
    # total as a line; counts are whole numbers from 0.
    from matplotlib.ticker import MaxNLocator

    if hit_threshold is not None:
        found, total = table["hits"].to_numpy(), table["hits_cumulative"].to_numpy()
        what = f"hits, |value| ≥ {hit_threshold:g}"
    else:
        found, total = table["measured"].to_numpy(), table["measured"].cumsum().to_numpy()
        what = "genes measured"
    right.bar(rounds, found, width=0.6, color="tab:red" if hit_threshold is not None else "0.6",
              alpha=0.35, label=f"{what}, in the round")
    right.plot(rounds, total, marker="o", color="tab:red" if hit_threshold is not None else "0.3",
               label=f"{what}, in all")
    if hit_threshold is not None:
        for rnd, hits, measured, pending in zip(rounds, found, table["measured"], table["pending"]):
            label = f"{hits}/{measured}" if measured else f"{pending} pending"
            right.annotate(label, (rnd, 0), textcoords="offset points", xytext=(0, 3),
                           ha="center", fontsize=7, color="0.25")  # at the foot of the bar, clear of the line
    right.set_ylim(bottom=0, top=(int(total.max()) if len(total) else 0) * 1.3 + 1)  # room for the legend
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xticks(rounds)
    right.set_xlabel("round")
    right.set_ylabel(what)
    right.legend(fontsize=7, loc="upper left", frameon=False)
    right.set_title("hits found (label: hits / genes measured)" if hit_threshold is not None
                    else "genes measured (give --hit-threshold for hits)", fontsize=9)
    if title:
        figure.suptitle(f"campaign {title}", fontsize=10)
    temporary = path.parent / f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as handle:
            figure.savefig(handle, format=path.suffix[1:].lower())
        os.replace(temporary, path)
    except OSError as exc:
        raise GdError(f"cannot write --plot {path}: {exc.strerror or exc}; choose a writable path") from None
    finally:
        plt.close(figure)
        temporary.unlink(missing_ok=True)
    return path


# ------------------------------------------------------------------------------------------------ one shot


def _measured_frame(measured: pd.DataFrame) -> tuple[list[str], list[float], list[int] | None]:
    """A ``measured`` DataFrame (gene, value[, round]) checked: names as written, values, rounds."""
    if not isinstance(measured, pd.DataFrame) or not {"gene", "value"} <= set(map(str, measured.columns)):
        raise GdError("measured must be a pandas DataFrame with columns gene and value (and optionally round)")
    names = [str(n).strip() for n in measured["gene"].tolist()]
    values = []
    for name, value in zip(names, measured["value"].tolist()):
        number = _number(value)
        if number is None or not math.isfinite(number):
            raise GdError(f"measured: gene {name!r} has value {value!r}; every value must be a finite number (drop "
                          "unmeasured genes)")
        values.append(number)
    rounds = None
    if "round" in measured.columns:
        rounds = []
        for name, value in zip(names, measured["round"].tolist()):
            number = _number(value)
            if number is None or math.isnan(number) or number < 0 or number != int(number):
                raise GdError(f"measured: gene {name!r} has round {value!r}; rounds are whole numbers ≥ 0")
            rounds.append(int(number))
    return names, values, rounds


def _harmonised_measured(names: list[str], values: list[float], rounds: list[int] | None, verbatim: Collection[str],
                         notice: Callable[[str], None]) -> tuple[list[str], list[float], list[int] | None]:
    """Measured genes under their official symbols (the campaign's genes as written), what changed told."""
    symbols, kept, renamed, dropped = _harmonised(names, verbatim)
    for line in harmonise_lines(renamed, dropped, "measured"):
        notice(line)
    genes = [s for s, k in zip(symbols, kept) if k]
    repeated = sorted({g for g in genes if genes.count(g) > 1})
    if repeated:
        raise GdError(f"measured lists {len(repeated)} gene(s) more than once after harmonising symbols "
                      f"({_examples(repeated)}); give one value per gene (average the replicates)")
    keep = [i for i, k in enumerate(kept) if k]
    return genes, [values[i] for i in keep], None if rounds is None else [rounds[i] for i in keep]


def propose_plate(measured: pd.DataFrame, *, descriptor: str, model: str, acquisition: str, batch_size: int,
                  seed: int = 0, cycle: int | None = None, params: dict[str, dict[str, Any]] | None = None,
                  exclude: Iterable[str | Path] = (), only: str | Path | None = None, skip_essential: bool = False,
                  plugins: Iterable[str | Path] = (), host: PluginHost | None = None,
                  on_notice: Callable[[str], None] | None = None,
                  on_status: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The next plate for measured values, without a campaign: what ``Campaign.propose`` would propose.

    ``measured``: columns gene and value, in the order measured (the model is fitted in that order); with a
    ``round`` column, rows are taken round by round. ``cycle`` is the cycle index of gd run whose randomness the
    model and acquisition use (a campaign's round − 1); by default the highest ``round``, else the number of batches
    measured minus one. ``only`` restricts the genes to a list; ``exclude`` lists and, with ``skip_essential``,
    the bundled CEGv2 genes are never proposed. Returns gene, rank, predicted_mean, predicted_sd (and the
    acquisition's ``score``/``cluster``).
    """
    notice = on_notice or _say
    on_status = on_status or (lambda line: None)
    if isinstance(exclude, (str, os.PathLike)):
        exclude = [exclude]
    if isinstance(plugins, (str, os.PathLike)):
        plugins = [plugins]
    settings = check_settings({"descriptor": descriptor, "model": model, "acquisition": acquisition,
                               "batch_size": batch_size, "seed": seed, "params": params or {},
                               "only": None if only is None else str(only), "exclude": [str(p) for p in exclude],
                               "skip_essential": skip_essential, "plugins": [str(p) for p in plugins]}, _as_option)
    names, raw_values, raw_rounds = _measured_frame(measured)
    registries = _registries(host, settings["plugins"])
    components = _components(registries, settings)
    universe, only_list = _universe(registries, components.entries["descriptor"], settings,
                                    _only_path(settings, Path.cwd()), "--only", on_status)
    lists = _lists(settings, Path.cwd(), (), None, universe, only_list, option_names=True)
    for line in lists.report_lines():
        notice(line)
    genes, values, rounds = _harmonised_measured(names, raw_values, raw_rounds, set(universe.genes), notice)
    if rounds is not None:
        order = sorted(range(len(genes)), key=lambda i: rounds[i])  # stable: file order within a round
        genes, values = [genes[i] for i in order], [values[i] for i in order]
        if cycle is None and rounds:
            cycle = max(rounds)
    if cycle is None and genes:
        cycle = math.ceil(len(genes) / settings["batch_size"]) - 1
    plate = _make_plate(components, settings, universe, acquired_genes=genes, acquired_values=values,
                        excluded=set(lists.excluded), only=None, batch_size=settings["batch_size"], cycle=cycle,
                        on_status=on_status, notice=notice)
    table = plate.table.copy()
    table.attrs.update({"cycle": plate.cycle, "fitted_on": plate.n_fitted})
    return table
