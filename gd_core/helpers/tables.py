"""User-supplied tables: read a descriptor or assay file (CSV, TSV, text, gzip, parquet) by gene.

A descriptor file has one gene column and numeric feature columns; an assay file has one gene column
and one numeric value column (or several, of which the caller picks one). Every refusal is a
``GdError`` on one line that starts with the file path and says how to fix the file. A well-formed text or
parquet descriptor is read by a plain reader that puts numbers straight into one float32 array; anything
else by the careful reader, which gives the same table and names every problem. ``load_descriptor_file``
and ``load_assay_file``, which ``gd run`` uses, keep large tables in gd's data cache.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gd_core.errors import GdError, one_line
from gd_core.registry import boolean
from gd_core.helpers.genes import default_symbol_map, harmonise, harmonise_names

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Headers that name the gene column, compared after lower-casing and mapping spaces, dots and hyphens to "_".
GENE_HEADERS = (
    "gene", "genes", "gene_symbol", "gene_symbols", "symbol", "symbols", "gene_name", "gene_names",
    "hgnc_symbol", "gene_id", "id", "name",
)
# Cells that mean "no value" in a numeric column. Never applied to the gene column: NA is a gene alias.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "#na"})
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # runs compute in float32: anything larger is refused


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
    _check_file(path)
    if name.endswith(PARQUET_SUFFIXES):
        frame = _read_parquet(path)
    else:
        frame = _read_text(path, name)
    if frame.shape[1] == 0 or len(frame) == 0:
        raise GdError(f"{path}: the file has no data rows; write a header row and one row per gene")
    return frame


# Binary table formats gd does not read, by suffix, so that the refusal names the format and the way out.
_OTHER_FORMATS = {".feather": "Feather", ".arrow": "Arrow IPC", ".h5": "HDF5", ".hdf5": "HDF5", ".hdf": "HDF5",
                  ".pkl": "pickle", ".pickle": "pickle", ".npy": "NumPy", ".npz": "NumPy", ".rds": "R data",
                  ".rdata": "R data", ".rda": "R data", ".loom": "loom", ".h5ad": "AnnData"}


def _check_file(path: Path) -> None:
    """Refuse, in one line, a path that is not a regular, non-empty, readable file that could be a table."""
    try:
        if not path.exists():
            raise GdError(f"{path}: no such file; check the path (relative paths start from {Path.cwd()})")
        if path.is_dir():
            raise GdError(f"{path}: is a directory; pass the table file inside it")
        if not path.is_file():  # reading a FIFO or a device could block or never end
            raise GdError(f"{path}: is not a regular file (a pipe, socket or device); save the table to a file "
                          "and pass that")
        if path.name.lower().endswith((".xlsx", ".xls", ".xlsm", ".ods")):
            raise GdError(f"{path}: spreadsheets are not read; save the sheet as CSV or TSV")
        binary = next((kind for suffix, kind in _OTHER_FORMATS.items() if path.name.lower().endswith(suffix)), None)
        if binary:  # else read as text and refused as "not UTF-8", which would not say what to do
            raise GdError(f"{path}: {binary} files are not read; save the table as CSV, TSV or parquet "
                          "(with pandas: frame.to_parquet('table.parquet'))")
        if path.stat().st_size == 0:
            raise GdError(f"{path}: the file is empty; write a header row and one row per gene")
        with path.open("rb") as handle:  # open here, so that a permission problem is named as one
            start = handle.read(8)
        _check_content(path, start)
    except OSError as exc:
        raise GdError(f"{path}: cannot read the file ({exc.strerror or one_line(exc)}); check its permissions "
                      "and the directories above it") from None


# What a file's first bytes say it is, when its name says otherwise: a refusal that names the format.
_MAGIC = ((b"\x1f\x8b", "gzip-compressed"), (b"PAR1", "a parquet file"), (b"PK\x03\x04", "a zip archive"),
          (b"BZh", "bz2-compressed"), (b"\xfd7zXZ\x00", "xz-compressed"), (b"\x28\xb5\x2f\xfd", "zstd-compressed"))
_COMPRESSED = {".bz2": "bz2", ".xz": "xz", ".zip": "zip", ".zst": "zstd", ".7z": "7z"}


def _check_content(path: Path, start: bytes) -> None:
    """Refuse a file whose name and first bytes disagree (gzip or parquet bytes named .csv, text named .gz), or one
    compressed in a way gd does not read, naming what it is and the way out."""
    name = path.name.lower()
    packed = next((kind for suffix, kind in _COMPRESSED.items() if name.endswith(suffix)), None)
    if packed:
        raise GdError(f"{path}: {packed} archives and compression are not read; decompress it, or compress it with "
                      "gzip (.csv.gz, .tsv.gz)")
    found = next((kind for magic, kind in _MAGIC if start.startswith(magic)), None)
    gzipped, parquet = name.endswith(".gz"), name.endswith(PARQUET_SUFFIXES)
    if gzipped and found != "gzip-compressed":
        way = "rename it without .gz" if found is None else "give it the suffix of its format"
        raise GdError(f"{path}: is named .gz but is {found or 'not gzip-compressed'}; {way}")
    if parquet or gzipped or found is None:
        return  # the parquet reader names a damaged parquet file itself
    if found == "gzip-compressed":
        raise GdError(f"{path}: is gzip-compressed but not named .gz; rename it to end in .gz (e.g. table.csv.gz)")
    if found == "a parquet file":
        raise GdError(f"{path}: is a parquet file; rename it to end in .parquet")
    raise GdError(f"{path}: is {found}; decompress it, or compress it with gzip (.csv.gz, .tsv.gz)")


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
    boolean("harmonise_genes", harmonise_genes)
    path = Path(path)
    _check_file(path)
    frame = _read_plain_descriptor(path, harmonise_genes)
    if frame is None:
        frame = _read_descriptor_carefully(path, harmonise_genes)
    _refuse_identifiers(frame, path)
    return frame


# Names of columns that identify rows or genes rather than describe them, compared as GENE_HEADERS are: a pandas
# or R row index, Entrez, Ensembl, HGNC, NCBI or UniProt identifiers, any "..._id".
_IDENTIFIER = re.compile(r"^(index|level_\d+|unnamed:_?\d+|row|rows|row_?names?|row_?n(umber|o)|"
                         r"(entrez|ensembl|ensg|hgnc|ncbi|uniprot)\w*|\w+_ids?)$")


def _refuse_identifiers(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a feature column that identifies rows or genes (by its name, or an unnamed column of distinct whole
    numbers: row numbers): read as a feature, it would teach the model an arbitrary numbering."""
    for column in frame.columns:
        label = _header_key(column)
        if _IDENTIFIER.match(label):
            raise GdError(f"{path}: column {str(column)!r} looks like an identifier, not a feature, and gd reads every "
                          "column but the gene column as a feature; drop it (or rename it, if it is a feature)")
        if label == "":
            values = frame[column].to_numpy(dtype=np.float64)
            if (values == np.round(values)).all() and len(np.unique(values)) == len(values):
                raise GdError(f"{path}: its unnamed column holds row numbers, not a feature; save the table without "
                              "them (pandas: to_csv(index=False); R: write.csv(row.names = FALSE))")


def _read_descriptor_carefully(path: Path, harmonise_genes: bool) -> pd.DataFrame:
    """``read_descriptor_file``'s reader of any table the plain readers leave to it, cell by cell."""
    table, gene_column, genes, features = _read_gene_table(path)
    if not features:
        raise GdError(f"{path}: has only the gene column {str(gene_column)!r}; add numeric feature columns")
    named = _gene_headers(table.columns)
    if len(named) > 1:  # e.g. symbols and numeric gene ids: the ids would be read as a feature
        raise GdError(f"{path}: columns {_names([table.columns[j] for j in named])} all look like gene columns, "
                      f"and gd reads every column but the gene column as a feature; delete all but "
                      f"{str(gene_column)!r}")
    parsed = _numeric_columns(table, features, path, "feature column(s)",
                              f"every column but the gene column {str(gene_column)!r} must hold numbers")
    values = pd.DataFrame({str(c): parsed[c][0].to_numpy() for c in features}, index=pd.Index(genes, dtype=object))
    values += 0.0  # -0.0 becomes 0.0 (NaN stays NaN), so that "-0" reads alike in an int or a float column

    missing = values.isna().to_numpy()
    if missing.any():
        row, col = (int(a[0]) for a in np.nonzero(missing))
        raise _missing_values(path, missing.sum(axis=1), len(values.columns), values.index, row, values.columns[col])
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

    Rows with no value are dropped (an assay may leave genes unmeasured), counted in ``series.attrs["missing"]``
    with up to three of their genes in ``attrs["missing_genes"]``; the harmonisation report is in
    ``series.attrs["harmonise"]``.
    """
    boolean("harmonise_genes", harmonise_genes)
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
            row, cell = _first_bad(table[chosen], parsed[chosen][1])
            raise GdError(f"{path}: value column {column!r} is not numeric ({_cell(cell, chosen, row)}); "
                          "fix the values or choose another column with --param assay.column=NAME")

    values = pd.Series(parsed[chosen][0].to_numpy(), index=pd.Index(genes, dtype=object), name=str(chosen)) + 0.0
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
    series.attrs["missing_genes"] = [str(g) for g in values.index[missing][:3]]
    return series


# Rows the plain reader parses at a time: its float64 temporaries stay a few MB, pandas' per-chunk cost small.
_BLOCK_ROWS = 512


def _read_plain_descriptor(path: Path, harmonise_genes: bool) -> pd.DataFrame | None:
    """``read_descriptor_file``'s result for a well-formed text or parquet table, found without a Python object
    per cell.

    pandas' C parser, called as the careful reader calls it (or pyarrow, a few columns at a time), turns the
    numbers straight into float32 rows of one array that is reordered in place, so a file takes little more
    memory than its matrix. Anything the careful reader might refuse or read differently (a missing,
    non-finite or huge value, a cell that is not a plain number, a ragged row, a blank or repeated gene, a
    compressed format other than gzip, ...) makes this return None; the careful reader then reads the file
    and names the problem. The exception: a text table that the careful reader would refuse only for cells that
    are not numbers or missing (a typo, an NA) is refused here, in the careful reader's words, without reading
    every cell as a Python string (tens of seconds and about a GB for a 165 MB file).
    """
    name = path.name.lower()
    if not name.endswith(TEXT_SUFFIXES + PARQUET_SUFFIXES):
        return None
    try:
        with warnings.catch_warnings():
            # pandas merely warns where it drops the extra fields of a first row longer than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return _plain_descriptor(path, name, harmonise_genes)
    except GdError:  # the careful reader's refusal, found without it
        raise
    except Exception:  # any failure, that warning included, is the careful reader's to explain
        return None


def _plain_descriptor(path: Path, name: str, harmonise_genes: bool) -> pd.DataFrame | None:
    symbol_map = default_symbol_map() if harmonise_genes else None
    read = (_plain_parquet if name.endswith(PARQUET_SUFFIXES) else _plain_text)(path, name, symbol_map)
    if read is None:
        return None
    columns, matrix, names, exact, named = read
    if not names or not all(names) or len(set(names)) < len(names):
        return None
    if not named and not _parse_numeric(pd.Series(names, dtype=object))[1].any():
        return None  # all numbers: the careful reader would look for the gene column elsewhere
    if symbol_map is None:
        order = np.argsort(np.array(names, dtype=object), kind="stable")
        index = pd.Index(np.array(names, dtype=object)[order], dtype=str, name="gene")
        report = None
    else:
        symbols, kept, report = harmonise_names(names, symbol_map)
        if not kept.any():
            return None
        rows = np.flatnonzero(kept)
        unique, slot, counts = np.unique(np.array(symbols, dtype=object)[rows], return_inverse=True,
                                         return_counts=True)
        order = np.empty(len(unique), dtype=np.int64)
        order[slot] = rows  # for a symbol on several rows, any one of them: its slot is overwritten below
        shared = rows[counts[slot] > 1]
        if not all(int(r) in exact for r in shared):
            return None
        index = pd.Index(unique, dtype=str, name="gene")
    _gather_rows(matrix, order, len(names))
    matrix.resize((len(order), len(columns)), refcheck=False)  # in place: the tail is returned, not copied
    if symbol_map is not None and len(shared):
        # The same float64 mean, row order and cast as the careful reader's harmonise.
        means = pd.DataFrame(np.array([exact[int(r)] for r in shared]),
                             index=pd.Index(np.array(symbols, dtype=object)[shared], dtype=str)
                             ).groupby(level=0, sort=True).mean()
        matrix[index.get_indexer(means.index)] = means.to_numpy()
    frame = pd.DataFrame(matrix, index=index, columns=pd.Index(columns), copy=False)
    frame.attrs["harmonise"] = report
    return frame


# What the plain readers hand over: the feature columns' names, the float32 matrix (its first len(names) rows
# filled, in file order), the gene names, the float64 rows that harmonising may average (by row), and whether
# the header named the gene column.
_PlainRead = tuple[list[str], np.ndarray, list[str], dict[int, np.ndarray], bool]


def _plain_text(path: Path, name: str, symbol_map) -> _PlainRead | None:
    """A text table read in blocks of rows by pandas' C parser, or None where the careful reader must look."""
    _check_header_line(path, name)  # the careful reader's first checks, so that both refuse alike
    sep = _separator(path, name)
    first = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False, nrows=1, **_TEXT_OPTIONS)
    header = _stripped(first.iloc[0])
    if len(header) < 2 or len(set(header)) < len(header) or any("\x00" in h for h in header):
        return None
    # names= and header=0 skip the header row; na_filter=False leaves "NA" and "" as text, which no numeric
    # dtype accepts.
    options = dict(sep=sep, header=0, names=list(range(len(header))), index_col=False, na_filter=False,
                   **_TEXT_OPTIONS)
    named_all = _gene_headers(header)
    if len(named_all) > 1:
        return None
    named = named_all[0] if named_all else None
    if named is None:  # the careful reader takes the first column with text in it; the first rows show which
        sample = pd.read_csv(path, nrows=_BLOCK_ROWS, **options)
        text = [j for j, dtype in enumerate(sample.dtypes) if dtype.kind not in "iuf"]
        if not text:
            return None
        gene = text[0]
    else:
        gene = named
    features = [j for j in range(len(header)) if j != gene]
    chunks = pd.read_csv(path, dtype={gene: object}, chunksize=_BLOCK_ROWS, **options)
    # Allocated for the most rows the file can hold; pages never written take no memory, and the unused
    # tail is handed back later.
    matrix = np.empty((_record_bound(path, name), len(features)), dtype=np.float32)
    names: list[str] = []
    exact: dict[int, np.ndarray] = {}
    odd: _OddCells | None = None  # once a block holds text in a feature column
    with chunks:
        for chunk in chunks:
            start, stop = len(names), len(names) + len(chunk)
            genes = _stripped(chunk.pop(gene))
            if stop > len(matrix):
                return None
            if odd is not None or any(dtype.kind not in "iuf" for dtype in chunk.dtypes):
                if any(dtype.kind not in "iufO" for dtype in chunk.dtypes):
                    return None
                odd = odd or _OddCells(len(features))
                if not odd.add(chunk, start):
                    return None
                names.extend(genes)
                continue
            values = chunk.to_numpy(dtype=np.float64)
            del chunk  # before the next chunk is parsed
            if not _plain_numbers(values, matrix[start:stop]):
                return None
            names.extend(genes)
            if symbol_map is not None:
                exact.update((start + i, values[i] + 0.0) for i in _may_merge(genes, symbol_map))
            del values
    if odd is not None:
        # The careful reader's checks before the cells' (its choice of the gene column, then the gene names), then
        # its refusal of the cells, if it would refuse them.
        # Unnamed, the gene column is the first with text that is not a number anywhere in the file: this one,
        # unless a column before it has such text further down.
        chosen = named is not None or (bool(_parse_numeric(pd.Series(names, dtype=object))[1].any())
                                       and not any(position < gene for position in odd.first_bad))
        if chosen and all(names) and len(set(names)) == len(names):
            odd.refuse(path, header[gene], [header[j] for j in features], names)
        return None
    return [header[j] for j in features], matrix, names, exact, named is not None


class _OddCells:
    """Feature cells of a text table that pandas' C parser left as text, gathered block by block: the first
    that is not a number in each column, and where cells are missing (what the careful reader calls missing)."""

    def __init__(self, n_features: int) -> None:
        self.first_bad: dict[int, tuple[int, object]] = {}  # feature position -> (data row, cell as written)
        self.missing_per_row: list[tuple[int, np.ndarray]] = []  # (first data row, count per row) per block
        self.first_missing: tuple[int, int] | None = None  # (data row, feature position)
        self.n_features = n_features

    def add(self, block: pd.DataFrame, start: int) -> bool:
        """Take one block of feature columns, its first data row ``start``. False where the careful reader is
        better placed: a column the parser read as numbers has a NaN, or no cell so far is one it would
        refuse (text that is a number after all, e.g. " 1 ": reading on cell by cell would cost as much as
        the careful reader, which would then read the file again)."""
        missing = np.zeros(block.shape, dtype=bool)
        text = [dtype.kind == "O" for dtype in block.dtypes]
        if not all(text) and np.isnan(block.loc[:, [not t for t in text]].to_numpy(dtype=np.float64)).any():
            return False
        for position in np.flatnonzero(text).tolist():
            column = block.iloc[:, position]
            values, bad = _parse_numeric(column)
            if bad.any() and position not in self.first_bad:
                row, cell = _first_bad(column, bad)
                self.first_bad[position] = (start + row, cell)
            missing[:, position] = values.isna().to_numpy() & ~bad
        if not (self.first_bad or self.first_missing or missing.any()):  # nothing so far the careful reader refuses
            return False
        self.missing_per_row.append((start, missing.sum(axis=1)))
        if self.first_missing is None and missing.any():
            row, position = (int(a[0]) for a in np.nonzero(missing))
            self.first_missing = (start + row, position)
        return True

    def refuse(self, path: Path, gene_column: str, columns: list[str], genes: list[str]) -> None:
        """Raise the careful reader's refusal of these cells, if it would refuse them."""
        if self.first_bad:
            bad = sorted(self.first_bad)
            row, cell = self.first_bad[bad[0]]
            raise _not_numeric(path, "feature column(s)", [columns[p] for p in bad], row, cell,
                               f"every column but the gene column {gene_column!r} must hold numbers")
        if self.first_missing is not None:
            row, position = self.first_missing
            per_row = np.zeros(len(genes), dtype=np.int64)  # the blocks before the first odd one have none
            for start, counts in self.missing_per_row:
                per_row[start:start + len(counts)] = counts
            raise _missing_values(path, per_row, self.n_features, genes, row, columns[position])


def _plain_parquet(path: Path, name: str, symbol_map) -> _PlainRead | None:
    """A parquet table with one text gene column, named as such or stored as pandas' index (what
    ``frame.to_parquet()`` writes for genes in the index), and whose other columns all hold integers or floats,
    read a block of columns of one row group at a time, so that it takes little more memory than its matrix;
    None for any other (the careful reader's)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        schema = parquet.schema_arrow
        header = [str(n) for n in schema.names]
        types = schema.types
        if len(header) < 2 or len(set(header)) < len(header):
            return None
        gene = _parquet_gene_column(header, types, schema.pandas_metadata or {})
        if gene is None:
            return None
        named = bool(_gene_headers([header[gene]]))
        features = [j for j in range(len(header)) if j != gene]
        if not all(pa.types.is_integer(types[j]) or pa.types.is_floating(types[j]) for j in features):
            return None
        names = _stripped(parquet.read(columns=[schema.names[gene]]).column(0).to_pylist())
        matrix = np.empty((len(names), len(features)), dtype=np.float32)
        merging = list(_may_merge(names, symbol_map)) if symbol_map is not None else []
        merged = np.empty((len(merging), len(features)))
        start = 0
        for group in range(parquet.num_row_groups):
            stop = start + parquet.metadata.row_group(group).num_rows
            inside = [i for i, r in enumerate(merging) if start <= r < stop]
            for first in range(0, len(features), _PARQUET_COLUMNS):
                block = features[first:first + _PARQUET_COLUMNS]
                table = parquet.read_row_group(group, columns=[schema.names[j] for j in block], use_threads=False)
                values = np.column_stack([c.to_numpy().astype(np.float64, copy=False) for c in table.columns])
                del table
                if not _plain_numbers(values, matrix[start:stop, first:first + len(block)]):
                    return None
                merged[inside, first:first + len(block)] = values[[merging[i] - start for i in inside]] + 0.0
            start = stop
        if start != len(names):
            return None
        return [header[j] for j in features], matrix, names, dict(zip(merging, merged)), named


def _parquet_gene_column(header: list[str], types: list, pandas_metadata: dict) -> int | None:
    """The position of a parquet table's gene column as the careful reader would choose it, when it is text;
    None where only the careful reader can tell.

    The careful reader moves a stored pandas index to the front (``reset_index``), then takes the first column
    whose header names genes, else the first holding text. So a stored string index is the gene column when no
    other header names genes; without one, exactly one header must name genes.
    """
    import pyarrow as pa

    stored = pandas_metadata.get("index_columns", [])
    stored_columns = [c for c in stored if isinstance(c, str)]  # a RangeIndex is stored as a dict, not a column
    named = _gene_headers(header)
    if stored_columns:
        if len(stored) != 1 or stored_columns[0] not in header:
            return None  # a multi-level index: its levels become several columns
        gene = header.index(stored_columns[0])
        if any(j != gene for j in named):
            return None  # another column's header names genes, and the careful reader would take the index's
    elif len(named) == 1:
        gene = named[0]
    else:
        return None
    return gene if pa.types.is_string(types[gene]) or pa.types.is_large_string(types[gene]) else None


# Columns a parquet table is read by at a time: a few MB of float64 for tables of ~20,000 genes. On the
# 18,785 × 799 peer descriptor the peak is then ~135 MB, of which ~45 MB is pyarrow's own (the file's metadata,
# the gene column, its allocator); 8 columns save 3 MB more, 32 cost 20 MB more.
_PARQUET_COLUMNS = 16


def _plain_numbers(values: np.ndarray, into: np.ndarray) -> bool:
    """Write float64 ``values`` into the float32 ``into`` as the careful reader would, or False if it would
    refuse one (missing, or beyond float32)."""
    # NaN fails both comparisons; the careful reader refuses what float32 would make infinite
    if values.size and not (-_FLOAT32_MAX <= values.min() and values.max() <= _FLOAT32_MAX):
        return False
    # + 0.0 turns -0.0 into 0.0, as in the careful reader; the sum is float64, then cast to float32
    np.add(values, 0.0, out=into, casting="same_kind")
    return True


def _may_merge(genes: list[str], symbol_map):
    """Positions of the rows that harmonising may move to a symbol another row has, to be averaged with it."""
    return (i for i, g in enumerate(genes) if _renamed(g, symbol_map))


def _renamed(name: str, symbol_map) -> bool:
    """Whether harmonising may move this row to a symbol other than its own name."""
    symbol, route = symbol_map.resolve(name)
    if route == "symbol":
        return symbol != name
    return route != "ambiguous"  # an alias, or a name the map lacks that a repair may turn into a symbol


def _record_bound(path: Path, name: str) -> int:
    """At least the number of data rows of a text file: its line breaks (``\\n`` and ``\\r``), plus one."""
    count = 1
    with (gzip.open if name.endswith(".gz") else open)(path, "rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            count += piece.count(b"\n") + piece.count(b"\r")
    return count


def _gather_rows(matrix: np.ndarray, order: np.ndarray, used: int) -> None:
    """Move row ``order[k]`` of ``matrix`` to row k, in place (a copy would double a large table's memory).

    ``order`` holds distinct rows below ``used``; the rows it leaves out end up after ``len(order)``.
    """
    target = np.empty(used, dtype=np.int64)
    target[:len(order)] = order
    left = np.ones(used, dtype=bool)
    left[order] = False
    target[len(order):] = np.flatnonzero(left)
    target = target.tolist()
    done = [False] * used
    for start in range(used):  # follow each cycle of the permutation, holding one row aside
        if done[start] or target[start] == start:
            continue
        held = matrix[start].copy()
        k = start
        while target[k] != start:
            matrix[k] = matrix[target[k]]
            done[k] = True
            k = target[k]
        matrix[k] = held
        done[k] = True


# A user table at least this large is kept, parsed, in gd's data cache. A smaller one is read afresh on every
# run (~0.2 s at 1 MB, most of it loading the symbol map; benchmarks/user_tables.py) and leaves nothing on
# disk, so a refused run that read it writes nothing either.
CACHE_FROM_BYTES = 1 << 20
# Bump when reading a table changes what a file gives, so that tables cached by older code are read again.
READER_VERSION = 2


def load_descriptor_file(path: Path, *, harmonise_genes: bool = True) -> pd.DataFrame:
    """``read_descriptor_file`` through gd's data cache: a large file read before, unchanged, loads in well
    under a second."""
    return _through_cache("descriptor", Path(path), {"harmonise_genes": harmonise_genes})


def load_assay_file(path: Path, *, column: str | None = None, harmonise_genes: bool = True) -> pd.Series:
    """``read_assay_file`` through gd's data cache: a large file read before, unchanged, loads in well under
    a second."""
    return _through_cache("assay", Path(path), {"column": column, "harmonise_genes": harmonise_genes})


def _through_cache(kind: str, path: Path, params: dict[str, Any]) -> Any:
    """A user table from the processed-table cache, keyed by the file's content, size and mtime, the
    reader's parameters and version, and the symbol map that harmonised it; read and kept there on a miss."""
    boolean("harmonise_genes", params["harmonise_genes"])
    reader = read_descriptor_file if kind == "descriptor" else read_assay_file
    _check_file(path)
    stat = path.stat()
    if stat.st_size < CACHE_FROM_BYTES:
        return reader(path, **params)
    import hashlib
    import json
    from importlib import resources

    from gd_core.helpers.downloads import cached_table

    where = str(path.resolve())
    described = json.loads(json.dumps(params, sort_keys=True, default=repr))  # JSON-able, for the key
    # One entry per file and parameters: a newer read of the same file replaces the older one.
    key = f"user_{kind}_{hashlib.sha256(json.dumps([where, described]).encode()).hexdigest()[:16]}"
    facts = {"file": where, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "params": described}

    def build() -> pd.DataFrame:
        table = reader(path, **params)
        if isinstance(table, pd.Series):
            frame = table.to_frame()
            frame.attrs = dict(table.attrs)
            return frame
        return table

    with resources.as_file(resources.files("gd_core") / "resources" / "symbol_map.tsv.gz") as symbols:
        sources = [path, symbols] if params["harmonise_genes"] else [path]  # harmonising depends on the map
        frame = cached_table(key, sources, READER_VERSION, build, extra=facts, form="npz",
                             label=f"{kind} file {path}")
    if kind == "descriptor":
        return frame
    series = frame.iloc[:, 0]
    series.attrs = dict(frame.attrs)
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
    _check_header_line(path, name)
    try:
        # keep_default_na=False: only the readers decide what is missing, and never in the gene column.
        # header=None: pandas then refuses a row longer than the header instead of indexing by its first
        # fields, and keeps repeated header names as written so that they can be refused below.
        frame = pd.read_csv(path, sep=_separator(path, name), header=None, dtype=str, keep_default_na=False,
                            **_TEXT_OPTIONS)
    except pd.errors.EmptyDataError as exc:
        raise GdError(f"{path}: the file is empty; write a header row and one row per gene") from exc
    except UnicodeDecodeError as exc:
        raise GdError(f"{path}: is not UTF-8 text; save it as UTF-8 CSV or TSV") from exc
    except (OSError, EOFError, pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise GdError(f"{path}: cannot read the file ({one_line(exc)}); "
                      "check it is a CSV/TSV table with the same number of fields on every line") from exc
    header = _stripped(frame.iloc[0])
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


# How both text readers call pandas' C parser, so that they see the same cells.
_TEXT_OPTIONS = {"compression": "infer", "encoding": "utf-8-sig", "skip_blank_lines": True}


def _separator(path: Path, name: str) -> str:
    """The field separator: by suffix (``.csv``, ``.tsv``, also gzipped), else sniffed."""
    stem = name[:-3] if name.endswith(".gz") else name
    if stem.endswith(".csv"):
        return ","
    if stem.endswith(".tsv"):
        return "\t"
    return _sniff(path, gzip.open if name.endswith(".gz") else open)


def _stripped(cells) -> list[str]:
    """Cells as text, stripped; a missing cell (a short row's padding) is empty."""
    return ["" if _is_missing_object(v) else str(v).strip() for v in cells]


def _check_header_line(path: Path, name: str) -> None:
    """Refuse a text table whose first lines show it would be misread: fields split by ';' or '|', or by tabs
    where its name says CSV (commas where TSV), which read by the name would look like one column; a first line
    of data rather than a header; or an empty last column on every line (a trailing separator)."""
    try:
        lines = _first_lines(path, gzip.open if name.endswith(".gz") else open, 2)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.EmptyDataError):
        return  # the reader names these
    line = lines[0]
    counts = {sep: line.count(sep) for sep in (",", "\t", ";", "|")}
    for sep, why in ((";", " (a spreadsheet's export in some languages)"), ("|", "")):
        if counts[sep] > max(counts[","], counts["\t"]):
            raise GdError(f"{path}: its fields are separated by '{sep}'{why}, which gd does not read; save it with "
                          "commas (CSV) or tabs (TSV), and '.' as the decimal mark")
    stem = name[:-3] if name.endswith(".gz") else name
    for suffix, sep, other, says in ((".csv", ",", "\t", "tabs"), (".tsv", "\t", ",", "commas")):
        if stem.endswith(suffix) and counts[other] > counts[sep]:
            right = ".tsv" if suffix == ".csv" else ".csv"
            raise GdError(f"{path}: its fields are separated by {says}, but its name says {suffix[1:].upper()}; "
                          f"rename it to {right}{name[len(stem):]} (or .txt, whose separator gd detects)")
    sep = _separator(path, name)
    header = _fields(lines[0], sep)
    numbers = [cell for cell in header if _is_number(cell)]
    if len(header) >= 2 and len(numbers) == len(header) - 1 and any(not _is_integer(c) for c in numbers):
        raise GdError(f"{path}: its first line ({', '.join(header[:3])}, …) looks like a gene's data, not a header; "
                      "add a header line naming the columns (e.g. gene, then one name per feature)")
    first = _fields(lines[1], sep) if len(lines) == 2 else []
    if len(header) >= 2 and header[-1] == "" and len(first) == len(header) and first[-1] == "":
        raise GdError(f"{path}: every line ends with a separator, which makes an empty last column; remove the "
                      "trailing separators")


def _fields(line: str, sep: str) -> list[str]:
    """The stripped cells of one line, split as the readers split it (quotes removed)."""
    cells = line.split() if sep == r"\s+" else next(csv.reader([line.rstrip("\r\n")], delimiter=sep), [])
    return [cell.strip() for cell in cells]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return cell.lower().lstrip("+-") not in ("nan", "inf", "infinity")


def _is_integer(cell: str) -> bool:
    return cell.lstrip("+-").isdigit()


def _first_lines(path: Path, opener, n: int) -> list[str]:
    """Up to the first ``n`` lines that are not blank (at least one)."""
    lines = []
    with opener(path, "rt", encoding="utf-8-sig") as handle:
        for line in handle:
            if line.strip():
                lines.append(line)
                if len(lines) == n:
                    break
    if not lines:
        raise pd.errors.EmptyDataError("no text")
    return lines


def _first_line(path: Path, opener) -> str:
    """The first line that is not blank."""
    return _first_lines(path, opener, 1)[0]


def _sniff(path: Path, opener) -> str:
    """Tab if the first non-blank line has one, else comma, else runs of whitespace."""
    line = _first_line(path, opener)
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    return r"\s+"


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        repeated = sorted({n for n in names if names.count(n) > 1})
        if not repeated:
            # Pinned to pyarrow so that the way out named below is the one that works.
            frame = pd.read_parquet(path, engine="pyarrow")
    except ImportError as exc:
        raise GdError(f"{path}: reading parquet needs pyarrow; run `pip install pyarrow` "
                      "or save the table as CSV") from exc
    except Exception as exc:  # pyarrow's errors share no base class beyond Exception
        raise GdError(f"{path}: cannot read the parquet file ({one_line(exc)}); "
                      "check it is a parquet table or save it as CSV") from exc
    if repeated:  # pyarrow's own refusal would list its internal columns
        raise GdError(f"{path}: the table names column(s) {_names(repeated)} more than once; "
                      "give every column its own name")
    if isinstance(frame.index, pd.MultiIndex):  # reset, its other levels would become features
        raise GdError(f"{path}: its index has {frame.index.nlevels} levels ({_names(list(frame.index.names))}); "
                      "keep only the genes in the index (e.g. frame.droplevel(...)) or make the others columns "
                      "and drop those that are not features")
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _gene_header(columns) -> int | None:
    """The position of the first column whose name says it holds genes, if any."""
    named = _gene_headers(columns)
    return named[0] if named else None


def _gene_headers(columns) -> list[int]:
    """The positions of every column whose name says it holds genes."""
    return [position for position, column in enumerate(columns) if _header_key(column) in GENE_HEADERS]


def _header_key(column: Any) -> str:
    """A column's name as GENE_HEADERS and _IDENTIFIER know it: lower case, runs of spaces, dots and hyphens as "_"."""
    return re.sub(r"[\s.\-]+", "_", str(column).strip().lower())


def _gene_column(table: pd.DataFrame, path: Path):
    position = _gene_header(table.columns)
    if position is not None:
        return table.columns[position]
    for column in table.columns:
        if _parse_numeric(table[column])[1].any():
            return column
    raise GdError(f"{path}: no gene column (columns {_names(table.columns, limit=5)} all hold numbers); "
                  f"add a column named 'gene' with gene symbols")


def _gene_names(column: pd.Series, path: Path) -> list[str]:
    names = _stripped(column)
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
        raise _not_numeric(path, what, bad, *_first_bad(table[bad[0]], parsed[bad[0]][1]), way_out)
    return parsed


def _first_bad(column: pd.Series, bad: np.ndarray) -> tuple[int, object]:
    """The data row (0-based) of a column's first cell that is not a number (``bad``), and the cell as written."""
    row = int(np.flatnonzero(bad)[0])
    return row, column.iloc[row]


def _not_numeric(path: Path, what: str, bad: list, row: int, cell: object, way_out: str) -> GdError:
    """The refusal of columns ``bad`` that hold cells that are not numbers, the first ``cell`` at data row
    ``row`` (0-based) of ``bad[0]``."""
    return GdError(f"{path}: {what} {_names(bad)} are not numeric (e.g. {_cell(cell, bad[0], row)}); {way_out}")


def _missing_values(path: Path, per_row: np.ndarray, n_columns: int, genes, row: int, column) -> GdError:
    """The refusal of a descriptor with missing cells: ``per_row`` of them in each row (file order, genes
    ``genes``), the first at ``row`` (0-based) in ``column``."""
    empty = per_row == n_columns
    if empty.any():
        return GdError(f"{path}: {int(empty.sum())} row(s) have no values at all (e.g. genes "
                       f"{_names([g for g, e in zip(genes, empty) if e])}); delete those rows or fill them in")
    return GdError(f"{path}: {int(per_row.sum())} missing value(s) in {int((per_row > 0).sum())} row(s) "
                   f"(e.g. gene {genes[row]!r}, column {str(column)!r}); "
                   "impute them (e.g. with the column mean) or delete those rows")


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
    limit = _FLOAT32_MAX
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
        # str, as harmonise gives and as the data cache gives back
        values.index = pd.Index(values.index, dtype=str, name="gene")
        return values, None
    merged, report = harmonise(values, default_symbol_map(), source=str(path))
    if len(merged) == 0:
        raise GdError(f"{path}: none of its {len(values)} gene name(s) is a known human gene (e.g. "
                      f"{_names(values.index)}); use official gene symbols such as TP53 in the gene column")
    merged.index.name = "gene"
    return merged, report


def _cell(cell: object, column, row: int) -> str:
    """What a cell holds and where it is (``row`` 0-based among the data rows)."""
    return f"{str(cell)[:30]!r} in column {str(column)!r}, data row {row + 1}"


def _names(items, limit: int = 3) -> str:
    items = [str(i) for i in items]
    shown = [i if len(i) <= 30 else i[:29] + "…" for i in items[:limit]]
    return repr(shown)[:-1] + (", ...]" if len(items) > limit else "]")


