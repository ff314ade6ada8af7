"""The downloaded real screens (gd_plugins_builtin/screens.py), served byte for byte from the shared copies."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gd_core.errors import GdError
from gd_core.testing import check_assay
from gd_plugins_builtin import screens
from tests.helpers import gd
from tests.test_downloads import data_dir, one_line, server  # noqa: F401  (fixtures)

SHARED = Path("/work/shared/data/screens")
SOURCES = {
    "carnevale_2022_adenosine": "biodiscoveryagent/ground_truth_Carnevale22_Adenosine.csv",
    "steinhart_crispra_gd2_d22": "biodiscoveryagent/ground_truth_Steinhart_crispra_GD2_D22.csv",
    "scharenberg_2022_choline": "biodiscoveryagent/ground_truth_Scharenberg22.csv",
    "bda_il2": "biodiscoveryagent/ground_truth_IL2.csv",
    "bda_ifng": "biodiscoveryagent/ground_truth_IFNG.csv",
    "sanchez_2021_tau_down": "biodiscoveryagent/ground_truth_Sanchez21_down.csv",
    "shifrut_2018_fitdb": "perturbtrace/shifrut_2018_fitdb_scores.csv",
}
HIT_SOURCES = {
    "carnevale_2022_adenosine": "biodiscoveryagent/topmovers_Carnevale22_Adenosine.npy",
    "steinhart_crispra_gd2_d22": "biodiscoveryagent/topmovers_Steinhart_crispra_GD2_D22.npy",
    "scharenberg_2022_choline": "biodiscoveryagent/topmovers_Scharenberg22.npy",
    "bda_il2": "biodiscoveryagent/topmovers_IL2.npy",
    "bda_ifng": "biodiscoveryagent/topmovers_IFNG.npy",
    "sanchez_2021_tau_down": "biodiscoveryagent/topmovers_Sanchez21_down.npy",
    "shifrut_2018_fitdb": "perturbtrace/shifrut_2018_fitdb_hits.npy",
}
# name: (raw rows, official symbols after harmonisation), measured on the pinned files
COUNTS = {
    "carnevale_2022_adenosine": (18861, 18496),
    "steinhart_crispra_gd2_d22": (18797, 18682),
    "scharenberg_2022_choline": (1061, 1039),
    "bda_il2": (18939, 18825),
    "bda_ifng": (18418, 18293),
    "sanchez_2021_tau_down": (18469, 18367),
    "shifrut_2018_fitdb": (19106, 18970),
}

# The real bytes come from ../shared (beside every checkout CI tests); without them these tests must fail, not skip.
assert SHARED.is_dir(), f"{SHARED} is missing: these tests serve the real screen files from it"


@pytest.fixture
def served(server, monkeypatch):  # noqa: F811  (the imported fixture)
    """Every screen's real bytes on 127.0.0.1, in place of its raw GitHub address (same pins)."""
    for name, source in SOURCES.items():
        remote = screens.REMOTES[name]
        url = server.serve("/" + source, (SHARED / source).read_bytes())
        monkeypatch.setitem(screens.REMOTES, name, dataclasses.replace(remote, url=url))
        hits = screens.HIT_LISTS[name]
        url = server.serve("/" + HIT_SOURCES[name], (SHARED / HIT_SOURCES[name]).read_bytes())
        monkeypatch.setitem(screens.HIT_LISTS, name, dataclasses.replace(hits, url=url))
    return server


def test_pins_match_the_shared_sums_and_the_pinned_commits():
    sums = dict(line.split()[::-1] for line in (SHARED / "SHA256SUMS").read_text().splitlines())
    for name, source in SOURCES.items():
        for remote, shared in ((screens.REMOTES[name], source), (screens.HIT_LISTS[name], HIT_SOURCES[name])):
            assert remote.sha256 == sums[shared] and remote.size == (SHARED / shared).stat().st_size
            assert remote.url.startswith("https://raw.githubusercontent.com/")
    assert "19673c7371c542cfa155ffaa9047c53525f9fe2e/datasets/ground_truth_IL2.csv" in screens.REMOTES["bda_il2"].url


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_screen_downloads_verifies_and_loads_official_symbols(served, name):
    values = check_assay(screens.screen(name), name)

    raw, _ = screens.read_screen(name, SHARED / SOURCES[name])
    assert (len(raw), len(values)) == COUNTS[name]
    assert values.index.is_unique and values.index.is_monotonic_increasing
    assert np.isfinite(values.to_numpy()).all() and values.dtype == np.float64
    assert served.hits["/" + SOURCES[name]] == 1
    screens.screen(name)  # the second use reads the verified cache
    assert served.hits["/" + SOURCES[name]] == 1


def test_scharenberg_duplicate_rows_are_averaged():
    raw = pd.read_csv(SHARED / SOURCES["scharenberg_2022_choline"])
    repeated = raw[raw["Gene"].duplicated(keep=False)]
    assert len(raw) == 1061 and raw["Gene"].nunique() == 1055

    values, report = screens._harmonised("scharenberg_2022_choline", SHARED / SOURCES["scharenberg_2022_choline"])

    kept = [g for g in repeated["Gene"].unique() if g in values.index]
    assert kept, "some duplicated gene must survive harmonisation"
    for gene in kept:
        assert values[gene] == pytest.approx(repeated.loc[repeated["Gene"] == gene, "Score"].mean())
    assert report["merged"] >= 6


def test_steinhart_header_0_1_is_read_as_gene_then_score():
    raw, _ = screens.read_screen("steinhart_crispra_gd2_d22", SHARED / SOURCES["steinhart_crispra_gd2_d22"])

    assert raw["A1BG"] == pytest.approx(8.155522752952935)


def test_shifrut_excel_serials_become_the_old_symbols_then_official_ones():
    path = SHARED / SOURCES["shifrut_2018_fitdb"]
    scores = pd.read_csv(path, dtype={"action_id": str}).set_index("action_id")["score"]

    values, report = screens._harmonised("shifrut_2018_fitdb", path)

    assert report["excel_serials"] == 26
    assert not any(g.isdigit() for g in values.index)
    assert values["MARCHF2"] == pytest.approx(scores["43161"])  # 43161 = 2 March 2018 = MARCH2
    # The table lists MARCH1 both as a serial and by name: the two rows of one gene are averaged.
    assert values["MARCHF1"] == pytest.approx((scores["43160"] + scores["MARCH1"]) / 2)
    assert values["DELEC1"] == pytest.approx(scores["43435"])   # 43435 = 1 December 2018 = DEC1
    assert values["SEPTIN2"] == pytest.approx(scores["43345"])  # 43345 = 2 September 2018 = SEPT2


def test_a_changed_byte_is_refused_in_one_line(served):
    source = SOURCES["bda_il2"]
    body = bytearray((SHARED / source).read_bytes())
    body[-3] ^= 1
    served.bodies["/" + source] = bytes(body)

    with pytest.raises(GdError) as excinfo:
        screens.screen("bda_il2")

    message = one_line(excinfo)
    assert "sha256" in message or "checksum" in message


def test_import_works_offline_with_the_shared_file_and_refuses_a_wrong_one(served, tmp_path, capsys):
    wrong = tmp_path / "ground_truth_IFNG.csv"
    wrong.write_bytes((SHARED / SOURCES["bda_ifng"]).read_bytes().replace(b"A1BG", b"A1BF", 1))
    code, _, stderr = gd(capsys, ["data", "import", "bda_ifng", str(wrong)])
    assert code == 1 and "checksum" in stderr and str(wrong) in stderr and len(stderr.strip().splitlines()) == 1

    # the files as named at their source (the shared copy of the hit list is renamed: matched by content)
    code, _, stderr = gd(capsys, ["data", "import", "bda_ifng", str(SHARED / SOURCES["bda_ifng"]),
                                  str(SHARED / HIT_SOURCES["bda_ifng"])])
    assert code == 0, stderr
    info = json.loads(gd(capsys, ["data", "info", "bda_ifng", "--json"])[1])
    assert info["status"] == "cached" and info["genes"] == COUNTS["bda_ifng"][1]
    assert info["published hits"] == HIT_COUNTS["bda_ifng"][1]
    assert len(screens.screen("bda_ifng")) == COUNTS["bda_ifng"][1]
    assert served.hits["/" + SOURCES["bda_ifng"]] == 0  # nothing was downloaded
    assert served.hits["/" + HIT_SOURCES["bda_ifng"]] == 0


def test_a_file_that_is_no_source_of_the_screen_is_refused_by_name(served, tmp_path, capsys):
    other = tmp_path / "notes.csv"
    other.write_text("gene,score\nA1BG,1\n")
    code, _, stderr = gd(capsys, ["data", "import", "bda_ifng", str(other)])
    assert code == 1 and len(stderr.strip().splitlines()) == 1
    assert "'notes.csv' is not a source file of 'bda_ifng'" in stderr and "bda_topmovers_IFNG.npy" in stderr


# name: (listed, official symbols among the scores' genes), measured on the pinned files
HIT_COUNTS = {"bda_il2": (654, 652), "bda_ifng": (920, 916), "carnevale_2022_adenosine": (943, 935),
              "steinhart_crispra_gd2_d22": (149, 148), "scharenberg_2022_choline": (53, 52),
              "sanchez_2021_tau_down": (924, 922), "shifrut_2018_fitdb": (962, 955)}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_screen_carries_its_published_hit_list_as_official_symbols_of_its_own_genes(served, name):
    values = screens.screen(name)
    listed = np.load(SHARED / HIT_SOURCES[name], allow_pickle=True)
    hits = values.attrs["hit_list"]

    assert len(listed) == HIT_COUNTS[name][0]
    assert hits == sorted(set(hits))
    # all but a handful of listed names (ambiguous after harmonisation) are genes the screen scores
    assert set(hits) <= set(values.index) and len(hits) == HIT_COUNTS[name][1]
    if name != "shifrut_2018_fitdb":  # BioDiscoveryAgent's lists lie in the screen's top 5% by |y| (raw names);
        raw, _ = screens.read_screen(name, SHARED / SOURCES[name])  # IL-2's 654 are not its top 654, though
        scores = raw.abs().groupby(level=0).mean()
        top = scores.nlargest(max(int(0.05 * len(scores)), len(listed))).index
        assert len(set(top) & set(listed)) >= 0.99 * len(listed)
    assert served.hits["/" + HIT_SOURCES[name]] == 1


def test_screens_are_registered_as_downloads_and_shifrut_2018_stays_an_import(builtin_host):
    assays = builtin_host.registries.assays

    for name in SOURCES:
        entry = assays.get(name)
        assert entry.plugin == "builtin.screens" and entry.metadata["source"] == "download"
        assert entry.metadata["files"] == (screens.REMOTES[name], screens.HIT_LISTS[name])
        assert entry.metadata["licence"].startswith("MIT") and entry.metadata["citation"] and entry.summary
    assert assays.get("shifrut_2018").metadata["source"] == "import"
    assert callable(assays.get("shifrut_2018").metadata["importer"])


def test_gd_data_fetch_of_a_downloaded_screen_says_how_many_genes(served, capsys):
    code, stdout, stderr = gd(capsys, ["data", "fetch", "scharenberg_2022_choline"])
    assert code == 0, stderr
    assert "assay 'scharenberg_2022_choline' ready: 1039 genes" in stdout.replace("\n", " ")
    assert served.hits["/" + SOURCES["scharenberg_2022_choline"]] == 1


def test_a_run_on_a_downloaded_screen_works(served, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, stderr = gd(capsys, ["run", "--assay", "scharenberg_2022_choline", "--descriptor", "gene_ontology",
                                  "--model", "random_forest", "--param", "model.n_estimators=10",
                                  "--cycles", "2", "--batch-size", "16", "--out", str(out)])

    assert code == 0, stderr
    selections = pd.read_csv(out / "selections.csv")
    assert len(selections) == 32
    assert served.hits["/" + SOURCES["scharenberg_2022_choline"]] == 1


def test_the_biodiscoveryagent_protocol_counts_a_real_screens_published_hits_at_its_own_batch_size(
        served, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, stderr = gd(capsys, ["run", "--protocol", "biodiscoveryagent", "--assay", "scharenberg_2022_choline",
                                  "--descriptor", "gene_ontology", "--model", "random_forest", "--acquisition",
                                  "exploit", "--param", "model.n_estimators=10", "--out", str(out)])
    assert code == 0, stderr

    manifest = json.loads((out / "config.json").read_text())
    from gd_plugins_builtin.genedisco import gene_ontology

    covered = set(screens.screen("scharenberg_2022_choline").attrs["hit_list"]) & set(gene_ontology().index)
    settings, facts = manifest["settings"], manifest["protocol"]
    assert (settings["batch_size"], settings["cycles"], manifest["data"]["n_test"]) == (32, 5, 0)
    assert facts["hits"] == len(covered) and facts["hits_from"] == (
        f"published hit list of assay 'scharenberg_2022_choline' ({len(covered)} of 52 listed)")
    hit_ratio = pd.read_csv(out / "metrics.csv").query("metric == 'hit_ratio'")["value"].to_numpy()
    chosen = set(pd.read_csv(out / "selections.csv")["gene"])
    assert hit_ratio[-1] == pytest.approx(len(chosen & covered) / len(covered))


def test_a_protocol_sweep_over_screens_of_two_batch_sizes_is_reported_and_plotted_one_panel_per_screen(
        served, tmp_path, capsys):
    from gd_apps.plot import draw_curves
    from gd_apps.report import load_results

    out = tmp_path / "sweep"
    code, _, stderr = gd(capsys, ["sweep", "--protocol", "biodiscoveryagent", "--assay", "bda_il2", "--assay",
                                  "scharenberg_2022_choline", "--descriptor", "gene_ontology", "--model",
                                  "bayesian_linear", "--acquisition", "random", "--acquisition", "exploit",
                                  "--seeds", "1", "--cycles", "2", "--jobs", "1", "--out", str(out)])
    assert code == 0, stderr
    import matplotlib.pyplot as plt

    figure, layout = draw_curves(load_results(out), "hit_ratio")
    plt.close(figure)
    assert layout.rows == ("bda_il2", "scharenberg_2022_choline") and layout.row_batch_sizes == (128, 32)
    assert layout.columns == (None,) and layout.baselines == ("expected (random)", "ceiling (oracle)")

    # a second protocol in the same directory is refused before anything runs
    code, _, stderr = gd(capsys, ["sweep", "--protocol", "discobax", "--assay", "bda_il2", "--descriptor",
                                  "gene_ontology", "--model", "bayesian_linear", "--acquisition", "random",
                                  "--seeds", "1", "--cycles", "1", "--jobs", "1", "--out", str(out)])
    assert code == 1 and stderr.strip() == (f"error: --out {out} holds runs of protocol biodiscoveryagent, not "
                                            "discobax; one sweep directory holds one protocol, so give another --out")


def test_importing_a_screen_with_a_bad_hit_list_imports_neither_file(served, tmp_path, capsys):
    damaged = tmp_path / "topmovers_IL2.npy"
    damaged.write_bytes((SHARED / HIT_SOURCES["bda_il2"]).read_bytes()[:-10])
    code, _, stderr = gd(capsys, ["data", "import", "bda_il2", str(SHARED / SOURCES["bda_il2"]), str(damaged)])
    assert code == 1 and len(stderr.strip().splitlines()) == 1 and str(damaged) in stderr
    assert "nothing was imported" in stderr
    info = json.loads(gd(capsys, ["data", "info", "bda_il2", "--json"])[1])
    assert info["status"] != "cached" and not any(state == "cached" for state in info["files"].values())
