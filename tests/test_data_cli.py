"""`gd data`: listing, inspecting and exporting datasets from the command line."""

from __future__ import annotations

import json

import pandas as pd

from tests.helpers import gd


def test_data_list_json_shows_bundled_assays_and_descriptors(capsys):
    code, stdout, _ = gd(capsys, ["data", "list", "--json"])
    rows = {(row["kind"], row["name"]): row for row in json.loads(stdout)}

    assert code == 0
    il2 = rows[("assay", "schmidt_2021_il2")]
    assert il2["source"] == "bundled" and il2["status"] == "offline" and il2["genes"] > 18_000
    assert rows[("descriptor", "gene_ontology")]["dims"] == 128
    assert rows[("assay", "simulated")]["source"] == "simulated"


def test_data_info_reports_licence_citation_and_harmonisation_routes(capsys):
    code, stdout, _ = gd(capsys, ["data", "info", "zhuang_2019_nk", "--json"])
    facts = json.loads(stdout)

    assert code == 0
    assert facts["licence"] == "CC BY 4.0" and "Zhuang" in facts["citation"]
    routes = facts["harmonisation"]
    assert routes["repaired"] > 1000  # the hsa-mir ids
    assert routes["symbol"] + routes["alias"] + routes["repaired"] > 20_000


def test_data_info_asks_which_kind_for_a_name_that_is_both(capsys):
    code, _, stderr = gd(capsys, ["data", "info", "simulated"])

    assert code == 1
    assert "--kind assay or --kind descriptor" in stderr


def test_data_info_of_an_unknown_name_suggests_a_close_one(capsys):
    code, _, stderr = gd(capsys, ["data", "info", "schmidt_2021_il3"])

    assert code == 1
    assert "did you mean 'schmidt_2021_il2'" in stderr


def test_data_export_writes_gene_then_values_matching_the_assay(tmp_path, capsys):
    from gd_plugins_builtin.genedisco import bundled_assay

    out = tmp_path / "il2.csv"
    code, _, _ = gd(capsys, ["data", "export", "schmidt_2021_il2", str(out)])
    table = pd.read_csv(out, keep_default_na=False)
    expected = bundled_assay("schmidt_2021_il2")

    assert code == 0
    assert list(table.columns) == ["gene", "value"]
    assert table["gene"].tolist() == expected.index.tolist()
    assert (table["value"] - expected.to_numpy()).abs().max() < 1e-12


def test_data_export_of_a_descriptor_passes_parameters(tmp_path, capsys):
    out = tmp_path / "sim.tsv"
    code, _, _ = gd(capsys, ["data", "export", "simulated", str(out), "--kind", "descriptor",
                             "--param", "n_genes=50", "--param", "n_features=3"])
    table = pd.read_csv(out, sep="\t")

    assert code == 0
    assert table.shape == (50, 4) and table.columns[0] == "gene"


def test_data_export_refuses_an_unknown_format_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "il2.xlsx"
    code, _, stderr = gd(capsys, ["data", "export", "schmidt_2021_il2", str(out)])

    assert code == 1
    assert "il2.xlsx" in stderr and ".csv" in stderr
    assert list(tmp_path.iterdir()) == []


def test_gd_run_with_its_defaults_completes_offline_on_bundled_data(tmp_path, capsys):
    out = tmp_path / "default"
    code, stdout, _ = gd(capsys, ["run", "--out", str(out), "--json"])
    result = json.loads(stdout)
    settings = json.loads((out / "config.json").read_text())["settings"]

    assert code == 0
    assert (settings["assay"], settings["descriptor"], settings["batch_size"], settings["cycles"]) == (
        "schmidt_2021_il2", "gene_ontology", 64, 8)
    assert [row["n_acquired"] for row in result["cycles"]] == [64 * c for c in range(1, 9)]


def test_gd_run_reads_user_tables_given_as_paths(tmp_path, capsys):
    from gd_plugins_builtin.genedisco import bundled_assay

    genes = bundled_assay("schmidt_2021_il2").index[:300]  # official symbols, so harmonising keeps them all
    descriptor = pd.DataFrame({"gene": ["P53", *genes[1:]], "f1": range(300), "f2": [v % 7 for v in range(300)]})
    descriptor.to_csv(tmp_path / "features.csv", index=False)
    pd.DataFrame({"symbol": descriptor["gene"], "score": descriptor["f1"] * 0.5, "note": "x"}).to_csv(
        tmp_path / "screen.tsv", sep="\t", index=False)
    out = tmp_path / "run"

    code, _, stderr = gd(capsys, ["run", "--descriptor", str(tmp_path / "features.csv"),
                                  "--assay", str(tmp_path / "screen.tsv"), "--param", "assay.column=score",
                                  "--model", "random_forest", "--param", "model.n_estimators=5",
                                  "--batch-size", "10", "--cycles", "2",
                                  "--out", str(out)])

    assert code == 0, stderr
    manifest = json.loads((out / "config.json").read_text())
    assert manifest["components"]["assay"]["plugin"] == "user file"
    assert manifest["data"]["n_genes"] == 300  # P53 was harmonised to TP53 in both tables


def test_gd_run_names_a_missing_user_file(tmp_path, capsys):
    code, _, stderr = gd(capsys, ["run", "--descriptor", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "r")])

    assert code == 1
    assert "absent.csv" in stderr.strip().splitlines()[-1]
