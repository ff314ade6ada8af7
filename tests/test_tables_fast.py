"""The plain reader of descriptor files: it gives exactly what the careful reader gives, or declines.

``read_descriptor_file`` first tries ``_read_plain_descriptor`` (pandas' C parser straight into float32) and
falls back to the careful reader when it declines. The property below generates tables, well-formed and
not, and checks that whatever the plain reader accepts the careful reader accepts too, with the same
values (to the byte), genes, columns, index type and harmonisation report; a file it declines is read by
the careful reader, so errors are the careful reader's by construction.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gd_core.helpers import tables
from gd_core.errors import GdError
from gd_core.helpers.tables import read_descriptor_file

# Official symbols, aliases (P53 and LFS1 of TP53, KRAS2 of KRAS, NA of XK), an Excel date, a control, a
# miRBase id, an unknown name, names that pandas or the careful reader could take for numbers or missing.
GENES = ["TP53", "KRAS", "MYC", "P53", "LFS1", "KRAS2", "NA", "XK", "1-Mar", "NTC_1", "hsa-mir-155", "NOTAGENE",
         " EGFR ", "CD99_X", "DEC1", "BHLHE40", "Gène", "A,B", 'Q"T', "", "12", "3.5", "nan", "TRUE", "SEPT2"]
# Cells the careful reader reads as numbers, as missing, or refuses.
ODD_CELLS = ["-0", "+1", " 1 ", "1e5", "1E-3", ".5", "5.", "-0.0", "3.4028235e38", "3.4028236e38", "1e39", "-1e400",
             "1e-400", "123456789012345678901", "9223372036854775808", "", "NA", "nan", "NULL", "abc", "true",
             "True", "inf", "-Infinity", "0x10", "1_0", "1,5", "\t2", "1\x00", "#N/A", "1d5"]
numbers = st.one_of(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.17g}"),
                    st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: f"{v:.6g}"),
                    st.floats(-1e3, 1e3, allow_nan=False, width=32).map(repr),
                    st.integers(-5, 5).map(str))


# What can be wrong with, or merely unusual in, a table that is otherwise well-formed; one per example.
QUIRKS = ["none", "odd cell", "odd column", "boolean column", "long first row", "long row", "short row",
          "repeated gene", "blank gene", "odd gene", "repeated header", "unnamed gene column", "blank line", "bom",
          "quoted cell"]


@st.composite
def text_tables(draw) -> tuple[str, bytes]:
    """A (suffix, content) pair: a well-formed table of gene and numeric columns with at most one quirk."""
    quirk = draw(st.sampled_from(QUIRKS))
    n_features = draw(st.integers(1, 3))
    header = [f"f{j}" for j in range(n_features)]
    gene_at = draw(st.integers(0, n_features))
    named = draw(st.sampled_from(["gene", "Gene_Symbol", "symbol", " gene "]))
    # unnamed also beside another quirk, one table in five: the careful reader then chooses it by its text
    header.insert(gene_at, "" if quirk == "unnamed gene column" or draw(st.integers(0, 4)) == 0 else named)
    if quirk == "repeated header":
        header[-1] = header[-2]
    names = draw(st.lists(st.sampled_from(GENES[:17]), min_size=1, max_size=8, unique=True))
    rows = [[draw(numbers) for _ in range(n_features)] for _ in names]
    for row, name in zip(rows, names):
        row.insert(gene_at, name)
    features = [j for j in range(n_features + 1) if j != gene_at]
    at, column = draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from(features))
    if quirk == "odd cell":
        rows[at][column] = draw(st.sampled_from(ODD_CELLS))
    elif quirk == "odd column":
        for row in rows:
            row[column] = draw(st.one_of(numbers, st.sampled_from(ODD_CELLS)))
    elif quirk == "boolean column":
        for row in rows:
            row[column] = draw(st.sampled_from(["true", "False", "TRUE"]))
    elif quirk in ("long first row", "long row"):
        rows[0 if quirk == "long first row" else at].append(draw(numbers))
    elif quirk == "short row":
        rows[at].pop()
    elif quirk == "repeated gene":
        rows.append(list(rows[at]))
    elif quirk in ("blank gene", "odd gene"):
        rows[at][gene_at] = draw(st.sampled_from(["", " "] if quirk == "blank gene" else GENES[17:]))
    suffix = draw(st.sampled_from([".csv", ".tsv", ".txt"]))
    sep = {".csv": ",", ".tsv": "\t"}.get(suffix) or draw(st.sampled_from([",", "\t", " "]))

    def cell(value: str) -> str:
        if sep in value or '"' in value or (sep == " " and value in ("", " ")):
            return '"' + value.replace('"', '""') + '"'
        return f'"{value}"' if quirk == "quoted cell" and draw(st.booleans()) else value

    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [sep.join(cell(c) for c in row) for row in [header, *rows]]
    if quirk == "blank line":
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", "  "])))
    text = newline.join(lines) + draw(st.sampled_from([newline, ""]))
    data = (("\ufeff" if quirk == "bom" else "") + text).encode()
    if draw(st.integers(0, 4)) == 0:
        return suffix + ".gz", gzip.compress(data, mtime=0)
    return suffix, data


def careful(path: Path, harmonise_genes: bool) -> pd.DataFrame | str:
    """The careful reader's result, or its refusal."""
    plain = tables._read_plain_descriptor
    tables._read_plain_descriptor = lambda *args: None
    try:
        return read_descriptor_file(path, harmonise_genes=harmonise_genes)
    except GdError as exc:
        return f"refused: {exc}"
    finally:
        tables._read_plain_descriptor = plain


def assert_identical(plain: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(plain, expected, check_exact=True)
    assert plain.index.dtype == expected.index.dtype and plain.columns.dtype == expected.columns.dtype
    assert plain.dtypes.tolist() == expected.dtypes.tolist()
    assert plain.to_numpy().tobytes() == expected.to_numpy().tobytes()  # -0.0 and 0.0 too
    assert plain.attrs == expected.attrs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=text_tables(), harmonise_genes=st.booleans())
def test_what_the_plain_reader_accepts_the_careful_reader_reads_the_same(tmp_path, table, harmonise_genes):
    suffix, content = table
    path = tmp_path / f"table{suffix}"
    path.write_bytes(content)

    try:
        plain = tables._read_plain_descriptor(path, harmonise_genes)
    except GdError as exc:  # refused without the careful reader: in its words
        plain = f"refused: {exc}"
    expected = careful(path, harmonise_genes)

    if isinstance(plain, str):
        assert plain == expected
    elif plain is not None:
        assert not isinstance(expected, str), f"plain reader accepted what the careful one refused: {expected}"
        assert_identical(plain, expected)


# Well-formed files must take the plain path: the property above means little if it always declined.

WELL_FORMED = "gene,f1,f2\nKRAS2,1,2\nP53,3,-0\nLFS1,5,6.5\nMYC,7,8\nNA,9,10\n"


@pytest.mark.parametrize(("name", "text"), [
    ("d.csv", WELL_FORMED),
    ("d.tsv", WELL_FORMED.replace(",", "\t")),
    ("d.csv.gz", WELL_FORMED),
    ("tabs.txt", WELL_FORMED.replace(",", "\t")),
    ("spaces.txt", WELL_FORMED.replace(",", "  ")),
    ("bom.csv", "\ufeff" + WELL_FORMED),
    ("crlf.csv", WELL_FORMED.replace("\n", "\r\n")),
    ("blank_lines.csv", "\n" + WELL_FORMED.replace("MYC", "\nMYC") + "\n\n"),
    ("r_style.csv", '"gene","f1","f2"\n"KRAS2",1,2\n"P53",3,-0\n"LFS1",5,6.5\n"MYC",7,8\n"NA",9,10\n'),
    ("unnamed_index.csv", WELL_FORMED.replace("gene,", ",", 1)),
    ("gene_last.csv", "f1,f2,symbol\n1,2,KRAS2\n3,-0,P53\n5,6.5,LFS1\n7,8,MYC\n9,10,NA\n"),
    ("spaced_cells.csv", WELL_FORMED.replace(",", ", ")),
])
@pytest.mark.parametrize("harmonise_genes", [True, False])
def test_well_formed_tables_take_the_plain_path_and_read_as_the_careful_reader_reads(tmp_path, name, text,
                                                                                      harmonise_genes):
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())

    plain = tables._read_plain_descriptor(path, harmonise_genes)

    assert plain is not None
    assert_identical(plain, careful(path, harmonise_genes))
    if harmonise_genes:
        assert plain.loc["TP53"].tolist() == [4.0, 3.25]  # P53 and LFS1 averaged
        assert plain.attrs["harmonise"]["merged"] == 1


def test_a_table_of_many_blocks_reads_as_the_careful_reader_reads_it(tmp_path):
    """Across block boundaries: columns int in one block and float in another, rows merged from far apart."""
    symbols = tables.default_symbol_map().table
    official = symbols.index[symbols["route"] == "symbol"][:1500].tolist()
    rng = np.random.default_rng(0)
    genes = official[:1200] + ["P53", "LFS1", "KRAS2", "1-Mar", "NTC_1", "NOTAGENE"]
    rng.shuffle(genes)
    lines = ["gene,a,b,c"]
    for i, gene in enumerate(genes):
        a = str(int(rng.integers(-3, 4))) if i < 600 else f"{rng.normal():.9g}"  # an int column, then not
        lines.append(f"{gene},{a},{'-0' if i % 7 == 0 else rng.normal():}, {rng.integers(0, 10**6)}")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")

    for harmonise_genes in (True, False):
        plain = tables._read_plain_descriptor(path, harmonise_genes)
        assert plain is not None
        assert_identical(plain, careful(path, harmonise_genes))


def _long_table(n: int, odd: dict[tuple[int, int], str], gene: str = "gene", gene_at: int = 0) -> str:
    """A table of n genes × 3 features, integer cells, with the cells ``odd`` ((row, feature) → text) replaced;
    the gene column is headed ``gene`` and comes after ``gene_at`` features."""
    header = ["a", "b", "c"]
    header.insert(gene_at, gene)
    lines = [",".join(header)]
    for i in range(n):  # the cells are refused before the gene names are harmonised: any unique names do
        cells = [odd.get((i, j), str(i * 3 + j)) for j in range(3)]
        cells.insert(gene_at, f"G{i}")
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [
    "gene,f1\nTP53,1\nMYC,NA\n",  # missing, and so a row with no values
    "gene,f1,f2\nTP53,1,2\nMYC,NA,3\nKRAS,,n/a\n",  # missing in two rows
    "gene,f1\nTP53,1\nMYC,true\n",
    "gene,f1,f2\nTP53,1,x\nMYC,abc,NA\n",  # two columns not numeric, and a missing cell
    "gene,f1,f2\nTP53, 1 ,2\nMYC,NA,3\n",  # a number the C parser leaves as text, and a missing cell
    _long_table(2000, {(1500, 1): "NA"}),  # found in a later block of rows
    _long_table(2000, {(5, 2): '"1,5"', (1700, 0): "abc", (1800, 2): "NULL"}),
    "gene,f1;f2;f3\nTP53,1;2;3\nMYC,3;4;5\n",  # text in cells, but the header's ';' is refused first
    "gene,f1,f2\nTP53,1,nan\nMYC,abc,2\n",  # "nan" beside a number is text to the C parser too: missing
    "gene,f1,f2\nTP53,1\nMYC,abc,2\n",  # a short row: its missing field is "" to both readers
    _long_table(2000, {(700, 0): "NA", (700, 1): "", (700, 2): "nan"}),  # a row with no values
    # An unnamed gene column (as pandas' to_csv writes an unnamed index, R's write.csv row names) ...
    _long_table(2000, {(1500, 1): "NA"}, gene=""),
    _long_table(2000, {(1500, 2): "abc", (1600, 0): "NA"}, gene="", gene_at=1),  # text only after it
    _long_table(2000, {(1500, 0): "NA"}, gene="", gene_at=2),  # before it, missing: not text to choose it by
])
def test_tables_refused_for_their_cells_are_refused_in_the_careful_readers_words(tmp_path, text):
    path = tmp_path / "d.csv"
    path.write_text(text)

    with pytest.raises(GdError) as refused:
        tables._read_plain_descriptor(path, True)

    assert f"refused: {refused.value}" == careful(path, True)


@pytest.mark.parametrize("text", [
    "gene,f1\nTP53,true\nMYC,False\n",  # pandas would read booleans as 1.0 and 0.0
    # an unnamed gene column, but blocks later the careful reader finds text in a column before it, its choice
    _long_table(2000, {(1500, 0): "abc"}, gene="", gene_at=1),
    # Text that is a number (to pandas' C parser an integer too long) in the first block to hold text, and a
    # problem only blocks later: a table of such cells is the careful reader's to read, so it is not read on.
    _long_table(2000, {(3, 0): "123456789012345678901", (1500, 1): "NA"}),
    "gene,f1\nTP53,x\nTP53,2\n",  # text in a cell, but the repeated gene is refused first
    "gene,f1\nTP53,1\nMYC,1e39\n",  # beyond float32
    "gene,f1\nTP53,1\nMYC,inf\n",
    "gene,f1\nTP53,1\nTP53,2\n",  # repeated gene
    "gene,f1\nTP53,1,5\nMYC,2\n",  # a first row longer than the header: pandas would drop a field and warn
    "gene,f1\nTP53,1\n,2\n",  # blank gene
    "f0,f1\n1,2\n3,4\n",  # no gene column
    ",f1\nNA,1\n12,2\n",  # nor here: to the careful reader, NA in a numeric column is a missing number
])
def test_tables_the_careful_reader_must_judge_are_declined(tmp_path, text):
    path = tmp_path / "d.csv"
    path.write_text(text)

    assert tables._read_plain_descriptor(path, True) is None


def test_a_negative_zero_is_read_as_zero_in_int_and_float_columns_alike(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("gene,ints,floats\nTP53,-0,-0\nMYC,1,1.5\n")

    frame = read_descriptor_file(path)

    assert not np.signbit(frame.to_numpy()).any()
    assert not np.signbit(careful(path, True).to_numpy()).any()


@given(st.lists(st.integers(0, 40), min_size=1, max_size=40, unique=True), st.integers(0, 10))
def test_rows_gathered_in_place_are_the_rows_asked_for(order, extra):
    used = max(order) + 1 + extra
    matrix = np.arange(used * 3, dtype=np.float32).reshape(used, 3)
    expected = matrix[order].copy()

    tables._gather_rows(matrix, np.array(order), used)

    np.testing.assert_array_equal(matrix[:len(order)], expected)
    assert sorted(matrix[:used, 0].tolist()) == list(np.arange(used) * 3.0)  # every row is still there


# Parquet: the plain reader takes a table whose header names its gene column (text) and whose other columns are
# all numbers, a row group at a time, and must give what the careful reader (pandas.read_parquet) gives.

def _parquet(path: Path, frame: pd.DataFrame, **options) -> Path:
    frame.to_parquet(path, engine="pyarrow", **options)
    return path


PARQUET_GENES = ["KRAS2", "P53", "LFS1", "MYC", "NA", "TP53", "1-Mar", "NOTAGENE"]


@pytest.mark.parametrize("variant", ["float64", "float32", "int64", "mixed", "row_groups", "gene_last", "-0"])
@pytest.mark.parametrize("harmonise_genes", [True, False])
def test_well_formed_parquet_takes_the_plain_path_and_reads_as_the_careful_reader_reads(tmp_path, variant,
                                                                                       harmonise_genes):
    rng = np.random.default_rng(1)
    n = len(PARQUET_GENES)
    columns = {"gene": PARQUET_GENES, "a": rng.normal(size=n), "b": rng.normal(size=n) * 1e3}
    if variant == "float32":
        columns = {k: (v.astype(np.float32) if k != "gene" else v) for k, v in columns.items()}
    elif variant in ("int64", "mixed"):
        columns["a"] = rng.integers(-5, 5, n)
        if variant == "int64":
            columns["b"] = rng.integers(-10**6, 10**6, n)
    elif variant == "-0":
        columns["a"] = np.where(np.arange(n) % 2 == 0, -0.0, 1.5)
    frame = pd.DataFrame(columns)
    if variant == "gene_last":
        frame = frame[["a", "b", "gene"]]
    path = _parquet(tmp_path / "d.parquet", frame, index=False,
                    **({"row_group_size": 3} if variant == "row_groups" else {}))

    plain = tables._read_plain_descriptor(path, harmonise_genes)

    assert plain is not None
    assert_identical(plain, careful(path, harmonise_genes))


# What ``frame.to_parquet()`` writes when the genes are the frame's index: the index stored as a column, named
# in the file's pandas metadata (unnamed: "__index_level_0__").
INDEXED = {"gene": dict(name="gene"), "unnamed": dict(name=None), "symbol": dict(name="symbol"),
           "label": dict(name="label"), "float32": dict(name="gene", dtype=np.float32),
           "row_groups": dict(name=None, row_group_size=3)}


@pytest.mark.parametrize("variant", sorted(INDEXED))
@pytest.mark.parametrize("harmonise_genes", [True, False])
def test_parquet_with_the_genes_as_its_pandas_index_takes_the_plain_path(tmp_path, variant, harmonise_genes):
    spec = dict(INDEXED[variant])
    rng = np.random.default_rng(2)
    n = len(PARQUET_GENES)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n) * 1e3, "c": rng.integers(-5, 5, n)},
                         index=pd.Index(PARQUET_GENES, name=spec.pop("name")))
    if "dtype" in spec:
        frame = frame.astype(spec.pop("dtype"))
    path = _parquet(tmp_path / "d.parquet", frame, **spec)  # the index stored, as to_parquet does by default

    plain = tables._read_plain_descriptor(path, harmonise_genes)

    assert plain is not None
    expected = careful(path, harmonise_genes)
    assert_identical(plain, expected)
    assert list(plain.columns) == ["a", "b", "c"]


@pytest.mark.parametrize("variant", ["missing", "boolean", "category_gene", "no_gene_header", "huge",
                                     "index_and_gene_column", "numeric_index", "two_level_index", "blank_index",
                                     "repeated_index", "number_names_index"])
def test_parquet_the_careful_reader_must_judge_is_declined(tmp_path, variant):
    frame = pd.DataFrame({"gene": ["TP53", "MYC", "KRAS"], "a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    options = {"index": False}
    indexed = {"index_and_gene_column": ["TP53", "MYC", "KRAS"], "numeric_index": [7, 8, 9],
               "blank_index": ["TP53", "", "KRAS"], "repeated_index": ["TP53", "MYC", "TP53"],
               "number_names_index": ["1", "2", "3"]}
    if variant in indexed:  # the genes (or what stands for them) in the stored index
        frame.index, options = pd.Index(indexed[variant], name="label"), {}
        if variant != "index_and_gene_column":
            frame = frame.drop(columns="gene")
    elif variant == "two_level_index":
        frame, options = frame.set_index(["gene", "a"]), {}
    elif variant == "missing":
        frame.loc[1, "a"] = np.nan
    elif variant == "boolean":
        frame["b"] = [True, False, True]
    elif variant == "category_gene":
        frame["gene"] = frame["gene"].astype("category")
    elif variant == "no_gene_header":
        frame = frame.rename(columns={"gene": "label"})
    elif variant == "huge":
        frame.loc[2, "b"] = 1e39
    path = _parquet(tmp_path / "d.parquet", frame, **options)

    assert tables._read_plain_descriptor(path, True) is None
