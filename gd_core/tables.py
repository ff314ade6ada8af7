"""User-supplied tables: read a descriptor or assay file (CSV, TSV, text, gzip, parquet) by gene.

A descriptor file has one gene column and numeric feature columns; an assay file has one gene column
and one numeric value column (or several, of which the caller picks one). Every refusal is a
``GdError`` on one line that starts with the file path and says how to fix the file.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gd_core.errors import GdError
from gd_core.genes import default_symbol_map, harmonise

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Headers that name the gene column, compared after lower-casing and mapping spaces, dots and hyphens to "_".
GENE_HEADERS = (
    "gene", "genes", "gene_symbol", "gene_symbols", "symbol", "symbols", "gene_name", "gene_names",
    "hgnc_symbol", "gene_id", "id", "name",
)
# Cells that mean "no value" in a numeric column. Never applied to the gene column: NA is a gene alias.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "#na"})


def looks_like_path(name: str) -> bool:
    """Whether a ``--descriptor``/``--assay`` value is a file path rather than a registered name."""
    separators = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in name for s in separators) or name.lower().endswith(TEXT_SUFFIXES + PARQUET_SUFFIXES)


def read_table(path: Path) -> pd.DataFrame:
    """Read a table with a header row; text cells come back as written (str), parquet keeps its types.

    ``.csv`` is comma-separated and ``.tsv`` tab-separated; ``.txt`` and unknown suffixes are sniffed
    (tab, else comma, else whitespace); a ``.gz`` suffix means gzip. Cells are not parsed into numbers
    or NaN here, so a gene called ``NA`` stays a gene; a parquet index comes back as a column.
    """
    path = Path(path)
    name = path.name.lower()
    try:
        if not path.exists():
            raise GdError(f"{path}: no such file; check the path (relative paths start from {Path.cwd()})")
        if path.is_dir():
            raise GdError(f"{path}: is a directory; pass the table file inside it")
        if not path.is_file():  # reading a FIFO or a device could block or never end
            raise GdError(f"{path}: is not a regular file (a pipe, socket or device); save the table to a file "
                          "and pass that")
        if name.endswith((".xlsx", ".xls", ".xlsm", ".ods")):
            raise GdError(f"{path}: spreadsheets are not read; save the sheet as CSV or TSV")
        if path.stat().st_size == 0:
            raise GdError(f"{path}: the file is empty; write a header row and one row per gene")
        with path.open("rb"):  # open once here, so that a permission problem is named as one
            pass
    except OSError as exc:
        raise GdError(f"{path}: cannot read the file ({exc.strerror or _one_line(exc)}); check its permissions "
                      "and the directories above it") from None
    if name.endswith(PARQUET_SUFFIXES):
        frame = _read_parquet(path)
    else:
        frame = _read_text(path, name)
    if frame.shape[1] == 0 or len(frame) == 0:
        raise GdError(f"{path}: the file has no data rows; write a header row and one row per gene")
    return frame


def _read_gene_table(path: Path) -> tuple[pd.DataFrame, Any, list[str], list[Any]]:
    """The table, its gene column, the (unique) gene names and the other columns."""
    table = read_table(path)
    gene_column = _gene_column(table, path)
    genes = _gene_names(table[gene_column], path)
    _refuse_duplicates(pd.Index(genes), path)
    return table, gene_column, genes, [c for c in table.columns if c != gene_column]


def read_descriptor_file(path: Path, *, harmonise_genes: bool = True) -> pd.DataFrame:
    """A float32 descriptor indexed by gene (official symbols, sorted), from one gene and many feature columns.

    Raw names that harmonise to the same symbol are averaged; the harmonisation report is in
    ``frame.attrs["harmonise"]`` (``None`` when ``harmonise_genes`` is false, where names are kept as written).
    """
    path = Path(path)
    table, gene_column, genes, features = _read_gene_table(path)
    if not features:
        raise GdError(f"{path}: has only the gene column {str(gene_column)!r}; add numeric feature columns")
    parsed = _numeric_columns(table, features, path, "feature column(s)",
                              f"every column but the gene column {str(gene_column)!r} must hold numbers")
    values = pd.DataFrame({str(c): parsed[c][0].to_numpy() for c in features}, index=pd.Index(genes, dtype=object))

    missing = values.isna()
    empty = missing.all(axis=1)
    if empty.any():
        raise GdError(f"{path}: {int(empty.sum())} row(s) have no values at all (e.g. genes "
                      f"{_names(values.index[empty])}); delete those rows or fill them in")
    if missing.any().any():
        row, col = (int(a[0]) for a in np.nonzero(missing.to_numpy()))
        raise GdError(f"{path}: {int(missing.sum().sum())} missing value(s) in {int(missing.any(axis=1).sum())} "
                      f"row(s) (e.g. gene {values.index[row]!r}, column {values.columns[col]!r}); "
                      "impute them (e.g. with the column mean) or delete those rows")
    infinite = ~np.isfinite(values.to_numpy(dtype=np.float64)).all(axis=1)
    if infinite.any():
        raise GdError(f"{path}: infinite values in {int(infinite.sum())} row(s) (e.g. genes "
                      f"{_names(values.index[infinite])}); replace them with finite numbers")
    _refuse_beyond_float32(values, path)
    frame, report = _by_gene(values, path, harmonise_genes)
    frame = frame.astype(np.float32)
    frame.attrs["harmonise"] = report
    return frame


def read_assay_file(path: Path, *, column: str | None = None, harmonise_genes: bool = True) -> pd.Series:
    """A float32 assay indexed by gene (official symbols, sorted), from a gene column and a value column.

    Rows with no value are dropped (an assay may leave genes unmeasured) and counted in
    ``series.attrs["missing"]``; the harmonisation report is in ``series.attrs["harmonise"]``.
    """
    path = Path(path)
    table, gene_column, genes, others = _read_gene_table(path)
    if column is None:
        if not others:
            raise GdError(f"{path}: has only the gene column {str(gene_column)!r}; add a numeric value column")
        parsed = _numeric_columns(table, others, path, "column(s)",
                                  "fix the values or choose the value column with --param assay.column=NAME")
        if len(others) > 1:
            raise GdError(f"{path}: has several value columns {_names(others, limit=10)}; "
                          "choose one with --param assay.column=NAME")
        chosen = others[0]
    else:
        matches = [c for c in others if str(c) == column]
        if not matches:
            numeric = [c for c in others if not _parse_numeric(table[c])[1].any()]
            where = "it is the gene column" if str(gene_column) == column else "there is no such column"
            raise GdError(f"{path}: cannot use column {column!r} as the value column ({where}); its numeric "
                          f"columns are {_names(numeric, limit=10)}; pass one with --param assay.column=NAME")
        chosen = matches[0]
        parsed = {chosen: _parse_numeric(table[chosen])}
        if parsed[chosen][1].any():
            raise GdError(f"{path}: value column {column!r} is not numeric ({_cell(table, chosen, parsed)}); "
                          "fix the values or choose another column with --param assay.column=NAME")

    values = pd.Series(parsed[chosen][0].to_numpy(), index=pd.Index(genes, dtype=object), name=str(chosen))
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        raise GdError(f"{path}: infinite values for {int(infinite.sum())} gene(s) (e.g. "
                      f"{_names(values.index[infinite])}) in {str(chosen)!r}; replace them with finite numbers")
    _refuse_beyond_float32(values.to_frame(), path)
    missing = values.isna()
    if missing.all():
        raise GdError(f"{path}: value column {str(chosen)!r} has no values; fill it in or choose another column "
                      "with --param assay.column=NAME")
    series, report = _by_gene(values[~missing], path, harmonise_genes)
    series = series.astype(np.float32)
    series.name = str(chosen)
    series.attrs["harmonise"] = report
    series.attrs["missing"] = int(missing.sum())
    return series


def require_shared_genes(descriptor_index: pd.Index, assay_index: pd.Index, *, descriptor: str, assay: str,
                         minimum: int = 2) -> None:
    """Refuse a descriptor and assay that share fewer than ``minimum`` genes, showing names from both."""
    shared = pd.Index(descriptor_index).intersection(pd.Index(assay_index))
    if len(shared) < minimum:
        shown = f" ({_names(shared)})" if len(shared) else ""
        raise GdError(
            f"{descriptor}: shares {len(shared)} gene(s){shown} with {assay}, fewer than the {minimum} needed "
            f"(descriptor genes like {_names(pd.Index(descriptor_index))}, assay genes like "
            f"{_names(pd.Index(assay_index))}); use the same gene naming, official symbols, in both"
        )


def _read_text(path: Path, name: str) -> pd.DataFrame:
    opener = gzip.open if name.endswith(".gz") else open
    stem = name[:-3] if name.endswith(".gz") else name
    try:
        if stem.endswith(".csv"):
            sep = ","
        elif stem.endswith(".tsv"):
            sep = "\t"
        else:
            sep = _sniff(path, opener)
        # keep_default_na=False: only the readers decide what is missing, and never in the gene column.
        # header=None: pandas then refuses a row longer than the header instead of indexing by its first
        # fields, and keeps repeated header names as written so that they can be refused below.
        frame = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False,
                            compression="infer", encoding="utf-8-sig", skip_blank_lines=True)
    except pd.errors.EmptyDataError as exc:
        raise GdError(f"{path}: the file is empty; write a header row and one row per gene") from exc
    except UnicodeDecodeError as exc:
        raise GdError(f"{path}: is not UTF-8 text; save it as UTF-8 CSV or TSV") from exc
    except (OSError, EOFError, pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise GdError(f"{path}: cannot read the file ({_one_line(exc)}); "
                      "check it is a CSV/TSV table with the same number of fields on every line") from exc
    header = ["" if _is_missing_object(v) else str(v).strip() for v in frame.iloc[0]]
    if any("\x00" in h for h in header):  # a NUL in a cell's number fails its parse; in a header it would not
        raise GdError(f"{path}: its header holds NUL bytes, so it is not a text table (UTF-16, or a binary file?); "
                      "save it as UTF-8 CSV or TSV")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise GdError(f"{path}: the header names column(s) {_names(repeated)} more than once; "
                      "give every column its own name")
    frame = frame.iloc[1:].reset_index(drop=True)
    frame.columns = header
    return frame


def _sniff(path: Path, opener) -> str:
    """Tab if the first non-blank line has one, else comma, else runs of whitespace."""
    with opener(path, "rt", encoding="utf-8-sig") as handle:
        for line in handle:
            if line.strip():
                break
        else:
            raise pd.errors.EmptyDataError("no text")
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    return r"\s+"


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        # Pinned to pyarrow so that the way out named below is the one that works.
        frame = pd.read_parquet(path, engine="pyarrow")
    except ImportError as exc:
        raise GdError(f"{path}: reading parquet needs pyarrow; run `pip install pyarrow` "
                      "or save the table as CSV") from exc
    except Exception as exc:  # pyarrow's errors share no base class beyond Exception
        raise GdError(f"{path}: cannot read the parquet file ({_one_line(exc)}); "
                      "check it is a parquet table or save it as CSV") from exc
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _gene_column(table: pd.DataFrame, path: Path):
    for column in table.columns:
        if re.sub(r"[\s.\-]+", "_", str(column).strip().lower()) in GENE_HEADERS:
            return column
    for column in table.columns:
        if _parse_numeric(table[column])[1].any():
            return column
    raise GdError(f"{path}: no gene column (columns {_names(table.columns, limit=5)} all hold numbers); "
                  f"add a column named 'gene' with gene symbols")


def _gene_names(column: pd.Series, path: Path) -> list[str]:
    names = ["" if _is_missing_object(v) else str(v).strip() for v in column]
    blank = [i for i, n in enumerate(names) if not n]
    if blank:
        raise GdError(f"{path}: {len(blank)} row(s) have no gene name in column {str(column.name)!r} "
                      f"(data row(s) {[i + 1 for i in blank[:3]]}); fill them in or delete those rows")
    return names


def _numeric_columns(table: pd.DataFrame, columns: list, path: Path, what: str, way_out: str) -> dict:
    """Each column parsed as numbers, or a GdError naming the columns that are not, with ``way_out``."""
    parsed = {c: _parse_numeric(table[c]) for c in columns}
    bad = [c for c in columns if parsed[c][1].any()]
    if bad:
        raise GdError(f"{path}: {what} {_names(bad)} are not numeric (e.g. {_cell(table, bad[0], parsed)}); "
                      f"{way_out}")
    return parsed


def _parse_numeric(column: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``(float64 values with NaN for missing cells, mask of cells that are not numbers)``."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.astype(np.float64)
        return values, np.zeros(len(column), dtype=bool)
    text = pd.Series(["" if _is_missing_object(v) else str(v).strip() for v in column], index=column.index,
                     dtype=object)
    missing = text.str.lower().isin(MISSING).to_numpy()
    values = pd.to_numeric(text.where(~missing, None), errors="coerce").astype(np.float64)
    return values, values.isna().to_numpy() & ~missing


def _is_missing_object(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _refuse_beyond_float32(values: pd.DataFrame, path: Path) -> None:
    """Refuse finite numbers that float32, the type runs compute in, would turn into infinities."""
    limit = float(np.finfo(np.float32).max)
    huge = np.abs(values.to_numpy(dtype=np.float64)) > limit
    if huge.any():
        row, col = (int(a[0]) for a in np.nonzero(huge))
        raise GdError(f"{path}: {int(huge.sum())} value(s) beyond ±{limit:.3g}, the largest a float32 holds (e.g. "
                      f"{values.iat[row, col]:.3g} for gene {values.index[row]!r}, column {values.columns[col]!r}); "
                      "rescale the column")


def _refuse_duplicates(index: pd.Index, path: Path) -> None:
    duplicated = index[index.duplicated()].unique()
    if len(duplicated):
        raise GdError(f"{path}: {len(duplicated)} gene(s) listed more than once (e.g. {_names(duplicated)}); "
                      "keep one row per gene (average or delete the repeats)")


def _by_gene(values, path: Path, harmonise_genes: bool):
    """Re-index by official symbol (averaging names that meet on one) or keep raw names, sorted."""
    if not harmonise_genes:
        values = values.sort_index()
        values.index.name = "gene"
        return values, None
    merged, report = harmonise(values, default_symbol_map(), source=str(path))
    if len(merged) == 0:
        raise GdError(f"{path}: none of its {len(values)} gene name(s) is a known human gene (e.g. "
                      f"{_names(values.index)}); use official gene symbols such as TP53 in the gene column")
    merged.index.name = "gene"
    return merged, report


def _cell(table: pd.DataFrame, column, parsed: dict) -> str:
    """Where the first non-numeric cell of a column is, and what it holds."""
    position = int(np.flatnonzero(parsed[column][1])[0])
    return f"{str(table[column].iloc[position])[:30]!r} in column {str(column)!r}, data row {position + 1}"


def _names(items, limit: int = 3) -> str:
    items = [str(i) for i in items]
    shown = [i if len(i) <= 30 else i[:29] + "…" for i in items[:limit]]
    return repr(shown)[:-1] + (", ...]" if len(items) > limit else "]")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
