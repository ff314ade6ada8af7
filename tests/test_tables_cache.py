"""User tables in the data cache: a large file is parsed once; later loads come from a verified entry that is
exactly what a fresh read gives, and a changed file, changed parameters or a damaged entry are read afresh."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_core.helpers import tables
from gd_core.helpers.downloads import cached_table
from gd_core.errors import GdError
from gd_core.helpers.tables import load_assay_file, load_descriptor_file, read_assay_file, read_descriptor_file
from tests.helpers import gd

# Aliases (P53 and LFS1 of TP53, KRAS2 of KRAS, NA of XK), a control, an unknown name and a missing value.
DESCRIPTOR = "gene,f1,f2\nKRAS2,1,2\nP53,3,-0.5\nLFS1,5,6\nMYC,7,8.25\nNA,9,10\nNTC_1,0,0\nNOTAGENE,1,1\n"
ASSAY = "gene,day3,day7\nP53,1.5,10\nLFS1,2.5,NA\nKRAS,-2,20\nMYC,NA,30\nNon-Targeting_1,0,0\n"
ONE_COLUMN_ASSAY = "gene\tscore\nP53\t1.5\nLFS1\t2.5\nKRAS\t-2\nMYC\tNA\nNon-Targeting_1\t0\n"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh data cache, which keeps tables of any size."""
    monkeypatch.setenv("GD_DATA_DIR", str(tmp_path / "gd-data"))
    monkeypatch.setattr(tables, "CACHE_FROM_BYTES", 0)
    return tmp_path / "gd-data"


def entries(data_dir: Path) -> list[str]:
    folder = data_dir / "processed"
    return sorted(p.name for p in folder.glob("user_*") if not p.name.endswith(".sha256")) if folder.is_dir() else []


def unread(monkeypatch) -> None:
    """Make reading any user table fail: what follows must come from the cache."""
    def fail(*args, **kwargs):
        raise AssertionError("the table was read again instead of loaded from the cache")

    monkeypatch.setattr(tables, "read_descriptor_file", fail)
    monkeypatch.setattr(tables, "read_assay_file", fail)


def assert_exactly(loaded, fresh) -> None:
    """Same values to the byte, genes in the same order, same labels and types, same attrs."""
    if isinstance(fresh, pd.Series):
        pd.testing.assert_series_equal(loaded, fresh, check_exact=True)
    else:
        pd.testing.assert_frame_equal(loaded, fresh, check_exact=True)
        assert loaded.columns.dtype == fresh.columns.dtype
    assert loaded.index.dtype == fresh.index.dtype and loaded.index.name == fresh.index.name
    assert loaded.to_numpy().tobytes() == fresh.to_numpy().tobytes()
    assert loaded.attrs == fresh.attrs


@pytest.mark.parametrize("harmonise_genes", [True, False])
def test_a_cached_descriptor_is_exactly_a_fresh_read(tmp_path, data_dir, monkeypatch, harmonise_genes):
    path = tmp_path / "d.csv"
    path.write_text(DESCRIPTOR)
    fresh = read_descriptor_file(path, harmonise_genes=harmonise_genes)

    first = load_descriptor_file(path, harmonise_genes=harmonise_genes)  # read, and kept
    unread(monkeypatch)
    second = load_descriptor_file(path, harmonise_genes=harmonise_genes)

    assert len(entries(data_dir)) == 1
    assert_exactly(first, fresh)
    assert_exactly(second, fresh)
    if harmonise_genes:
        assert second.attrs["harmonise"]["merged"] == 1 and second.loc["TP53"].tolist() == [4.0, 2.75]


@pytest.mark.parametrize("params", [{}, {"column": "day3"}, {"column": "day7", "harmonise_genes": False}])
def test_a_cached_assay_is_exactly_a_fresh_read(tmp_path, data_dir, monkeypatch, params):
    path = tmp_path / "a.tsv"
    path.write_text(ASSAY.replace(",", "\t") if params else ONE_COLUMN_ASSAY)
    fresh = read_assay_file(path, **params)

    first = load_assay_file(path, **params)
    unread(monkeypatch)
    second = load_assay_file(path, **params)

    assert_exactly(first, fresh)
    assert_exactly(second, fresh)
    assert second.attrs["missing"] == fresh.attrs["missing"] and "harmonise" in second.attrs


def test_each_set_of_parameters_has_its_own_entry(tmp_path, data_dir):
    path = tmp_path / "a.csv"
    path.write_text(ASSAY)

    day3, day7 = load_assay_file(path, column="day3"), load_assay_file(path, column="day7")

    assert len(entries(data_dir)) == 2
    assert (day3.name, day7.name) == ("day3", "day7") and day3.attrs["missing"] == 1
    assert load_assay_file(path, column="day3").name == "day3"


def test_a_file_whose_content_changed_is_read_again_even_with_its_size_and_mtime_kept(tmp_path, data_dir):
    path = tmp_path / "d.csv"
    path.write_text(DESCRIPTOR)
    stat = path.stat()
    before = load_descriptor_file(path)

    path.write_text(DESCRIPTOR.replace("MYC,7,", "MYC,6,"))  # the same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime
    after = load_descriptor_file(path)

    assert (before.loc["MYC", "f1"], after.loc["MYC", "f1"]) == (7.0, 6.0)
    assert len(entries(data_dir)) == 1  # the newer entry replaced the older one


def test_a_touched_file_is_read_again(tmp_path, data_dir, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text(DESCRIPTOR)
    load_descriptor_file(path)
    reads = []
    real = tables.read_descriptor_file
    monkeypatch.setattr(tables, "read_descriptor_file", lambda *a, **k: reads.append(a) or real(*a, **k))

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    load_descriptor_file(path)

    assert len(reads) == 1


def test_a_damaged_entry_is_rebuilt_with_one_line_naming_the_file(tmp_path, data_dir, capsys):
    path = tmp_path / "d.csv"
    path.write_text(DESCRIPTOR)
    fresh = load_descriptor_file(path)
    (entry,) = entries(data_dir)
    stored = data_dir / "processed" / entry
    data = bytearray(stored.read_bytes())
    data[-200] ^= 1  # one bit
    stored.write_bytes(bytes(data))
    capsys.readouterr()

    rebuilt = load_descriptor_file(path)

    assert_exactly(rebuilt, fresh)
    notice = capsys.readouterr().err
    assert notice.count("\n") == 1 and f"descriptor file {path}" in notice and "damaged" in notice
    assert "rebuilt" in notice
    assert_exactly(load_descriptor_file(path), fresh)  # and the repaired entry reads back


def test_a_small_file_leaves_nothing_in_the_cache(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(tables, "CACHE_FROM_BYTES", 1 << 20)
    path = tmp_path / "d.csv"
    path.write_text(DESCRIPTOR)

    assert_exactly(load_descriptor_file(path), read_descriptor_file(path))
    assert not data_dir.exists()


def test_a_file_gd_cannot_read_is_refused_as_the_reader_refuses_it(tmp_path, data_dir):
    with pytest.raises(GdError, match="no such file"):
        load_descriptor_file(tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("gene,f1\nTP53,x\nMYC,1\n")
    with pytest.raises(GdError, match="not numeric"):
        load_descriptor_file(bad)
    assert entries(data_dir) == []


def test_gd_run_reads_a_user_table_once_and_gives_the_same_run_from_the_cache(tmp_path, data_dir, capsys,
                                                                                monkeypatch):
    rng = np.random.default_rng(0)
    genes = tables.default_symbol_map().table.query("route == 'symbol'").index[:300]
    frame = pd.DataFrame(rng.normal(size=(len(genes), 4)), index=pd.Index(genes, name="gene"))
    frame.columns = [f"f{j}" for j in range(4)]
    frame.to_csv(tmp_path / "d.csv", float_format="%.6g")
    pd.DataFrame({"gene": genes, "score": rng.normal(size=len(genes))}).to_csv(tmp_path / "a.csv", index=False)

    def run(out: str) -> tuple[str, str]:
        argv = ["run", "--descriptor", str(tmp_path / "d.csv"), "--assay", str(tmp_path / "a.csv"), "--model",
                "random_forest", "--param", "model.n_estimators=3", "--acquisition", "random", "--batch-size", "10",
                "--cycles", "2", "--out", str(tmp_path / out)]
        code, _, stderr = gd(capsys, argv)
        assert code == 0, stderr
        return ((tmp_path / out / "selections.csv").read_text(), (tmp_path / out / "metrics.csv").read_text())

    first = run("r1")
    assert len(entries(data_dir)) == 2  # the descriptor and the assay
    unread(monkeypatch)

    assert run("r2") == first


def test_cached_table_keeps_attrs_and_keys_on_extra_facts(data_dir):
    builds = []

    def build() -> pd.DataFrame:
        builds.append(1)
        frame = pd.DataFrame({"x": np.arange(3, dtype=np.float32)}, index=pd.Index(["a", "b", "c"], name="gene"))
        frame.attrs["note"] = {"n": 3}
        return frame

    first = cached_table("demo", [], 1, build, extra={"size": 1}, form="npz")
    again = cached_table("demo", [], 1, build, extra={"size": 1}, form="npz")
    other = cached_table("demo", [], 1, build, extra={"size": 2}, form="npz")

    assert len(builds) == 2
    assert again.attrs == first.attrs == other.attrs == {"note": {"n": 3}}
    pd.testing.assert_frame_equal(again, first)
    assert again["x"].dtype == np.float32 and list(again.index) == ["a", "b", "c"] and again.index.name == "gene"


def test_a_file_rewritten_while_it_is_read_is_refused_and_nothing_is_kept(tmp_path, data_dir, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text(DESCRIPTOR)
    stat = path.stat()
    read = tables.read_descriptor_file

    def read_while_rewritten(*args, **kwargs):
        path.write_text(DESCRIPTOR.replace("MYC,7,", "MYC,6,"))  # after gd hashed it, as a save under way would
        return read(*args, **kwargs)

    monkeypatch.setattr(tables, "read_descriptor_file", read_while_rewritten)
    with pytest.raises(GdError, match=r"d\.csv changed while gd was reading it; run again once nothing is writing"):
        load_descriptor_file(path)
    assert entries(data_dir) == []
    # Put back as it was, the file is read afresh, not served from a table of the other bytes.
    path.write_text(DESCRIPTOR)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setattr(tables, "read_descriptor_file", read)
    assert load_descriptor_file(path).loc["MYC", "f1"] == 7.0
