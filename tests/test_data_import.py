"""`gd data fetch` and `gd data import`: downloads through the CLI, local copies, and the Shifrut screen."""

from __future__ import annotations

import json

import pandas as pd

from tests.helpers import gd
from tests.test_downloads import data_dir, server, upstream  # noqa: F401  (fixtures)

ORCS_HEADER = ("#SCREEN_ID\tIDENTIFIER_ID\tIDENTIFIER_TYPE\tOFFICIAL_SYMBOL\tALIASES\tORGANISM_ID\t"
               "ORGANISM_OFFICIAL\tSCORE.1\tSCORE.2\tSCORE.3\tSCORE.4\tSCORE.5\tHIT\tSOURCE\n")


def orcs_file(path, screen: int, scores: dict[str, float]):
    """A BioGRID ORCS '*.screen.tab.txt' with the documented columns (its own header spelling below)."""
    header = ORCS_HEADER.replace("OFFICIAL_SYMBOL", "Official Symbol").replace("SCORE.1", "Score.1")
    rows = [f"{screen}\t{i}\tENTREZ_GENE\t{gene}\t-\t9606\tHomo sapiens\t{score}\t-\t-\t-\t-\tNO\tBioGRID ORCS\n"
            for i, (gene, score) in enumerate(scores.items())]
    path.write_text(header + "".join(rows))
    return path


def test_fetch_downloads_every_source_file_and_reports_the_table(upstream, capsys):
    code, stdout, stderr = gd(capsys, ["data", "fetch", "string"])

    assert code == 0, stderr
    assert "string_vectors.txt" in stdout and "string_genes.txt" in stdout and "ready" in stdout
    assert upstream.hits["/vectors.txt"] == 1 and upstream.hits["/genes.txt"] == 1
    rows = {row["name"]: row for row in json.loads(gd(capsys, ["data", "list", "--json"])[1])}
    assert rows["string"]["status"] == "cached" and rows["achilles"]["status"] == "needs download"


def test_fetch_of_bundled_data_has_nothing_to_do(capsys):
    code, stdout, _ = gd(capsys, ["data", "fetch", "gene_ontology"])

    assert code == 0 and "nothing to download" in stdout


def test_import_places_a_local_copy_where_a_download_would_go(upstream, tmp_path, capsys):
    local = tmp_path / "achilles.csv"
    local.write_bytes((tmp_path / "upstream" / "achilles.csv").read_bytes())

    code, _, stderr = gd(capsys, ["data", "import", "achilles", str(local)])
    listed = {row["name"]: row for row in json.loads(gd(capsys, ["data", "list", "--json"])[1])}

    assert code == 0, stderr
    assert listed["achilles"]["status"] == "cached"
    assert upstream.hits["/achilles.csv"] == 0  # nothing was downloaded


def test_import_refuses_a_file_that_is_not_one_of_the_sources(tmp_path, upstream, capsys):
    stray = tmp_path / "other.txt"
    stray.write_text("x")

    code, _, stderr = gd(capsys, ["data", "import", "string", str(stray)])

    assert code == 1
    assert "other.txt" in stderr and "string_genes.txt" in stderr


def test_shifrut_needs_an_import_and_says_where_to_get_it(tmp_path, capsys):
    code, _, stderr = gd(capsys, ["run", "--assay", "shifrut_2018", "--out", str(tmp_path / "r")])

    assert code == 1
    assert "BioGRID ORCS" in stderr and "gd data import shifrut_2018" in stderr


def test_shifrut_import_averages_two_orcs_screens_by_gene_and_harmonises(tmp_path, capsys):
    first = orcs_file(tmp_path / "1107.screen.tab.txt", 1107, {"CD5": 1.0, "P53": -2.0, "LCP2": 0.5})
    second = orcs_file(tmp_path / "1109.screen.tab.txt", 1109, {"LCP2": 1.5, "CD5": 3.0, "P53": 0.0})

    code, stdout, stderr = gd(capsys, ["data", "import", "shifrut_2018", str(first), str(second)])
    from gd_plugins_builtin.genedisco import shifrut_2018

    assert code == 0, stderr
    assert "3 genes" in stdout
    assert shifrut_2018().to_dict() == {"CD5": 2.0, "LCP2": 1.0, "TP53": -1.0}


def test_shifrut_import_reads_a_mageck_gene_summary(tmp_path, capsys):
    summary = tmp_path / "shifrut.gene_summary.txt"
    pd.DataFrame({"id": ["CD5", "LCP2"], "num": [4, 4], "neg|lfc": [0.3, -0.7], "pos|lfc": [0.3, -0.7]}).to_csv(
        summary, sep="\t", index=False)

    code, _, stderr = gd(capsys, ["data", "import", "shifrut_2018", str(summary)])
    from gd_plugins_builtin.genedisco import shifrut_2018

    assert code == 0, stderr
    assert shifrut_2018().to_dict() == {"CD5": 0.3, "LCP2": -0.7}


def test_shifrut_import_names_a_file_of_the_wrong_kind(tmp_path, capsys):
    wrong = tmp_path / "wrong.tsv"
    wrong.write_text("gene\tscore\nCD5\t1\n")

    code, _, stderr = gd(capsys, ["data", "import", "shifrut_2018", str(wrong)])

    assert code == 1
    line = stderr.strip().splitlines()[-1]
    assert "wrong.tsv" in line and "Official Symbol" in line and "pos|lfc" in line
