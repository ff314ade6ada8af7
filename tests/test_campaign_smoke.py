"""Smoke tests of the lab loop (gd_apps.campaign): a campaign fed gd run's measurements proposes gd run's batches,
and the directory keeps what it promises. The full behaviour is pinned by tests/test_campaign.py."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from gd_apps.campaign import Campaign, essential_genes_path, propose_plate, read_gene_list
from gd_core.errors import GdError
from gd_core.loop import RunConfig, execute, prepare
from gd_core.results import FileLock
from tests.helpers import gd

SMALL = {"descriptor": {"n_genes": 600, "n_features": 8}, "model": {"n_estimators": 10}}
B = 10


def _run(host, acquisition: str, cycles: int = 4, seed: int = 2):
    config = RunConfig(assay="simulated", descriptor="simulated", model="random_forest", acquisition=acquisition,
                       batch_size=B, cycles=cycles, seed=seed,
                       params={**SMALL, "assay": {"n_genes": 600}})
    plan = prepare(config, host.registries)
    return plan, execute(plan)


def _measure(path, genes, values: pd.Series, **columns):
    pd.DataFrame({"gene": list(genes), "value": [repr(float(values[g])) for g in genes], **columns}).to_csv(
        path, index=False)
    return path


@pytest.mark.parametrize("acquisition", ["topuncertain", "kmeans_data"])
def test_a_campaign_fed_what_gd_run_measured_proposes_what_gd_run_acquires(builtin_host, tmp_path, acquisition):
    plan, result = _run(builtin_host, acquisition)
    data = plan.dataset
    (tmp_path / "test.txt").write_text("\n".join(data.genes[plan.test]) + "\n")
    campaign = Campaign.init(tmp_path / "c", descriptor="simulated", model="random_forest", acquisition=acquisition,
                             batch_size=B, seed=2, params=SMALL, exclude=[tmp_path / "test.txt"], host=builtin_host,
                             on_notice=lambda line: None)
    y = pd.Series(data.y, index=data.genes)
    selections = result.selections
    for cycle in range(4):
        plate = campaign.propose()
        assert plate.attrs["round"] == cycle
        assert list(plate["gene"]) == list(selections.loc[selections["cycle"] == cycle, "gene"])
        campaign.add(_measure(tmp_path / f"round{cycle}.csv", plate["gene"], y))
    explained = "score" if acquisition == "topuncertain" else "cluster"
    assert explained in plate.columns and plate["predicted_sd"].notna().all()


def test_the_one_shot_plate_is_the_campaigns_and_measured_genes_never_come_back(builtin_host, tmp_path):
    plan, _ = _run(builtin_host, "random", cycles=2)
    y = pd.Series(plan.dataset.y, index=plan.dataset.genes)
    campaign = Campaign.init(tmp_path / "c", descriptor="simulated", model="random_forest", acquisition="topuncertain",
                             batch_size=B, params=SMALL, host=builtin_host, on_notice=lambda line: None)
    first = campaign.propose()
    campaign.add(_measure(tmp_path / "r0.csv", first["gene"], y))
    second = campaign.propose()

    once = propose_plate(pd.DataFrame({"gene": first["gene"], "value": y[first["gene"]].to_numpy()}),
                         descriptor="simulated", model="random_forest", acquisition="topuncertain", batch_size=B,
                         params=SMALL, host=builtin_host, on_notice=lambda line: None)
    assert list(once["gene"]) == list(second["gene"])
    assert not set(second["gene"]) & set(first["gene"])


def test_pending_genes_are_not_proposed_and_force_keeps_the_earlier_plate(builtin_host, tmp_path):
    campaign = Campaign.init(tmp_path / "c", descriptor="simulated", model="random_forest", acquisition="random",
                             batch_size=B, params=SMALL, host=builtin_host, on_notice=lambda line: None)
    first = campaign.propose()
    with pytest.raises(GdError, match="already has a proposal.*--force"):
        campaign.propose()
    again = campaign.propose(force=True)
    assert list(again["gene"]) == list(first["gene"])  # the same seed and inputs: the same plate
    kept = list((tmp_path / "c" / "round-0").glob("superseded-*/proposal.csv"))
    assert len(kept) == 1 and pd.read_csv(kept[0])["gene"].tolist() == list(first["gene"])

    # half of round 0 measured: round 1 is fitted on it and never proposes the other (pending) half
    y = pd.Series(np.arange(600, dtype=float), index=[f"SIM{i:07d}" for i in range(600)])
    campaign.add(_measure(tmp_path / "half.csv", first["gene"][:5], y))
    second = campaign.propose()
    assert second.attrs["round"] == 1 and not set(second["gene"]) & set(first["gene"])
    events = [e["event"] for e in campaign.history()]
    assert events == ["init", "propose", "propose", "add", "propose"]


def test_add_refuses_a_changed_value_without_replace_and_records_a_replacement(builtin_host, tmp_path):
    campaign = Campaign.init(tmp_path / "c", descriptor="simulated", model="random_forest", acquisition="random",
                             batch_size=B, params=SMALL, host=builtin_host, on_notice=lambda line: None)
    (tmp_path / "a.csv").write_text("gene,rep1,rep2\nSIM0000001,1.0,3.0\nSIM0000002,5,NA\nNOT_A_GENE,1,1\n")
    report = campaign.add(tmp_path / "a.csv")
    assert report.added == ["SIM0000001", "SIM0000002"] and report.outside == [] and report.dropped["unknown"]
    measured = campaign.measurements
    assert measured["value"].tolist() == [2.0, 5.0] and measured["n_replicates"].tolist() == [2, 1]

    (tmp_path / "b.csv").write_text("gene,value\nSIM0000001,2.0\nSIM0000002,6\n")
    before = (tmp_path / "c" / "measurements.csv").read_bytes()
    with pytest.raises(GdError, match=r"SIM0000002 5, now 6.*--replace"):
        campaign.add(tmp_path / "b.csv")
    assert (tmp_path / "c" / "measurements.csv").read_bytes() == before
    report = campaign.add(tmp_path / "b.csv", replace=True)
    assert report.unchanged == ["SIM0000001"] and [r[0] for r in report.replaced] == ["SIM0000002"]
    assert campaign.history()[-1]["replaced"][0]["before"]["value"] == 5.0


def test_an_edited_settings_file_is_recorded_at_the_next_command(builtin_host, tmp_path):
    notices = []
    campaign = Campaign.init(tmp_path / "c", descriptor="simulated", model="random_forest", acquisition="random",
                             batch_size=B, params=SMALL, host=builtin_host, on_notice=notices.append)
    settings = tmp_path / "c" / "campaign.toml"
    settings.write_text(settings.read_text().replace("batch_size = 10", "batch_size = 7"))
    assert len(campaign.propose()) == 7
    changed = [e for e in campaign.history() if e["event"] == "settings-changed"]
    assert len(changed) == 1 and changed[0]["before"]["batch_size"] == 10 and changed[0]["after"]["batch_size"] == 7
    assert any("batch_size: 10 → 7" in line for line in notices)


def test_a_second_writer_is_refused_and_a_killed_publish_is_undone(builtin_host, tmp_path):
    campaign = Campaign.init(tmp_path / "c", descriptor="simulated", model="random_forest", acquisition="random",
                             batch_size=B, params=SMALL, host=builtin_host, on_notice=lambda line: None)
    first = campaign.propose()
    lock = FileLock(tmp_path / "c" / ".lock", remove=False)
    lock.acquire()
    try:
        with pytest.raises(GdError, match=f"being written by another gd process \\(pid {os.getpid()}\\)"):
            campaign.propose(force=True)
    finally:
        lock.release()

    # killed between the two renames of --force: round-0 moved into the staging directory, not yet back in place
    staging = tmp_path / "c" / ".round-0.partial-999999-dead"
    staging.mkdir()
    (staging / "proposal.csv").write_text("gene,rank,predicted_mean,predicted_sd\nSIM0000009,1,,\n")
    os.rename(tmp_path / "c" / "round-0", staging / "superseded-20000101T000000Z")
    assert campaign.status()["proposed"].tolist() == [B]  # recovered before reading
    assert not staging.exists() and list(campaign.proposal(0)["gene"]) == list(first["gene"])


def test_the_cegv2_list_ships_with_its_licence_and_skip_essential_uses_it(builtin_host, tmp_path):
    essential = read_gene_list(essential_genes_path(), option="CEGv2")
    assert len(essential.genes) > 650 and "PCNA" in essential.genes and "AARS1" in essential.genes  # AARS renamed
    assert "MIT License" in (essential_genes_path().parent / "CEGv2.LICENSE").read_text()
    others = ["TP53", "IL2", "CD4", "GATA3", "FOXP3", "CTLA4"]
    (tmp_path / "only.txt").write_text("\n".join([*essential.genes[:20], *others]) + "\n")
    plate = propose_plate(pd.DataFrame({"gene": [], "value": []}), descriptor="gene_ontology",
                          model="random_forest", acquisition="random", batch_size=len(others),
                          only=tmp_path / "only.txt", skip_essential=True, host=builtin_host,
                          on_notice=lambda line: None)
    assert sorted(plate["gene"]) == sorted(others)


def test_the_commands_work_end_to_end(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = [a for kind, values in SMALL.items() for k, v in values.items() for a in ("--param", f"{kind}.{k}={v}")]
    code, out, err = gd(capsys, ["campaign", "init", "c", "--descriptor", "simulated", "--model", "random_forest",
                                 "--acquisition", "marginsample", "--batch-size", "5", *params])
    assert code == 0, err
    code, out, err = gd(capsys, ["campaign", "propose", "c"])
    assert code == 0, err
    plate = pd.read_csv(tmp_path / "c" / "round-0" / "proposal.csv")
    pd.DataFrame({"gene": plate["gene"], "value": np.linspace(-2, 2, len(plate))}).to_csv("r0.csv", index=False)
    assert gd(capsys, ["campaign", "add", "c", "r0.csv"])[0] == 0
    code, out, err = gd(capsys, ["campaign", "propose", "c"])
    assert code == 0 and "score" in out, err
    code, out, err = gd(capsys, ["campaign", "status", "c", "--hit-threshold", "1.5", "--json", "--plot", "s.png"])
    assert code == 0, err
    rounds = json.loads(out)
    assert [r["round"] for r in rounds] == [0, 1] and rounds[0]["hits"] == 2 and rounds[1]["pending"] == 5
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = gd(capsys, ["propose", "--measured", "r0.csv", "--descriptor", "simulated", "--model",
                                 "random_forest", "--acquisition", "marginsample", "--batch-size", "5", *params,
                                 "--out", "plate.csv"])
    assert code == 0, err
    assert pd.read_csv("plate.csv")["gene"].tolist() == pd.read_csv("c/round-1/proposal.csv")["gene"].tolist()
    code, _, err = gd(capsys, ["campaign", "add", "c", "missing.csv"])
    assert code == 1 and "missing.csv" in err and len(err.strip().splitlines()) == 1
