"""Treatment descriptors that users download on first use: DepMap Achilles, STRING (Mashup) and CCLE proteomics.

None of these files is redistributed with gd. The first use of a descriptor fetches its files into
``gd_core.helpers.downloads.data_dir()`` (verified against the manifest on every later use), parses them, maps
gene names to official symbols with ``gd_core.helpers.genes.harmonise`` (rows that land on one symbol are
averaged) and caches the processed float32 table, which is rebuilt when a source file, the shipped symbol
map or ``VERSIONS`` changes. ``REMOTES`` holds every file's address; tests point it at a local server.

Decisions on points the sources leave open:

- ``achilles``: missing scores are imputed with the mean of their cell line over the raw table, after
  genes with no score at all are dropped; isoform or alias collisions are averaged afterwards.
- ``string``: the vectors file has no header and its orientation is not documented. It is read as a
  number matrix and the axis whose length equals the number of names in the genes file is taken as the
  genes (the reference reads genes as rows); a matrix that matches on neither axis, or on both, is
  refused. All columns are kept: the reference drops column 0, but nothing shows that column 0 is
  anything other than the first of the 800 dimensions the file name announces.
- ``ccle``: proteins without a symbol are dropped; missing values are imputed with the sample's mean;
  isoforms (rows sharing ``Gene_Symbol``) are averaged.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from gd_core import hookimpl
from gd_core.helpers.downloads import RemoteFile
from gd_core.errors import GdError

if TYPE_CHECKING:
    import pandas as pd

#: The files behind each descriptor, by role. Tests and mirrors may replace entries (same keys).
REMOTES: dict[str, dict[str, RemoteFile]] = {
    "achilles": {
        "gene_effect": RemoteFile("https://ndownloader.figshare.com/files/25494359",
                                  "depmap_20q4_achilles_gene_effect.csv"),
    },
    "string": {
        "vectors": RemoteFile("https://groups.csail.mit.edu/cb/mashup/vectors/string_human_mashup_vectors_d800.txt",
                              "string_human_mashup_vectors_d800.txt"),
        "genes": RemoteFile("https://groups.csail.mit.edu/cb/mashup/vectors/string_human_genes.txt",
                            "string_human_genes.txt"),
    },
    "ccle": {
        "proteomics": RemoteFile("https://gygi.hms.harvard.edu/data/ccle/protein_quant_current_normalized.csv.gz",
                                 "ccle_protein_quant_current_normalized.csv.gz"),
    },
}
#: Processing versions: bump one when its parser changes, so cached tables are rebuilt.
VERSIONS = {"achilles": 1, "string": 1, "ccle": 1}

INFO: dict[str, dict[str, str]] = {
    "achilles": {
        "summary": "DepMap 20Q4 Achilles CRISPR gene effect, one feature per cell line (808; downloaded)",
        "licence": "CC BY 4.0",
        "citation": "DepMap, Broad (2020): DepMap 20Q4 Public, figshare doi:10.6084/m9.figshare.13237076",
    },
    "string": {
        "summary": "Mashup embedding of the STRING human networks, 800 dimensions (downloaded)",
        "licence": "not redistributed (Mashup project terms)",
        "citation": "Cho H., Berger B., Peng J., Compact integration of multi-network topology for functional "
                    "analysis of genes, Cell Systems 3 (2016)",
    },
    "ccle": {
        "summary": "CCLE quantitative proteomics, one feature per cell-line sample (downloaded)",
        "licence": "not redistributed (publication terms)",
        "citation": "Nusinow D. P. et al., Quantitative proteomics of the Cancer Cell Line Encyclopedia, "
                    "Cell 180 (2020)",
    },
}
CCLE_NON_FEATURES = ("Protein_Id", "Description", "Group_ID", "Uniprot", "Uniprot_Acc")
_ACHILLES_GENE = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")  # "A1BG (1)" -> "A1BG"


@hookimpl
def gd_register_treatment_descriptors(register):
    for name, factory in (("achilles", achilles), ("string", string), ("ccle", ccle)):
        files = tuple(REMOTES[name].values())
        register(name, factory, source="download", url=files[0].url, files=files,
                 check=functools.partial(check_import, name), **INFO[name])


def achilles() -> pd.DataFrame:
    """DepMap 20Q4 Achilles gene effect: genes × cell lines (downloaded on first use)."""
    return _descriptor("achilles", parse_achilles)


def string() -> pd.DataFrame:
    """Mashup embedding of STRING: genes × 800 dimensions (downloaded on first use)."""
    return _descriptor("string", parse_string)


def ccle() -> pd.DataFrame:
    """CCLE proteomics: genes × cell-line samples (downloaded on first use)."""
    return _descriptor("ccle", parse_ccle)


def _descriptor(name: str, parse: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """Fetch, parse, harmonise and cache one descriptor; a float32 frame indexed by official symbol."""
    import numpy as np

    from gd_core.helpers.downloads import cached_table, fetch
    from gd_core.helpers.genes import default_symbol_map, harmonise

    paths = {role: fetch(remote, name=name) for role, remote in REMOTES[name].items()}

    def build() -> pd.DataFrame:
        table, _report = harmonise(parse(**paths), default_symbol_map(), source=name)
        return table.astype(np.float32)

    # The symbol map is a source too: a gd release with a newer map must rebuild the table.
    with resources.as_file(resources.files("gd_core") / "resources" / "symbol_map.tsv.gz") as symbols:
        table = cached_table(name, [*paths.values(), symbols], VERSIONS[name], build)
    table.index.name = "symbol"
    return table.astype(np.float32)


def check_import(name: str, remote: RemoteFile, copy: Path, source: Path) -> None:
    """Refuse a file offered to `gd data import` that a run would refuse, before it enters the cache.

    ``copy`` is the staged copy of ``source``. With every other source file of ``name`` cached, the copy is
    parsed and harmonised as a run would; a file whose partner is not there yet (STRING's vectors and gene
    list) is checked on its own. Messages name ``source`` and the file that is expected.
    """
    from gd_core.helpers.downloads import CACHED, cached_path, status
    from gd_core.helpers.genes import default_symbol_map, harmonise

    roles = REMOTES[name]
    role = next(r for r, f in roles.items() if f.filename == remote.filename)
    paths = {r: copy if r == role else cached_path(f) for r, f in roles.items()}
    try:
        if all(r == role or status(f) == CACHED for r, f in roles.items()):
            parse = {"achilles": parse_achilles, "string": parse_string, "ccle": parse_ccle}[name]
            table, _ = harmonise(parse(**paths), default_symbol_map(), source=name)
            if table.shape[1] < 1:
                raise FormatError("it has no feature columns")
            if table.shape[0] < 2:
                raise FormatError(f"{table.shape[0]} of its gene names are known human gene symbols, fewer than 2")
        else:
            _CHECK_ALONE[(name, role)](copy)
    except FormatError as exc:
        raise GdError(f"cannot import {source} as {remote.filename} of descriptor '{name}': {exc.why}; "
                      f"nothing was imported; import that file as downloaded from {remote.url}") from None


def _check_string_vectors(vectors: Path) -> None:
    matrix = _read(lambda: read_vectors(vectors), "string", vectors)
    if min(matrix.shape) < 2 or matrix.isna().to_numpy().any():
        raise FormatError(f"it is not a tab-separated matrix of numbers without gaps (read {matrix.shape[0]} × "
                          f"{matrix.shape[1]})")


def _check_string_genes(genes: Path) -> None:
    names = _gene_list(genes)
    if len(names) < 2 or any("\t" in n or "," in n for n in names):
        raise FormatError("it is not a list of gene names, one per line")


def read_vectors(vectors: Path) -> pd.DataFrame:
    """The Mashup vectors as a number matrix; an empty column from trailing tabs is dropped."""
    import pandas as pd

    return pd.read_csv(vectors, sep="\t", header=None, dtype=float).dropna(axis=1, how="all")


def _gene_list(genes: Path) -> list[str]:
    names = [line.strip() for line in _read(lambda: genes.read_text(encoding="utf-8"), "string", genes).splitlines()]
    while names and not names[-1]:
        names.pop()
    return names


def parse_achilles(gene_effect: Path) -> pd.DataFrame:
    """Achilles gene effect CSV (cell lines × ``SYMBOL (ENTREZ)``) → raw gene names × cell lines, imputed."""
    import pandas as pd

    frame = _read(lambda: pd.read_csv(gene_effect, index_col=0), "achilles", gene_effect)
    if frame.index.name != "DepMap_ID":
        _refuse("achilles", gene_effect, f"its first column is {frame.index.name!r}, not 'DepMap_ID'")
    genes = [_achilles_gene(str(column)) for column in frame.columns]
    table = _numeric(frame, "achilles", gene_effect).T.set_axis(pd.Index(genes, dtype=object), axis=0)
    table.columns = table.columns.astype(str)
    table = table.dropna(axis=0, how="all")
    return table.fillna(table.mean(axis=0))


def parse_string(vectors: Path, genes: Path) -> pd.DataFrame:
    """Mashup vectors (tab-separated, no header) and their gene list → raw gene names × dimensions."""
    import pandas as pd

    names = _gene_list(genes)
    matrix = _read(lambda: read_vectors(vectors), "string", vectors)
    n_rows, n_cols = matrix.shape
    if n_rows == len(names) and n_cols == len(names):
        _refuse("string", vectors, f"it is {n_rows} × {n_cols}, so its gene axis cannot be told apart")
    if n_rows == len(names):
        values = matrix.to_numpy()
    elif n_cols == len(names):
        values = matrix.to_numpy().T
    else:
        _refuse("string", vectors, f"it is {n_rows} × {n_cols} but {genes.name} lists {len(names)} genes")
    if pd.isna(values).any():
        _refuse("string", vectors, "it has missing values")
    columns = [f"mashup_{j}" for j in range(values.shape[1])]
    return pd.DataFrame(values, index=pd.Index(names, dtype=object), columns=columns)


def parse_ccle(proteomics: Path) -> pd.DataFrame:
    """CCLE protein quantification (csv.gz, ``Gene_Symbol`` plus samples) → raw gene names × samples, imputed."""
    import pandas as pd

    header = _read(lambda: pd.read_csv(proteomics, nrows=0), "ccle", proteomics)
    if "Gene_Symbol" not in header.columns:
        _refuse("ccle", proteomics, "it has no 'Gene_Symbol' column")
    # Gene names such as "NA" must stay names, while empty or NA measurements are missing values.
    samples = [c for c in header.columns if c != "Gene_Symbol" and c not in CCLE_NON_FEATURES]
    na = {c: ["", "NA", "NaN", "nan", "N/A", "#N/A", "NULL", "null"] for c in samples}
    frame = _read(lambda: pd.read_csv(proteomics, usecols=["Gene_Symbol", *samples], keep_default_na=False,
                                      na_values=na, dtype={"Gene_Symbol": str}), "ccle", proteomics)
    table = _numeric(frame.set_index("Gene_Symbol"), "ccle", proteomics)
    table = table.dropna(axis=0, how="all").dropna(axis=1, how="all")
    table.columns = table.columns.astype(str)
    return table.fillna(table.mean(axis=0))


def _achilles_gene(column: str) -> str:
    match = _ACHILLES_GENE.match(column)
    return match.group(1) if match else column.strip()


def _numeric(frame: pd.DataFrame, name: str, path: Path) -> pd.DataFrame:
    import pandas as pd

    odd = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if odd:
        _refuse(name, path, f"column {odd[0]!r} is not numeric")
    return frame.astype(float)


def _read(read: Callable[[], object], name: str, path: Path):
    """Run a reader, turning a parse failure into a FormatError that names the file."""
    import pandas as pd

    try:
        return read()
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, EOFError) as exc:
        message = " ".join(str(exc).split())
        _refuse(name, path, f"it cannot be read ({type(exc).__name__}: {message})")


class FormatError(GdError):
    """A source file that is not in the expected format; ``why`` says what is wrong with it."""

    def __init__(self, why: str, message: str | None = None) -> None:
        super().__init__(message or why)
        self.why = why


def _refuse(name: str, path: Path, why: str):
    raise FormatError(why, f"descriptor '{name}': {path} does not look like the expected file: {why}; "
                           f"run `gd data fetch {name} --force`, or report the changed format")


# The check of a file whose partner files are not cached yet (only STRING has two files).
_CHECK_ALONE: dict[tuple[str, str], Callable[[Path], None]] = {
    ("string", "vectors"): _check_string_vectors, ("string", "genes"): _check_string_genes,
}
