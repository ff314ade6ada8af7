"""`gd data`: listing, inspecting and exporting datasets from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

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


def test_data_export_keeps_an_existing_file_unless_forced(tmp_path, capsys):
    out = tmp_path / "mine.csv"
    out.write_text("gene,value\nMYGENE,1\n")
    code, _, stderr = gd(capsys, ["data", "export", "schmidt_2021_il2", str(out)])
    assert code == 1 and stderr.startswith(f"error: {out} exists; pass --force") and stderr.count("\n") == 1
    assert out.read_text() == "gene,value\nMYGENE,1\n"
    assert gd(capsys, ["data", "export", "schmidt_2021_il2", str(out), "--force"])[0] == 0
    assert len(pd.read_csv(out)) > 10_000


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


# --- names: every kind is searched, and close names are suggested with their kind --------------------------

@pytest.mark.parametrize("command", [["info"], ["fetch"], ["export", "{out}"], ["import", "{out}"]],
                         ids=lambda c: c[0])
def test_a_misspelt_dataset_name_is_matched_across_kinds(tmp_path, capsys, command):
    argv = ["data", command[0], "gene_ontologie", *[a.format(out=tmp_path / "x.csv") for a in command[1:]]]

    code, _, stderr = gd(capsys, argv)

    assert code == 1
    assert "unknown dataset 'gene_ontologie'; did you mean 'gene_ontology' (descriptor)?" in stderr
    assert list(tmp_path.iterdir()) == []


def test_a_name_given_with_the_wrong_kind_says_which_kind_it_is(capsys):
    code, _, stderr = gd(capsys, ["data", "info", "gene_ontology", "--kind", "assay"])

    assert code == 1
    assert "'gene_ontology' is a descriptor, not an assay; pass --kind descriptor" in stderr


# --- export: one line for every place that cannot take the file, and the umask decides the mode ------------

def test_export_onto_an_existing_directory_names_it(tmp_path, capsys):
    target = tmp_path / "table.csv"
    target.mkdir()

    code, _, stderr = gd(capsys, ["data", "export", "schmidt_2021_il2", str(target)])

    assert code == 1
    assert f"cannot export to {target}: it is a directory; give a file name" in stderr
    assert list(target.iterdir()) == []


def test_export_under_a_path_whose_parent_is_a_file_names_the_file(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")

    code, _, stderr = gd(capsys, ["data", "export", "schmidt_2021_il2", str(blocker / "sub" / "il2.csv")])

    assert code == 1
    assert f"{blocker} is a file, not a directory; choose another path" in stderr
    assert blocker.read_text() == "keep me"


def test_export_into_a_read_only_directory_says_so_and_writes_nothing(tmp_path, capsys):
    from tests.test_data_cache import read_only

    folder = tmp_path / "shared"
    folder.mkdir()
    with read_only(folder):
        code, _, stderr = gd(capsys, ["data", "export", "schmidt_2021_il2", str(folder / "il2.csv")])

    line = stderr.strip().splitlines()[-1]
    assert code == 1 and f"cannot export to {folder / 'il2.csv'}" in line
    assert "nothing was written; choose a directory you can write to" in line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_exported_files_get_the_mode_the_umask_gives(tmp_path, capsys, umask, mode):
    previous = os.umask(umask)
    try:
        code, _, _ = gd(capsys, ["data", "export", "simulated", "--kind", "assay", "--param", "n_genes=20",
                                 str(tmp_path / "sim.csv")])
    finally:
        os.umask(previous)

    assert code == 0
    assert (tmp_path / "sim.csv").stat().st_mode & 0o777 == mode


def test_export_on_a_full_disk_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    import errno

    def full(self, path, *args, **kwargs):
        Path(path).write_text("gene,va")  # part of the table reached the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    code, _, stderr = gd(capsys, ["data", "export", "schmidt_2021_il2", str(tmp_path / "il2.csv")])

    assert code == 1
    assert "No space left on device; nothing was written; free disk space there" in stderr
    assert list(tmp_path.iterdir()) == []


def test_export_param_without_a_value_names_the_form_it_takes(tmp_path, capsys):
    code, _, stderr = gd(capsys, ["data", "export", "simulated", "--kind", "assay", "--param", "n_genes",
                                  str(tmp_path / "sim.csv")])

    assert code == 1
    assert "--param 'n_genes' must look like KEY=VALUE, e.g. --param n_genes=500" in stderr


def test_export_of_a_plugin_dataset_that_is_not_a_table_names_the_plugin(host_with, tmp_path):
    from gd_core import hookimpl
    from gd_apps.cli import build_app
    from gd_core.errors import GdError

    class ListAssay:
        @hookimpl
        def gd_register_assays(self, register):
            register("listed", lambda: [1.0, 2.0])

    app = build_app(host_with(ListAssay()))
    with pytest.raises(GdError) as excinfo:
        app(args=["data", "export", "listed", str(tmp_path / "x.csv")], prog_name="gd", standalone_mode=False)

    assert "assay 'listed' returned list, not a pandas table by gene; its plugin (ListAssay)" in str(excinfo.value)
