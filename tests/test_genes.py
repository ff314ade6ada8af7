"""Gene-name harmonisation: repair_name, the symbol map, and harmonise on a hand-made map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gd_core.errors import GdError
from gd_core.helpers.genes import REPORT_KEYS, SymbolMap, harmonise, is_control, load_symbol_map, repair_name

# name, symbol, route: the shape tools/org_hs_eg_db.py builds, with one case of each kind.
MAP_ROWS = [
    ("AAA", "AAA", "symbol"),  # official, though gene BBB also lists AAA as an alias
    ("BBB", "BBB", "symbol"),
    ("OLDB", "BBB", "alias"),
    ("CCC", "CCC", "symbol"),
    ("OLDC", "CCC", "alias_protein_coding"),
    ("AMB", "", "ambiguous"),
    ("GENE1", "GENE1", "symbol"),
    ("GENE2", "GENE2", "symbol"),
    ("G1A", "GENE1", "alias"),
    ("G1B", "GENE1", "alias"),
    ("MARCH3", "MARCHF3", "alias"),
    ("MARCHF3", "MARCHF3", "symbol"),
    ("SEP15", "SELENOF", "alias"),
    ("SELENOF", "SELENOF", "symbol"),
    ("SEPT2", "", "ambiguous"),
    ("SEPTIN2", "SEPTIN2", "symbol"),
    ("DEC1", "BHLHE40", "alias_protein_coding"),
    ("BHLHE40", "BHLHE40", "symbol"),
    ("DELEC1", "DELEC1", "symbol"),
    ("MIR155", "MIR155", "symbol"),
    ("MIRLET7A1", "MIRLET7A1", "symbol"),
    ("MIR1-1", "MIR1-1", "symbol"),
    ("MIR199A1", "MIR199A1", "symbol"),
    ("CD99", "CD99", "symbol"),
    ("CTRL", "CTRL", "symbol"),
    ("NA", "XK", "alias"),
    ("XK", "XK", "symbol"),
]


@pytest.fixture
def symbol_map() -> SymbolMap:
    return SymbolMap.from_frame(pd.DataFrame(MAP_ROWS, columns=["name", "symbol", "route"]))


def run(names: list[str], symbol_map: SymbolMap, values: list[float] | None = None):
    values = list(map(float, range(len(names)))) if values is None else values
    return harmonise(pd.Series(values, index=names, name="score"), symbol_map, source="test")


def partition(report: dict[str, int]) -> int:
    return sum(n for key, n in report.items() if key != "merged")


# repair_name


@pytest.mark.parametrize(
    ("raw", "repaired"),
    [
        ("3-Mar", "MARCH3"),
        ("03-Mar", "MARCH3"),
        ("03.Mar", "MARCH3"),
        ("Mar-03", "MARCH3"),
        (" 11-mar ", "MARCH11"),
        ("2-Sep", "SEPT2"),
        ("14-Sep", "SEPT14"),
        ("15-Sep", "SEP15"),
        ("01.Dec", "DEC1"),
        ("hsa-mir-155", "MIR155"),
        ("hsa-miR-155-5p", "MIR155"),
        ("hsa-mir-let-7a-1", "MIRLET7A1"),
        ("hsa-let-7a-1", "MIRLET7A1"),
        ("hsa-mir-1-1", "MIR1-1"),
        ("hsa-mir-199a-1", "MIR199A1"),
        ("hsa-mir-6770-1", "MIR6770-1"),
        ("CD99_X", "CD99"),
        ("  TP53\t", "TP53"),
        ("MARCHF3", "MARCHF3"),
    ],
)
def test_repair_name_undoes_known_damage(raw, repaired):
    assert repair_name(raw) == repaired


@pytest.mark.parametrize("raw", ["1-Mar", "01.Mar", "2-Mar", "Mar-02"])
def test_a_date_two_genes_turn_into_is_left_alone(raw):
    # Excel turns both MARCH1 and MARC1 into 1-Mar; no repair can tell them apart.
    assert repair_name(raw) == raw.strip()


@pytest.mark.parametrize("raw", ["5-Jan", "31-Dec", "16-Sep", "12-Mar"])
def test_dates_no_gene_turns_into_are_left_alone(raw):
    assert repair_name(raw) == raw


@pytest.mark.parametrize("raw", ["NO-TARGET", "NonTargeting", "Non-Targeting", "non-targeting_0042", "NTC",
                                 "NTC_7", "CTRL_0001", "Control"])
def test_non_targeting_controls_are_recognised(raw):
    assert is_control(raw)


@pytest.mark.parametrize("raw", ["CTRL", "NTN1", "NONO", "KNTC1", "LUC7L"])
def test_genes_that_look_like_controls_are_not_controls(raw):
    assert not is_control(raw)


# harmonise: routes


def test_an_official_symbol_stays_even_when_another_gene_lists_it_as_alias(symbol_map):
    out, report = run(["AAA"], symbol_map, [7.0])
    assert out.to_dict() == {"AAA": 7.0}
    assert report["symbol"] == 1


def test_a_unique_alias_is_renamed(symbol_map):
    out, report = run(["OLDB"], symbol_map, [2.5])
    assert out.to_dict() == {"BBB": 2.5}
    assert report["alias"] == 1


def test_an_alias_with_one_protein_coding_target_goes_there(symbol_map):
    out, report = run(["OLDC"], symbol_map, [4.0])
    assert out.to_dict() == {"CCC": 4.0}
    assert report["alias_protein_coding"] == 1


def test_ambiguous_and_unknown_names_are_dropped_and_counted(symbol_map):
    out, report = run(["AMB", "SEPT2", "1-Mar", "LOC100130370", "AAA"], symbol_map)
    assert list(out.index) == ["AAA"]
    assert report["ambiguous"] == 3
    assert report["unmapped"] == 1


def test_excel_dates_are_repaired_to_current_symbols(symbol_map):
    out, report = run(["03.Mar", "15-Sep", "2-Sep", "1-Dec"], symbol_map, [1.0, 2.0, 3.0, 4.0])
    # 2-Sep and 1-Dec were official SEPT2 and DEC1, whatever else those names alias today.
    assert out.to_dict() == {"DELEC1": 4.0, "MARCHF3": 1.0, "SELENOF": 2.0, "SEPTIN2": 3.0}
    assert report["repaired"] == 4


def test_mirbase_ids_become_mir_symbols(symbol_map):
    names = ["hsa-mir-155", "hsa-let-7a-1", "hsa-mir-1-1", "hsa-mir-199a-1", "hsa-mir-99999"]
    out, report = run(names, symbol_map, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert out.to_dict() == {"MIR1-1": 3.0, "MIR155": 1.0, "MIR199A1": 4.0, "MIRLET7A1": 2.0}
    assert report["repaired"] == 4
    assert report["unmapped"] == 1


def test_controls_are_dropped_but_the_gene_ctrl_is_kept(symbol_map):
    out, report = run(["NO-TARGET", "Non-Targeting_0001", "NTC", "CTRL"], symbol_map)
    assert list(out.index) == ["CTRL"]
    assert report["controls"] == 3


def test_the_name_na_is_a_gene_not_a_missing_value(symbol_map):
    out, _ = run(["NA"], symbol_map, [1.0])
    assert out.to_dict() == {"XK": 1.0}


# harmonise: collisions and order


def test_rows_colliding_on_one_symbol_are_averaged_on_that_symbol(symbol_map):
    out, report = run(["G1A", "GENE2", "G1B"], symbol_map, [1.0, 10.0, 3.0])
    assert out.to_dict() == {"GENE1": 2.0, "GENE2": 10.0}
    assert report["merged"] == 1


def test_repeated_raw_names_are_averaged(symbol_map):
    out, report = run(["GENE2", "GENE1", "GENE2"], symbol_map, [4.0, 1.0, 6.0])
    assert out.to_dict() == {"GENE1": 1.0, "GENE2": 5.0}
    assert report["merged"] == 1


def test_an_alias_never_lands_on_a_gene_listed_under_its_own_symbol(symbol_map):
    # A library listing both DEC1 and BHLHE40 meant two genes; BHLHE40 keeps only its own value.
    out, report = run(["DEC1", "BHLHE40", "OLDB", "BBB"], symbol_map, [100.0, 1.0, 200.0, 2.0])
    assert out.to_dict() == {"BHLHE40": 1.0, "BBB": 2.0}
    assert report["ambiguous"] == 2
    assert report["merged"] == 0


def test_dataframes_are_averaged_column_by_column(symbol_map):
    frame = pd.DataFrame({"a": [1.0, 3.0, 5.0], "b": [10.0, 30.0, 50.0]}, index=["G1A", "G1B", "OLDB"])
    out, _ = harmonise(frame, symbol_map, source="test")
    assert out.loc["GENE1"].to_dict() == {"a": 2.0, "b": 20.0}
    assert out.loc["BBB"].to_dict() == {"a": 5.0, "b": 50.0}


def test_values_follow_their_genes_whatever_the_row_order(symbol_map):
    names = ["OLDB", "AAA", "hsa-mir-155", "03.Mar", "GENE2", "OLDC", "CTRL", "XK"]
    values = np.arange(len(names), dtype=float)
    expected, _ = run(names, symbol_map, list(values))
    order = np.random.default_rng(0).permutation(len(names))
    shuffled, _ = run([names[i] for i in order], symbol_map, list(values[order]))
    pd.testing.assert_series_equal(shuffled, expected)
    assert list(expected.index) == sorted(expected.index)
    assert expected["BBB"] == 0.0 and expected["MIR155"] == 2.0 and expected["XK"] == 7.0


def test_every_raw_row_is_counted_once(symbol_map):
    names = ["AAA", "OLDB", "OLDC", "AMB", "03.Mar", "hsa-mir-155", "LOC1", "NO-TARGET", "G1A", "G1B",
             "DEC1", "BHLHE40", "1-Mar"]
    out, report = run(names, symbol_map)
    assert set(report) == set(REPORT_KEYS)
    assert partition(report) == len(names)
    assert report == {"symbol": 2, "alias": 3, "alias_protein_coding": 1, "repaired": 2, "ambiguous": 3,
                      "unmapped": 1, "controls": 1, "merged": 1}
    assert len(out) == len(names) - sum(report[k] for k in ("ambiguous", "unmapped", "controls", "merged"))


def test_non_numeric_values_are_refused_with_the_source_named(symbol_map):
    with pytest.raises(GdError, match="assay 'test'.*non-numeric"):
        harmonise(pd.Series(["x"], index=["AAA"]), symbol_map, source="test")


# the symbol map itself


def test_a_symbol_map_round_trips_through_gzip_tsv(tmp_path, symbol_map):
    path = tmp_path / "symbol_map.tsv.gz"
    pd.DataFrame(MAP_ROWS, columns=["name", "symbol", "route"]).to_csv(path, sep="\t", index=False)
    loaded = load_symbol_map(path)
    assert len(loaded) == len(MAP_ROWS)
    assert loaded.resolve("NA") == ("XK", "alias")
    assert loaded.resolve("AMB") == ("", "ambiguous")
    assert loaded.resolve("NOPE") == ("", "unmapped")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("A", "A", "renamed")], "unknown routes"),
        ([("A", "A", "symbol"), ("A", "B", "alias")], "lists 'A' twice"),
        ([("A", "", "alias")], "empty symbol"),
    ],
)
def test_a_malformed_symbol_map_is_refused(rows, message):
    with pytest.raises(GdError, match=message):
        SymbolMap.from_frame(pd.DataFrame(rows, columns=["name", "symbol", "route"]))


def test_a_missing_symbol_map_file_names_the_way_out(tmp_path):
    with pytest.raises(GdError, match="tools/org_hs_eg_db.py"):
        load_symbol_map(tmp_path / "absent.tsv.gz")
