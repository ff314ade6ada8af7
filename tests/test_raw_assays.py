"""The raw-assay readers attach every value to its own gene, keep every raw row, and refuse altered files.

Expected values are recomputed here from the raw bytes with the csv module, independently of pandas.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tools.raw_assays import (
    ASSAYS, RAW_FILES, SCREENS, ChecksumError, fetch_wheel, read_raw, zhuang_2019_nk,
)


def raw_rows(wheel: Path, filename: str, delimiter: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(SCREENS + filename).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def expected(wheel: Path, assay: str) -> tuple[list[str], list[float]]:
    """Raw gene names in file order and the value each one should carry."""
    if assay.startswith("schmidt"):
        cytokine = assay.rsplit("_", 1)[1]
        d1, d2 = (raw_rows(wheel, f"schmidt_{cytokine}_d{d}.gene_summary.txt", "\t") for d in (1, 2))
        lfc2 = {row["id"]: float(row["pos|lfc"]) for row in d2}
        names = [row["id"] for row in d1]
        return names, [(float(row["pos|lfc"]) + lfc2[row["id"]]) / 2 for row in d1]
    if assay == "zhuang_2019_nk":
        rows = raw_rows(wheel, "zhuang_2019_low_selection.gene_summary.txt", "\t")
        return [r["Gene"] for r in rows], [float(r["Rep1|z"]) + float(r["Rep2|z"]) for r in rows]
    if assay == "sanchez_2021_tau":
        rows = raw_rows(wheel, "sanchezetal2021_21days.csv", ",")
        return [r["Symbol"] for r in rows], [-float(r["RSA_Down"]) for r in rows]
    rows = raw_rows(wheel, "zhu_2021_sarscov2_host_factors.csv", ",")
    return [r["id"] for r in rows], [-math.log(float(r["pos|score"])) for r in rows]


@pytest.mark.parametrize("assay", sorted(ASSAYS))
def test_every_gene_carries_its_own_value(wheel, assay):
    names, values = expected(wheel, assay)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Schmidt gene missing from one donor would warn
        series = ASSAYS[assay](wheel)

    assert series.name == assay and series.dtype == np.float64
    assert list(series.index) == names
    assert np.allclose(series.to_numpy(), values, rtol=1e-12, atol=1e-12)
    assert not series.isna().any()


@pytest.mark.parametrize("assay, rows", [
    ("schmidt_2021_il2", 18_899), ("schmidt_2021_ifng", 18_899), ("zhuang_2019_nk", 20_697),
    ("sanchez_2021_tau", 18_469), ("zhu_2021_sarscov2", 19_114),
])
def test_one_row_per_raw_row(wheel, assay, rows):
    assert len(ASSAYS[assay](wheel)) == rows


def test_schmidt_donors_are_matched_by_name_not_position(wheel):
    d1, d2 = (raw_rows(wheel, f"schmidt_il2_d{d}.gene_summary.txt", "\t") for d in (1, 2))
    assert d1[0]["id"] != d2[0]["id"]  # the donor files really are in different orders
    own = next(float(row["pos|lfc"]) for row in d2 if row["id"] == d1[0]["id"])

    series = ASSAYS["schmidt_2021_il2"](wheel)

    assert series.iloc[0] == pytest.approx((float(d1[0]["pos|lfc"]) + own) / 2)


def test_sorted_names_bug_is_not_reproduced(wheel):
    first = raw_rows(wheel, "zhuang_2019_low_selection.gene_summary.txt", "\t")[0]
    series = zhuang_2019_nk(wheel)

    assert series.index[0] == first["Gene"]
    assert series[first["Gene"]] == pytest.approx(float(first["Rep1|z"]) + float(first["Rep2|z"]))
    assert not series.index.is_monotonic_increasing


def test_zhu_keeps_duplicated_raw_names_as_separate_rows(wheel):
    series = ASSAYS["zhu_2021_sarscov2"](wheel)
    repeated = series[series.index.duplicated(keep=False)]

    assert sorted(set(repeated.index)) == ["01.Mar", "02.Mar"]
    assert len(repeated) == 4 and repeated.nunique() == 4


def test_altered_member_is_refused(wheel, tmp_path):
    relpath = SCREENS + "sanchezetal2021_21days.csv"
    original = read_raw(wheel, relpath)
    good, bad = tmp_path / "good.whl", tmp_path / "bad.whl"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr(relpath, original)
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr(relpath, original.replace(b"A1BG,-0.6", b"A1BG,-9.6", 1))

    assert read_raw(good, relpath) == original
    with pytest.raises(ChecksumError, match="sha256"):
        read_raw(bad, relpath)


def test_altered_wheel_is_refused_without_downloading(tmp_path):
    (tmp_path / "genedisco-1.0.5-py3-none-any.whl").write_bytes(b"not the wheel")

    with pytest.raises(ChecksumError, match="delete the file"):
        fetch_wheel(tmp_path)


def test_every_pinned_raw_file_is_in_the_wheel(wheel):
    for relpath in RAW_FILES:
        assert read_raw(wheel, relpath)
