"""User tables: looks_like_path, read_table, the descriptor and assay file readers, require_shared_genes."""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_core.errors import GdError
from gd_core.helpers.tables import (
    looks_like_path,
    read_assay_file,
    read_descriptor_file,
    read_table,
    require_shared_genes,
)

# Real names from the shipped symbol map: P53 and LFS1 are aliases of TP53, KRAS2 of KRAS, NA of XK.
DESCRIPTOR_CSV = "gene,f1,f2\nKRAS2,1,2\nP53,3,4\nLFS1,5,6\nMYC,7,8\nNA,9,10\n"


def write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def refusal(call, path: Path) -> str:
    """Run a reader that must refuse the file; return its message after checking the house rules."""
    with pytest.raises(GdError) as info:
        call(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


# looks_like_path


@pytest.mark.parametrize("name", ["data/x", "./screen", "x.csv", "X.TSV", "x.txt", "x.parquet", "x.pq",
                                  "x.csv.gz", "x.tsv.gz", "C:\\data\\x"])
def test_looks_like_path_for_files(name):
    assert looks_like_path(name)


@pytest.mark.parametrize("name", ["gene_ontology", "schmidt_2021_il2", "random_forest", "csv"])
def test_looks_like_path_not_for_registered_names(name):
    assert not looks_like_path(name)


# reading formats


def test_descriptor_values_stay_on_their_genes_after_harmonisation(tmp_path):
    frame = read_descriptor_file(write(tmp_path / "d.csv", DESCRIPTOR_CSV))

    assert list(frame.index) == ["KRAS", "MYC", "TP53", "XK"]
    assert frame.loc["KRAS"].tolist() == [1, 2]
    assert frame.loc["TP53"].tolist() == [4, 5]  # P53 and LFS1 averaged
    assert frame.loc["XK"].tolist() == [9, 10]  # "NA" is a gene, not a missing value
    assert (frame.dtypes == np.float32).all()
    assert list(frame.columns) == ["f1", "f2"]
    report = frame.attrs["harmonise"]
    assert (report["symbol"], report["alias"], report["merged"]) == (1, 4, 1)


def test_descriptor_keeps_raw_names_without_harmonisation(tmp_path):
    frame = read_descriptor_file(write(tmp_path / "d.csv", DESCRIPTOR_CSV), harmonise_genes=False)

    assert list(frame.index) == ["KRAS2", "LFS1", "MYC", "NA", "P53"]
    assert frame.loc["P53"].tolist() == [3, 4]
    assert frame.attrs["harmonise"] is None


@pytest.mark.parametrize(("name", "text"), [
    ("d.tsv", DESCRIPTOR_CSV.replace(",", "\t")),
    ("d.csv.gz", DESCRIPTOR_CSV),
    ("d.tsv.gz", DESCRIPTOR_CSV.replace(",", "\t")),
    ("tabs.txt", DESCRIPTOR_CSV.replace(",", "\t")),
    ("commas.txt", DESCRIPTOR_CSV),
    ("spaces.txt", DESCRIPTOR_CSV.replace(",", "  ")),
    ("bom.csv", "\ufeff" + DESCRIPTOR_CSV),
])
def test_descriptor_formats_read_alike(tmp_path, name, text):
    frame = read_descriptor_file(write(tmp_path / name, text))

    assert frame.loc["TP53"].tolist() == [4, 5]
    assert list(frame.columns) == ["f1", "f2"]


def test_gene_column_found_by_header_anywhere(tmp_path):
    path = write(tmp_path / "d.csv", "f1,Gene_Symbol,f2\n1,TP53,2\n3,MYC,4\n")

    assert read_descriptor_file(path).loc["MYC"].tolist() == [3, 4]


def test_gene_column_else_first_non_numeric(tmp_path):
    path = write(tmp_path / "d.csv", ",f1\nTP53,1\nMYC,2\n")  # pandas' to_csv of an unnamed index

    assert read_descriptor_file(path)["f1"].to_dict() == {"MYC": 2, "TP53": 1}


def test_parquet_round_trip(tmp_path):
    path = tmp_path / "d.parquet"
    pd.DataFrame({"f1": [1.0, 3.0], "f2": [2.0, 4.0]}, index=pd.Index(["P53", "MYC"], name="gene")).to_parquet(path)

    assert read_descriptor_file(path).loc["TP53"].tolist() == [1, 2]


def test_parquet_without_pyarrow_names_the_install(tmp_path, monkeypatch):
    path = write(tmp_path / "d.parquet", "not really parquet")
    for module in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import pyarrow` fail

    assert "pip install pyarrow" in refusal(read_table, path)


def test_read_table_keeps_cells_as_written(tmp_path):
    table = read_table(write(tmp_path / "t.csv", "gene,x\nNA,\nTP53,1.50\n"))

    assert table.to_dict("list") == {"gene": ["NA", "TP53"], "x": ["", "1.50"]}


# assays


def test_assay_single_value_column(tmp_path):
    path = write(tmp_path / "a.tsv", "gene\tscore\nP53\t0.5\nKRAS\t-2\nNon-Targeting_1\t0.1\n")
    series = read_assay_file(path)

    assert series.to_dict() == {"KRAS": -2.0, "TP53": 0.5}
    assert series.name == "score"
    assert series.dtype == np.float32
    assert series.attrs["harmonise"]["controls"] == 1


def test_assay_column_chooses_among_several(tmp_path):
    path = write(tmp_path / "a.csv", "gene,note,day3,day7\nTP53,x,1,10\nMYC,y,2,20\n")

    assert read_assay_file(path, column="day7").to_dict() == {"MYC": 20.0, "TP53": 10.0}
    assert read_assay_file(path, column="day3").name == "day3"


def test_assay_drops_unmeasured_genes_and_counts_them(tmp_path):
    path = write(tmp_path / "a.csv", "gene,score\nTP53,1\nMYC,NA\nKRAS,\n")
    series = read_assay_file(path)

    assert series.to_dict() == {"TP53": 1.0}
    assert series.attrs["missing"] == 2


# bad files


def test_missing_file(tmp_path):
    assert "no such file" in refusal(read_descriptor_file, tmp_path / "nope.csv")


@pytest.mark.parametrize("name", ["empty.csv", "empty.csv.gz", "empty.txt"])
def test_empty_file(tmp_path, name):
    assert "empty" in refusal(read_descriptor_file, write(tmp_path / name, ""))


def test_header_only_file_has_no_rows(tmp_path):
    assert "no data rows" in refusal(read_assay_file, write(tmp_path / "a.csv", "gene,score\n"))


def test_unreadable_gzip(tmp_path):
    path = tmp_path / "d.csv.gz"
    path.write_bytes(b"plain text, not gzip")
    assert "is named .gz but is not gzip-compressed; rename it without .gz" in refusal(read_descriptor_file, path)

    path.write_bytes(gzip.compress(b"gene,f1\nTP53,1\nMYC,2\n")[:-12])  # gzip, cut short
    assert "cannot read" in refusal(read_descriptor_file, path)


def test_row_longer_than_the_header(tmp_path):
    path = write(tmp_path / "d.csv", "gene,f1\nTP53,1,2\nMYC,2\n")

    assert "line 2" in refusal(read_descriptor_file, path)


def test_repeated_header(tmp_path):
    path = write(tmp_path / "d.csv", "gene,f1,f1\nTP53,1,2\nMYC,2,3\n")

    assert "['f1'] more than once" in refusal(read_descriptor_file, path)


def test_spreadsheet(tmp_path):
    assert "save the sheet as CSV" in refusal(read_descriptor_file, write(tmp_path / "d.xlsx", "PK"))


def test_no_gene_column(tmp_path):
    assert "no gene column" in refusal(read_descriptor_file, write(tmp_path / "d.csv", "a,b\n1,2\n3,4\n"))


def test_descriptor_non_numeric_values(tmp_path):
    path = write(tmp_path / "d.csv", "gene,f1,f2,f3\nTP53,1,x,1\nMYC,2,2,1\n")

    message = refusal(read_descriptor_file, path)
    assert "['f2']" in message and "'x'" in message


def test_descriptor_all_nan_rows(tmp_path):
    path = write(tmp_path / "d.csv", "gene,f1,f2\nTP53,1,2\nMYC,,\nKRAS,NA,nan\n")

    message = refusal(read_descriptor_file, path)
    assert "2 row(s) have no values" in message and "'MYC'" in message


def test_descriptor_partial_nan_asks_for_imputation(tmp_path):
    message = refusal(read_descriptor_file, write(tmp_path / "d.csv", "gene,f1,f2\nTP53,1,2\nMYC,3,\n"))

    assert "impute" in message and "'MYC'" in message and "'f2'" in message


@pytest.mark.parametrize("reader", [read_descriptor_file, read_assay_file])
def test_duplicated_genes(tmp_path, reader):
    path = write(tmp_path / "t.csv", "gene,v\nTP53,1\nMYC,2\nTP53,3\n")

    assert "more than once" in (message := refusal(reader, path)) and "'TP53'" in message


def test_blank_gene_name(tmp_path):
    assert "no gene name" in refusal(read_descriptor_file, write(tmp_path / "d.csv", "gene,f1\nTP53,1\n,2\n"))


def test_no_known_gene(tmp_path):
    path = write(tmp_path / "d.csv", "gene,f1\nNOTAGENE1,1\nNOTAGENE2,2\n")

    assert "known human gene" in refusal(read_descriptor_file, path)


def test_assay_non_numeric_values(tmp_path):
    path = write(tmp_path / "a.csv", "gene,score\nTP53,1\nMYC,high\n")

    assert "'high'" in refusal(read_assay_file, path)
    assert "'high'" in refusal(lambda p: read_assay_file(p, column="score"), path)


def test_assay_several_value_columns_without_choice(tmp_path):
    path = write(tmp_path / "a.csv", "gene,day3,day7\nTP53,1,10\nMYC,2,20\n")

    message = refusal(read_assay_file, path)
    assert "['day3', 'day7']" in message and "--param assay.column=NAME" in message


@pytest.mark.parametrize("column", ["day9", "gene"])
def test_assay_unknown_chosen_column(tmp_path, column):
    path = write(tmp_path / "a.csv", "gene,day3,day7\nTP53,1,10\nMYC,2,20\n")

    message = refusal(lambda p: read_assay_file(p, column=column), path)
    assert f"{column!r}" in message and "['day3', 'day7']" in message and "--param assay.column=NAME" in message


def test_assay_without_values(tmp_path):
    assert "has no values" in refusal(read_assay_file, write(tmp_path / "a.csv", "gene,score\nTP53,\nMYC,NA\n"))


def test_infinite_values(tmp_path):
    assert "infinite" in refusal(read_descriptor_file, write(tmp_path / "d.csv", "gene,f1\nTP53,inf\nMYC,1\n"))


# shared genes


def test_fewer_than_two_shared_genes():
    with pytest.raises(GdError) as info:
        require_shared_genes(pd.Index(["TP53", "MYC"]), pd.Index(["TP53", "KRAS"]),
                             descriptor="mine.csv", assay="screen.tsv")
    message = str(info.value)
    assert "\n" not in message and message.startswith("mine.csv")
    assert "screen.tsv" in message and "'MYC'" in message and "'KRAS'" in message


def test_two_shared_genes_are_enough():
    require_shared_genes(pd.Index(["TP53", "MYC", "A"]), pd.Index(["MYC", "TP53", "B"]),
                         descriptor="mine.csv", assay="screen.tsv")


# Files that are not tables at all, or that cannot be read


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "screen.csv"
    os.mkfifo(fifo)

    assert "is not a regular file" in refusal(read_descriptor_file, fifo)


def test_a_directory_is_refused(tmp_path):
    folder = tmp_path / "screen.csv"
    folder.mkdir()

    assert "is a directory" in refusal(read_assay_file, folder)


def test_a_table_that_cannot_be_opened_names_permissions(tmp_path, monkeypatch):
    path = write(tmp_path / "d.csv", DESCRIPTOR_CSV)
    real = Path.open

    def denied(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)

    message = refusal(read_descriptor_file, path)
    assert "cannot read the file (Permission denied); check its permissions" in message


def test_a_header_with_nul_bytes_is_not_a_text_table(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"gene,f1,f2\x00\nTP53,1,2\nMYC,3,4\n")

    assert "NUL bytes" in refusal(read_descriptor_file, path)


@pytest.mark.parametrize("reader", [read_descriptor_file, read_assay_file])
def test_a_number_beyond_float32_is_refused_before_it_becomes_infinite(tmp_path, reader):
    path = write(tmp_path / "d.csv", "gene,f1\nTP53,-1e39\nMYC,3\nKRAS,4\n")

    message = refusal(reader, path)
    assert "beyond ±3.4e+38" in message and "'TP53'" in message and "rescale" in message
