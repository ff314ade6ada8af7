"""The org.Hs.eg.db builders, run against a tiny database with the real table layout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tools.org_hs_eg_db import build_gene_ontology, build_symbol_map

SCHEMA = """
CREATE TABLE genes (_id INTEGER PRIMARY KEY, gene_id VARCHAR(10) NOT NULL UNIQUE);
CREATE TABLE gene_info (_id INTEGER NOT NULL UNIQUE, gene_name VARCHAR(255) NOT NULL,
                        symbol VARCHAR(80) NOT NULL);
CREATE TABLE alias (_id INTEGER NOT NULL, alias_symbol VARCHAR(80) NOT NULL);
CREATE TABLE genetype (_id INTEGER NOT NULL, gene_type VARCHAR(20) NOT NULL);
CREATE TABLE go_bp_all (_id INTEGER NOT NULL, go_id CHAR(10) NOT NULL, evidence CHAR(3) NOT NULL);
CREATE TABLE go_mf_all (_id INTEGER NOT NULL, go_id CHAR(10) NOT NULL, evidence CHAR(3) NOT NULL);
CREATE TABLE go_cc_all (_id INTEGER NOT NULL, go_id CHAR(10) NOT NULL, evidence CHAR(3) NOT NULL);
CREATE TABLE pfam (_id INTEGER NOT NULL, ipi_id CHAR(11), pfam_id CHAR(7) NULL);
CREATE TABLE kegg (_id INTEGER NOT NULL, path_id CHAR(5) NOT NULL);
"""

# _id, symbol, gene type
GENES = [
    (1, "A1", "protein-coding"),
    (2, "B2", "protein-coding"),
    (3, "C3", "ncRNA"),
    (4, "D4", "protein-coding"),
    (5, "E5", "protein-coding"),
    (6, "DUP", "protein-coding"),  # two records share DUP: the protein-coding one wins
    (7, "DUP", "pseudo"),
    (8, "TW", "tRNA"),  # two tRNA records share TW: ambiguous
    (9, "TW", "tRNA"),
]
# The alias table lists every official symbol too, as org.Hs.eg.db's does.
ALIASES = [(i, s) for i, s, _ in GENES] + [
    (1, "OLDA"),
    (2, "A1"),  # an official symbol listed as another gene's alias must stay put
    (1, "SHARED"), (3, "SHARED"),  # one protein-coding target of two
    (4, "BOTHPC"), (5, "BOTHPC"),  # two protein-coding targets: ambiguous
    (3, "NC2"), (8, "NC2"),  # no protein-coding target: ambiguous
    (7, "ONLY7"),  # its one target is the DUP record that DUP does not resolve to
    (6, "DUPOLD"),
]
GO_BP = [
    (1, "GO:0000001", "IDA"), (1, "GO:0000001", "IEA"),  # one pair, two evidence codes
    (2, "GO:0000001", "IEA"), (3, "GO:0000001", "TAS"),
    (1, "GO:0000002", "IDA"),  # one gene only
    (1, "GO:0000003", "ND"), (2, "GO:0000003", "ND"), (3, "GO:0000003", "ND"),
    (4, "GO:0000003", "ND"), (5, "GO:0000003", "ND"), (6, "GO:0000003", "ND"),  # six genes
    (7, "GO:0000007", "IEA"), (4, "GO:0000007", "IEA"),  # record 7 is not DUP's record
    (8, "GO:0000008", "IEA"), (9, "GO:0000008", "IEA"), (3, "GO:0000008", "IEA"),  # TW is ambiguous
]
GO_MF = [(2, "GO:0000005", "IBA"), (4, "GO:0000005", "IPI"), (6, "GO:0000005", "IPI")]
GO_CC = [(2, "GO:0000006", "HDA"), (6, "GO:0000006", "IDA")]
PFAM = [(1, "IPI00000001", "PF00001"), (1, "IPI00000002", "PF00001"), (5, "IPI00000003", "PF00001"),
        (3, "IPI00000004", None)]
KEGG = [(1, "04110"), (2, "04110"), (4, "04110")]


def make_db(path: Path, shuffle: int | None = None) -> Path:
    """Write the tiny database; ``shuffle`` seeds a different row order for every table."""
    rng = np.random.default_rng(shuffle)

    def rows(items: list) -> list:
        if shuffle is None:
            return items
        return [items[i] for i in rng.permutation(len(items))]

    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA)
        con.executemany("INSERT INTO genes VALUES (?, ?)", [(i, str(1000 + i)) for i, _, _ in GENES])
        info = [(i, f"gene {s}", s) for i, s, _ in GENES]
        con.executemany("INSERT INTO gene_info VALUES (?, ?, ?)", rows(info))
        con.executemany("INSERT INTO genetype VALUES (?, ?)", rows([(i, t) for i, _, t in GENES]))
        con.executemany("INSERT INTO alias VALUES (?, ?)", rows(ALIASES))
        con.executemany("INSERT INTO go_bp_all VALUES (?, ?, ?)", rows(GO_BP))
        con.executemany("INSERT INTO go_mf_all VALUES (?, ?, ?)", rows(GO_MF))
        con.executemany("INSERT INTO go_cc_all VALUES (?, ?, ?)", rows(GO_CC))
        con.executemany("INSERT INTO pfam VALUES (?, ?, ?)", rows(PFAM))
        con.executemany("INSERT INTO kegg VALUES (?, ?)", rows(KEGG))
    con.close()
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    return make_db(tmp_path / "org.Hs.eg.sqlite")


def as_dict(table) -> dict[str, tuple[str, str]]:
    return {name: (symbol, route) for name, symbol, route in table.itertuples(index=False)}


# build_symbol_map


def test_the_symbol_map_routes_each_kind_of_name(db):
    assert as_dict(build_symbol_map(db)) == {
        "A1": ("A1", "symbol"),
        "B2": ("B2", "symbol"),
        "C3": ("C3", "symbol"),
        "D4": ("D4", "symbol"),
        "E5": ("E5", "symbol"),
        "DUP": ("DUP", "symbol"),
        "TW": ("", "ambiguous"),
        "OLDA": ("A1", "alias"),
        "DUPOLD": ("DUP", "alias"),
        "SHARED": ("A1", "alias_protein_coding"),
        "BOTHPC": ("", "ambiguous"),
        "NC2": ("", "ambiguous"),
        "ONLY7": ("", "ambiguous"),
    }


def test_an_official_symbol_is_never_sent_to_another_gene(db):
    table = build_symbol_map(db).set_index("name")
    assert table.loc["A1", "symbol"] == "A1"  # B2 lists A1 as an alias


def test_the_symbol_map_is_sorted_with_one_row_per_name(db):
    table = build_symbol_map(db)
    assert list(table.columns) == ["name", "symbol", "route"]
    assert table["name"].is_unique
    assert list(table["name"]) == sorted(table["name"])


def test_the_symbol_map_ignores_row_order(tmp_path):
    first = build_symbol_map(make_db(tmp_path / "a.sqlite"))
    second = build_symbol_map(make_db(tmp_path / "b.sqlite", shuffle=1))
    assert first.equals(second)


def test_a_missing_database_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.sqlite"):
        build_symbol_map(tmp_path / "absent.sqlite")


# build_gene_ontology


def membership(db: Path, **kwargs) -> dict[str, list[str]]:
    matrix, genes, terms = build_gene_ontology(db, **kwargs)
    dense = matrix.toarray()
    return {term: [genes[i] for i in np.flatnonzero(dense[:, j])] for j, term in enumerate(terms)}


def test_terms_are_kept_between_min_and_max_genes_inclusive(db):
    assert membership(db, min_genes=2, max_genes=3) == {
        "GO:0000001": ["A1", "B2", "C3"],
        "GO:0000005": ["B2", "D4", "DUP"],
        "GO:0000006": ["B2", "DUP"],
        "PF00001": ["A1", "E5"],
    }
    assert list(membership(db, min_genes=6, max_genes=6)) == ["GO:0000003"]
    assert "GO:0000002" in membership(db, min_genes=1, max_genes=1)


def test_only_the_resolved_record_of_a_shared_symbol_contributes(db):
    terms = membership(db, min_genes=1, max_genes=100)
    assert terms["GO:0000007"] == ["D4"]  # the pseudo DUP record's annotation is left out
    assert terms["GO:0000008"] == ["C3"]  # TW's records are ambiguous
    assert not any(term.startswith(("04110", "path")) for term in terms)  # KEGG is never read


def test_genes_without_a_kept_term_are_dropped(db):
    _, genes, _ = build_gene_ontology(db, min_genes=2, max_genes=2)
    assert list(genes) == ["A1", "B2", "DUP", "E5"]


def test_the_matrix_is_binary_sorted_csr(db):
    matrix, genes, terms = build_gene_ontology(db)
    assert matrix.format == "csr" and matrix.dtype == np.uint8
    assert matrix.shape == (len(genes), len(terms))
    assert set(np.unique(matrix.data)) == {1}
    assert list(genes) == sorted(genes) and genes.is_unique
    assert list(terms) == sorted(terms) and terms.is_unique
    # Repeated pairs (two evidence codes, two IPI rows) count once.
    assert matrix.nnz == sum(len(g) for g in membership(db).values())


def test_the_matrix_ignores_row_order(tmp_path):
    first = build_gene_ontology(make_db(tmp_path / "a.sqlite"), min_genes=1)
    second = build_gene_ontology(make_db(tmp_path / "b.sqlite", shuffle=2), min_genes=1)
    assert (first[0] != second[0]).nnz == 0
    assert np.array_equal(first[0].indptr, second[0].indptr)
    assert np.array_equal(first[0].indices, second[0].indices)
    assert first[1].equals(second[1]) and first[2].equals(second[2])


def test_impossible_bounds_are_refused(db):
    with pytest.raises(ValueError, match="min_genes"):
        build_gene_ontology(db, min_genes=10, max_genes=5)
