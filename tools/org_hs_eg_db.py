"""Maintainer-side builders over Bioconductor's org.Hs.eg.db SQLite (not shipped in the wheel).

Two pure functions turn the database into what gd ships: a name → official symbol table for
harmonising assay gene names, and a binary gene × term matrix (GO BP/MF/CC with ancestors, plus Pfam)
as an offline descriptor. KEGG is in the same file but its licence forbids redistribution: never read it.

The symbol table has one row per name that the runtime should recognise, columns ``name``, ``symbol``
and ``route``:

- ``symbol``: an official symbol, mapping to itself;
- ``alias``: a non-official alias with exactly one target gene;
- ``alias_protein_coding``: an alias with several targets of which exactly one is protein-coding;
- ``ambiguous``: a name that cannot be pinned to one gene (``symbol`` is the empty string), kept so that
  harmonisation can count such names instead of calling them unknown.

Official symbols are never renamed to another gene, even when another gene lists them as an alias.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

PROTEIN_CODING = "protein-coding"
GO_TABLES = ("go_bp_all", "go_mf_all", "go_cc_all")


def _connect(sqlite_path: str | Path) -> sqlite3.Connection:
    # Read-only and immutable: the builders must never touch the pinned input file.
    path = Path(sqlite_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"org.Hs.eg.db SQLite not found at {path}")
    return sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)


def _gene_records(con: sqlite3.Connection) -> pd.DataFrame:
    """One row per gene record: ``_id``, ``symbol``, ``protein_coding`` and ``canonical``.

    A record is canonical when it is the one record its symbol should resolve to: the only record with
    that symbol, or the only protein-coding one among several. Symbols with no canonical record are
    ambiguous.
    """
    genes = pd.read_sql_query(
        "SELECT i._id AS _id, i.symbol AS symbol, t.gene_type AS gene_type "
        "FROM gene_info AS i LEFT JOIN genetype AS t ON t._id = i._id",
        con,
    )
    genes["protein_coding"] = genes["gene_type"].eq(PROTEIN_CODING)
    shared = genes["symbol"].duplicated(keep=False)
    pc_per_symbol = genes.groupby("symbol")["protein_coding"].transform("sum")
    genes["canonical"] = ~shared | (genes["protein_coding"] & pc_per_symbol.eq(1))
    return genes[["_id", "symbol", "protein_coding", "canonical"]]


def build_symbol_map(sqlite_path: str | Path) -> pd.DataFrame:
    """Name → official symbol table (columns ``name``, ``symbol``, ``route``), sorted by name then symbol."""
    with closing(_connect(sqlite_path)) as con:
        genes = _gene_records(con)
        aliases = pd.read_sql_query("SELECT DISTINCT _id, alias_symbol AS name FROM alias", con)

    official = genes.groupby("symbol", sort=False)["canonical"].any()
    symbols = pd.DataFrame({"name": official.index, "symbol": official.index, "route": "symbol"})
    symbols.loc[~official.to_numpy(), ["symbol", "route"]] = ["", "ambiguous"]

    # An official symbol outranks every alias of the same spelling, so those rows never reach here.
    aliases = aliases[~aliases["name"].isin(official.index)]
    aliases = aliases.merge(genes, on="_id", how="inner")
    n_targets = aliases.groupby("name")["_id"].transform("nunique")
    n_coding = aliases.groupby("name")["protein_coding"].transform("sum")
    unique = n_targets.eq(1)
    coding_pick = n_targets.gt(1) & n_coding.eq(1) & aliases["protein_coding"]
    # The chosen record must also be its symbol's canonical record, or the value would land on the
    # other gene that shares the symbol.
    chosen = aliases[(unique | coding_pick) & aliases["canonical"]]
    chosen = chosen.assign(route=np.where(unique[chosen.index], "alias", "alias_protein_coding"))
    resolved = chosen[["name", "symbol", "route"]]
    unresolved = pd.Index(aliases["name"].unique()).difference(resolved["name"])
    ambiguous = pd.DataFrame({"name": unresolved, "symbol": "", "route": "ambiguous"})

    table = pd.concat([symbols, resolved, ambiguous], ignore_index=True)
    table = table.sort_values(["name", "symbol"], kind="mergesort", ignore_index=True)
    if table["name"].duplicated().any():
        raise AssertionError("symbol map has a name with two rows; the routes above must be exclusive")
    return table.astype({"name": str, "symbol": str, "route": str})


def build_gene_ontology(
    sqlite_path: str | Path, min_genes: int = 5, max_genes: int = 1000
) -> tuple[sparse.csr_matrix, pd.Index, pd.Index]:
    """Binary gene × term matrix from GO BP/MF/CC (with ancestors) and Pfam.

    Keeps terms annotated to ``min_genes``..``max_genes`` genes (inclusive), then genes with at least one
    kept term. Returns ``(matrix, genes, terms)``: a uint8 CSR matrix and sorted official symbols and term
    ids labelling its rows and columns. Records whose symbol is ambiguous are left out.
    """
    if min_genes < 1 or max_genes < min_genes:
        raise ValueError(f"need 1 <= min_genes <= max_genes, got {min_genes}..{max_genes}")
    union = " UNION ".join(f"SELECT _id, go_id AS term FROM {t}" for t in GO_TABLES)
    # UNION (not UNION ALL) drops the repeats that differ only in evidence code.
    query = f"{union} UNION SELECT _id, pfam_id AS term FROM pfam WHERE pfam_id IS NOT NULL"
    with closing(_connect(sqlite_path)) as con:
        genes = _gene_records(con)
        pairs = pd.read_sql_query(query, con)

    canonical = genes.loc[genes["canonical"], ["_id", "symbol"]]
    pairs = pairs.merge(canonical, on="_id", how="inner")[["symbol", "term"]].drop_duplicates()
    size = pairs.groupby("term")["symbol"].transform("size")
    pairs = pairs[size.between(min_genes, max_genes)]

    gene_index = pd.Index(np.sort(pairs["symbol"].unique()), name="gene")
    term_index = pd.Index(np.sort(pairs["term"].unique()), name="term")
    rows = gene_index.get_indexer(pairs["symbol"])
    cols = term_index.get_indexer(pairs["term"])
    matrix = sparse.csr_matrix(
        (np.ones(len(pairs), dtype=np.uint8), (rows, cols)),
        shape=(len(gene_index), len(term_index)),
        dtype=np.uint8,
    )
    matrix.sort_indices()
    return matrix, gene_index, term_index
