"""`gd data fetch` and `gd data import`: downloads through the CLI, local copies, and the Shifrut screen."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from gd_core.helpers.downloads import RemoteFile
from gd_plugins_builtin import downloaded
from tests.helpers import gd
from tests.test_downloads import ACHILLES_CSV, data_dir, server, upstream  # noqa: F401  (fixtures)

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


# --- an import is checked as a run would check it, before it enters the cache -------------------------------

def only_error_line(stderr: str) -> str:
    """The refusal, after checking that it is the one line on stderr."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


GARBAGE = {
    "text": b"garbage\n",
    "binary": bytes(range(256)) * 4,
    "empty": b"",
    "wrong table": b"gene,score\nTP53,1\nKRAS,2\n",
}


@pytest.mark.parametrize("name", ["achilles", "ccle"])
@pytest.mark.parametrize("content", list(GARBAGE), ids=str)
def test_import_refuses_a_file_the_run_would_refuse_and_caches_nothing(upstream, tmp_path, capsys, data_dir, name,
                                                                       content):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(GARBAGE[content])

    code, _, stderr = gd(capsys, ["data", "import", name, str(bad)])
    info = json.loads(gd(capsys, ["data", "info", name, "--json"])[1])

    assert code == 1
    line = only_error_line(stderr)
    remote = next(iter(downloaded.REMOTES[name].values()))
    assert str(bad) in line and remote.filename in line and remote.url in line and "nothing was imported" in line
    assert info["status"] == "needs download"
    assert not (data_dir / "downloads").exists() or not list((data_dir / "downloads").iterdir())


def test_a_bad_import_never_replaces_a_good_cached_file(upstream, tmp_path, capsys, data_dir):
    good = tmp_path / "achilles.csv"
    good.write_bytes((tmp_path / "upstream" / "achilles.csv").read_bytes())
    assert gd(capsys, ["data", "import", "achilles", str(good)])[0] == 0
    cached = data_dir / "downloads" / "achilles.csv"
    manifest = (data_dir / "manifest.json").read_bytes()
    bad = tmp_path / "other.csv"
    bad.write_text("DepMap_ID,TP53 (7157)\nACH-1,not a number\n")

    code, _, stderr = gd(capsys, ["data", "import", "achilles", str(bad)])

    assert code == 1 and "is not numeric" in only_error_line(stderr)
    assert cached.read_bytes() == good.read_bytes() and (data_dir / "manifest.json").read_bytes() == manifest
    assert json.loads(gd(capsys, ["data", "info", "achilles", "--json"])[1])["status"] == "cached"


def test_import_of_a_pinned_file_names_the_expected_file_and_its_url(upstream, tmp_path, capsys, monkeypatch):
    remote = downloaded.REMOTES["achilles"]["gene_effect"]
    pinned = RemoteFile(remote.url, remote.filename, sha256=hashlib.sha256(ACHILLES_CSV.encode()).hexdigest())
    monkeypatch.setitem(downloaded.REMOTES, "achilles", {"gene_effect": pinned})
    edited = tmp_path / "achilles.csv"
    edited.write_text(ACHILLES_CSV.replace("0.5", "0.6"))  # parses well; only the checksum tells

    code, _, stderr = gd(capsys, ["data", "import", "achilles", str(edited)])

    line = only_error_line(stderr)
    assert code == 1 and "checksum differs" in line
    assert pinned.sha256[:16] in line and pinned.filename in line and pinned.url in line


def test_string_files_are_checked_alone_and_then_as_a_pair(upstream, tmp_path, capsys):
    vectors = tmp_path / "string_vectors.txt"
    genes = tmp_path / "string_genes.txt"
    vectors.write_text("0.1\tx\n0.2\t0.3\n")
    code, _, stderr = gd(capsys, ["data", "import", "string", str(vectors)])
    assert code == 1 and "cannot import" in only_error_line(stderr)

    vectors.write_text("0.1\t0.2\t0.3\t0.4\n" * 3)  # 3 genes × 4 dimensions
    assert gd(capsys, ["data", "import", "string", str(vectors)])[0] == 0
    genes.write_text("TP53\nKRAS\n")  # two genes: neither axis of the vectors fits
    code, _, stderr = gd(capsys, ["data", "import", "string", str(genes)])

    line = only_error_line(stderr)
    assert code == 1 and "string_genes.txt" in line and "lists 2 genes" in line
    genes.write_text("TP53\nKRAS\nMYC\n")
    assert gd(capsys, ["data", "import", "string", str(genes)])[0] == 0


@pytest.mark.parametrize("case", ["directory", "one known gene", "binary", "no finite scores", "missing"])
def test_shifrut_import_refuses_what_a_run_could_not_use_and_keeps_the_earlier_import(tmp_path, capsys, case):
    good = orcs_file(tmp_path / "1107.screen.tab.txt", 1107, {"CD5": 1.0, "LCP2": 0.5})
    assert gd(capsys, ["data", "import", "shifrut_2018", str(good)])[0] == 0
    from gd_plugins_builtin.genedisco import shifrut_2018

    bad = tmp_path / "bad.screen.tab.txt"
    if case == "directory":
        bad.mkdir()
    elif case == "one known gene":
        orcs_file(bad, 1109, {"CD5": 1.0, "NOTAGENE1": 2.0})
    elif case == "binary":
        bad.write_bytes(bytes(range(256)))
    elif case == "no finite scores":
        orcs_file(bad, 1109, {"CD5": float("inf"), "LCP2": float("nan")})

    code, _, stderr = gd(capsys, ["data", "import", "shifrut_2018", str(bad)])

    assert code == 1 and str(bad) in only_error_line(stderr)
    assert shifrut_2018().to_dict() == {"CD5": 1.0, "LCP2": 0.5}
