"""Campaigns, the lab loop (issue 14): a campaign fed what ``gd run`` measured proposes what ``gd run`` acquired;
proposals skip measured, excluded and pending genes; refusals come before any fit and write nothing; a killed
command leaves the directory whole; settings edits are recorded; status reports per round."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import gd

if sys.version_info >= (3, 11):
    import tomllib
else:  # gd supports 3.10, where tomli is a dependency
    import tomli as tomllib

DESCRIPTOR, ASSAY = "gene_ontology", "schmidt_2021_il2"
B = 16
FOREST = {"model": {"n_estimators": 10}}
BNN = {"model": {"max_epochs": 5, "mc_samples": 10}}
ROUND = re.compile(r"round-\d+")

# A model in a --plugin file that tells when it is fitted (GD_TEST_FIT_MARKER: a file it appends its pid to)
# and can be made slow (GD_TEST_FIT_SLEEP seconds), so tests can see "refused before any fit" and kill mid-fit.
TATTLE = '''
import os
import time

import numpy as np

from gd_core import hookimpl


class Tattle:
    """Predicts the mean of what it was fitted on; says when it is fitted; sleeps if asked."""

    def fit(self, X, y, rng):
        marker = os.environ.get("GD_TEST_FIT_MARKER")
        if marker:
            with open(marker, "a") as handle:
                handle.write(f"{os.getpid()}\\n")
        time.sleep(float(os.environ.get("GD_TEST_FIT_SLEEP", "0")))
        self.mean = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean)


@hookimpl
def gd_register_models(register):
    register("tattle", Tattle)
'''

# Runs the gd CLI with os.rename/os.replace held (sleeping) just before or just after the first rename onto a
# name matching a pattern, having created a marker file: the test SIGKILLs it there, at the worst moment.
HOLD_AT_RENAME = '''
import os
import re
import sys
import time

pattern, when, marker, argv = re.compile(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]


def holding(real):
    def rename(src, dst, *args, **kwargs):
        if not pattern.fullmatch(os.path.basename(os.fspath(dst).rstrip("/"))):
            return real(src, dst, *args, **kwargs)
        if when == "before":
            open(marker, "w").close()
            time.sleep(600)
        result = real(src, dst, *args, **kwargs)
        open(marker, "w").close()
        time.sleep(600)
        return result
    return rename


os.rename, os.replace = holding(os.rename), holding(os.replace)
from gd_apps.cli import main

main(argv)
'''


# Shared small tools


@dataclass(frozen=True)
class Benchmark:
    """What ``gd run`` did: its aligned genes, test genes, hits, screen values and the batch of every cycle."""

    genes: list[str]
    test: list[str]
    hits: set[str]
    y: dict[str, float]
    batches: list[list[str]]  # cycle → genes in the order acquired
    hits_found: list[int]  # cycle → hits acquired by the end of that cycle (from the run's hit_ratio)


@functools.cache
def benchmark(model: str, acquisition: str, params_json: str, seed: int, cycles: int, descriptor: str,
              assay: str) -> Benchmark:
    """Run the benchmark loop in this process (the code ``gd run`` runs) and keep what a replay needs."""
    from gd_core.loop import RunConfig, execute, prepare
    from gd_core.plugins import PluginHost

    config = RunConfig(assay=assay, descriptor=descriptor, model=model, acquisition=acquisition, batch_size=B,
                       cycles=cycles, seed=seed, params=json.loads(params_json))
    plan = prepare(config, PluginHost(builtins=True, entry_points=False).registries)
    result = execute(plan)
    genes = list(plan.dataset.genes)
    batches = [list(group) for _, group in result.selections.groupby("cycle", sort=True)["gene"]]
    ratio = result.metrics[result.metrics.metric == "hit_ratio"].sort_values("cycle")["value"]
    return Benchmark(genes, [genes[p] for p in plan.test], {genes[p] for p in plan.hits},
                     {g: float(v) for g, v in zip(genes, plan.dataset.y)}, batches,
                     [round(r * len(plan.hits)) for r in ratio])


def bench(model: str, acquisition: str, params: dict, seed: int, cycles: int, descriptor: str = DESCRIPTOR,
          assay: str = ASSAY) -> Benchmark:
    """``benchmark`` with its parameters as a dict."""
    return benchmark(model, acquisition, json.dumps(params, sort_keys=True), seed, cycles, descriptor, assay)


def write_genes(path: Path, genes) -> Path:
    """A gene list file: a ``gene`` header, then one symbol per line."""
    path.write_text("gene\n" + "".join(f"{g}\n" for g in genes))
    return path


def write_results(path: Path, values: dict[str, float], seed: int = 0) -> Path:
    """A lab's results file (gene, value) with its rows shuffled; values written exactly (float64 repr)."""
    genes = list(values)
    order = np.random.default_rng(seed).permutation(len(genes))
    path.write_text("gene,value\n" + "".join(f"{genes[i]},{float(values[genes[i]])!r}\n" for i in order))
    return path


def plate_genes(plate: pd.DataFrame) -> list[str]:
    """A plate's genes in rank order."""
    return list(plate.sort_values("rank")["gene"].astype(str))


def proposal(directory: Path, round_: int) -> pd.DataFrame:
    """``DIR/round-N/proposal.csv``."""
    return pd.read_csv(directory / f"round-{round_}" / "proposal.csv", keep_default_na=False,
                       na_values=[""])


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (the lock file aside: taking it writes a pid) with its bytes."""
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def rounds_on_disk(directory: Path) -> list[str]:
    """The ``round-N`` directories (temporary or superseded ones aside)."""
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and ROUND.fullmatch(p.name))


def one_line_refusal(code: int, err: str, *, notes: bool = False) -> str:
    """Check a refusal: exit 1 and stderr exactly one ``error:`` line without a traceback (after ``note:`` lines,
    if ``notes``: e.g. that campaign.toml changed); return the line."""
    lines = err.strip().splitlines()
    if notes:
        lines = [line for line in lines if not line.startswith("note: ")]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def sha256(path: Path) -> str:
    """A file's sha256, as config.json records inputs."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def history(directory: Path) -> list[dict]:
    """``DIR/history.jsonl``, one event per line."""
    return [json.loads(line) for line in (directory / "history.jsonl").read_text().splitlines() if line.strip()]


def is_event(event: dict, name: str) -> bool:
    """Whether a history event is of kind ``name`` (whatever key holds the kind)."""
    return name in {str(v) for v in event.values() if isinstance(v, str)}


def event_kinds(directory: Path) -> list[str]:
    """The kind of each event of ``DIR/history.jsonl``, oldest first."""
    kinds = ("init", "add", "propose", "settings-changed")
    return [next((k for k in kinds if is_event(e, k)), "?") for e in history(directory)]


def cegv2_path() -> Path:
    """The bundled CEGv2 list of common essential genes (a package resource of gd_core)."""
    from importlib import resources

    return Path(str(resources.files("gd_core") / "resources" / "CEGv2.txt"))


def cegv2_genes() -> set[str]:
    """The bundled CEGv2 essential genes, harmonised to current symbols."""
    from gd_core.helpers.genes import default_symbol_map, harmonise_names

    names = [line.split("\t")[0].strip() for line in cegv2_path().read_text().splitlines()[1:] if line.strip()]
    symbols, kept, _ = harmonise_names(names, default_symbol_map())
    return {s for s, k in zip(symbols, kept) if k}


def status_rows(printed) -> list[dict]:
    """The per-round rows of ``gd campaign status --json`` (a list of rows, or an object holding them)."""
    if isinstance(printed, dict):
        printed = next(v for v in printed.values() if isinstance(v, list))
    return printed


def descriptor_genes() -> list[str]:
    """The genes of the bundled descriptor, sorted."""
    from gd_core.plugins import PluginHost

    return sorted(PluginHost(builtins=True, entry_points=False).registries.of("descriptor").get(DESCRIPTOR)
                  .create().index.astype(str))


def values_for(genes, seed: int) -> dict[str, float]:
    """Made-up lab values for ``genes``."""
    return dict(zip(genes, np.random.default_rng(seed).normal(size=len(genes)).round(6).tolist()))


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 60) -> None:
    """Wait until ``path`` exists (the process reached the moment the test wants), failing if it ends first."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the process ended (exit {process.returncode}) before reaching {path.name}: "
                                 f"{process.stderr.read() if process.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the process did not reach {path.name} within {seconds} s")
        time.sleep(0.05)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL our own child process and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def held_and_killed(tmp_path: Path, pattern: str, when: str, argv: list[str]) -> None:
    """Run ``gd *argv`` in a child held at its first rename onto a name matching ``pattern`` (just ``before`` or
    just ``after`` it), and SIGKILL it there."""
    script = tmp_path / "hold.py"
    script.write_text(HOLD_AT_RENAME)
    marker = tmp_path / "at-rename"
    held = subprocess.Popen([sys.executable, str(script), pattern, when, str(marker), *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(marker, held)
    finally:
        kill(held)


def tattle_campaign(tmp_path: Path, capsys, plugin: Path, *, universe: int = 20, genes: list[str] | None = None,
                    batch: int = B) -> tuple[Path, list[str]]:
    """A campaign of the tattle model and random acquisition on ``genes`` (default: the first ``universe``
    descriptor genes)."""
    genes = descriptor_genes()[:universe] if genes is None else genes
    directory = tmp_path / "campaign"
    code, _, err = gd(capsys, ["campaign", "init", str(directory), "--descriptor", DESCRIPTOR, "--model", "tattle",
                               "--acquisition", "random", "--batch-size", str(batch), "--plugin", str(plugin),
                               "--only", str(write_genes(tmp_path / "universe.txt", genes))])
    assert code == 0, err
    return directory, genes


@pytest.fixture
def tattle(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """The tattle model's plugin file and the file its fit writes to."""
    plugin = tmp_path / "tattle.py"
    plugin.write_text(TATTLE)
    marker = tmp_path / "fitted.txt"
    monkeypatch.setenv("GD_TEST_FIT_MARKER", str(marker))
    monkeypatch.delenv("GD_TEST_FIT_SLEEP", raising=False)
    return plugin, marker


# 1. Replay equivalence: the benchmark's verdict carries over to the lab


# The simulated screen's genes (SIM0000123) are no human symbols: the campaign must keep its own genes' names.
SIMULATED = {"descriptor": {"n_genes": 600, "n_features": 8}, "assay": {"n_genes": 600}, "model": {"n_estimators": 10}}
REPLAYS = {
    "forest-topuncertain": ("random_forest", "topuncertain", FOREST, 3, 4, DESCRIPTOR, ASSAY),
    "forest-kmeans_data": ("random_forest", "kmeans_data", FOREST, 1, 3, DESCRIPTOR, ASSAY),
    "forest-random": ("random_forest", "random", FOREST, 0, 3, DESCRIPTOR, ASSAY),
    "bnn-topuncertain": ("bnn", "topuncertain", BNN, 2, 3, DESCRIPTOR, ASSAY),
    "simulated-forest-marginsample": ("random_forest", "marginsample", SIMULATED, 0, 4, "simulated", "simulated"),
}


@pytest.mark.parametrize("case", list(REPLAYS))
def test_a_campaign_fed_what_gd_run_measured_proposes_what_gd_run_acquired(case, tmp_path):
    from gd_apps.campaign import Campaign

    model, acquisition, params, seed, cycles, descriptor, assay = REPLAYS[case]
    run = bench(model, acquisition, params, seed, cycles, descriptor, assay)
    directory = tmp_path / "campaign"
    campaign = Campaign.init(directory, descriptor=descriptor, model=model, acquisition=acquisition, batch_size=B,
                             seed=seed, params={k: v for k, v in params.items() if k != "assay"},
                             only=write_genes(tmp_path / "aligned.txt", run.genes),
                             exclude=[write_genes(tmp_path / "test.txt", run.test)])

    for cycle, acquired in enumerate(run.batches):
        if cycle:  # the lab measured the last plate: give it exactly gd run's values for those genes
            lab = write_results(tmp_path / f"lab-{cycle - 1}.csv",
                                {g: run.y[g] for g in run.batches[cycle - 1]}, seed=cycle)
            campaign.add(lab)
        plate = campaign.propose()

        assert set(plate["gene"]) == set(acquired), f"round {cycle}"
        assert plate_genes(plate) == acquired, f"round {cycle}: rank order differs from gd run's selection order"
        written = proposal(directory, cycle).sort_values("rank")
        assert list(written["gene"]) == acquired
        assert list(written["rank"]) == list(range(1, B + 1))
        # the first plate is drawn before any model: no predictions; later ones carry the model's and the
        # acquisition's reasons (a top-k acquisition's scores fall with rank; k-means names each gene's centre)
        assert written["predicted_mean"].isna().all() == (cycle == 0)
        assert written["predicted_sd"].isna().all() == (cycle == 0)
        if cycle and acquisition in ("topuncertain", "marginsample"):
            assert (np.diff(written["score"].to_numpy(dtype=float)) <= 0).all()
        if cycle and acquisition == "kmeans_data":
            assert sorted(written["cluster"]) == list(range(B))


def test_the_model_is_fitted_on_each_round_in_rank_order_then_its_other_genes_in_the_order_added(tmp_path):
    from gd_apps.campaign import Campaign, propose_plate

    directory = tmp_path / "campaign"
    settings = {"descriptor": DESCRIPTOR, "model": "random_forest", "acquisition": "topuncertain", "batch_size": B,
                "seed": 6, "params": FOREST}
    campaign = Campaign.init(directory, **settings)
    plate0 = plate_genes(campaign.propose())
    others = [g for g in descriptor_genes()[200:400:40] if g not in plate0]  # measured off the plate
    values = values_for([*plate0, *others], seed=8)
    lab = tmp_path / "plate-and-three.csv"  # the plate's genes shuffled, three others among them in this order
    rows = [*(f"{g},{values[g]!r}" for g in reversed(plate0[8:])), f"{others[0]},{values[others[0]]!r}",
            *(f"{g},{values[g]!r}" for g in plate0[:8]), *(f"{g},{values[g]!r}" for g in others[1:3])]
    lab.write_text("gene,value\n" + "\n".join(rows) + "\n")
    campaign.add(lab)
    later = tmp_path / "two-more.csv"
    later.write_text("gene,value\n" + "".join(f"{g},{values[g]!r}\n" for g in others[3:5]))
    campaign.add(later, round=0)
    plate1 = plate_genes(campaign.propose())

    def one_shot(order):
        return plate_genes(propose_plate(pd.DataFrame({"gene": order, "value": [values[g] for g in order]}),
                                         **settings, cycle=0))

    assert one_shot([*plate0, *others]) == plate1
    assert one_shot([*others, *plate0]) != plate1  # the order matters: the comparison above can fail


# 6 (and 1 through the CLI). A simulated lab: five rounds through the commands, the test playing the lab


LAB = ("random_forest", "softuncertain", FOREST, 5, 5)


def test_five_simulated_lab_rounds_through_the_cli_find_the_hits_gd_run_finds(tmp_path, capsys):
    model, acquisition, params, seed, cycles = LAB
    run_dir = tmp_path / "run"
    code, _, err = gd(capsys, ["run", "--assay", ASSAY, "--descriptor", DESCRIPTOR, "--model", model,
                               "--acquisition", acquisition, "--batch-size", str(B), "--cycles", str(cycles),
                               "--seed", str(seed), "--param", "model.n_estimators=10", "--out", str(run_dir)])
    assert code == 0, err
    selections = pd.read_csv(run_dir / "selections.csv")
    batches = [list(g) for _, g in selections.groupby("cycle", sort=True)["gene"]]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    run = bench(model, acquisition, params, seed, cycles)  # the same run in process: its split, hits and values
    assert batches == run.batches
    found_by_gd_run = [round(r * len(run.hits))
                       for r in metrics[metrics.metric == "hit_ratio"].sort_values("cycle")["value"]]

    directory = tmp_path / "lab"
    code, _, err = gd(capsys, ["campaign", "init", str(directory), "--descriptor", DESCRIPTOR, "--model", model,
                               "--acquisition", acquisition, "--batch-size", str(B), "--seed", str(seed),
                               "--param", "model.n_estimators=10",
                               "--only", str(write_genes(tmp_path / "aligned.txt", run.genes)),
                               "--exclude", str(write_genes(tmp_path / "test.txt", run.test))])
    assert code == 0, err
    measured: set[str] = set()
    found = []
    for round_ in range(cycles):
        code, _, err = gd(capsys, ["campaign", "propose", str(directory)])
        assert code == 0, err
        plate = plate_genes(proposal(directory, round_))
        assert plate == batches[round_], f"round {round_}"
        lab = write_results(tmp_path / f"plate-{round_}-results.csv", {g: run.y[g] for g in plate}, seed=round_)
        code, _, err = gd(capsys, ["campaign", "add", str(directory), str(lab)])
        assert code == 0, err
        measured |= set(plate)
        found.append(len(measured & run.hits))

    assert found == found_by_gd_run == run.hits_found
    assert found[-1] > 0  # the comparison means something only if some hits were found
    # the campaign's features are gd run's, bit for bit, and its plates record that
    ran = json.loads((run_dir / "config.json").read_text())["data"]
    for round_ in range(cycles):
        config = (directory / f"round-{round_}" / "config.json").read_text()
        assert ran["X_sha256"] in config and ran["genes_sha256"] in config

    # status: one row per round, everything measured; hits by the run's own threshold (the weakest hit's |y|)
    threshold = min(abs(run.y[g]) for g in run.hits)
    code, out, err = gd(capsys, ["campaign", "status", str(directory), "--json",
                                 "--hit-threshold", repr(threshold)])
    assert code == 0, err
    rows = status_rows(json.loads(out))
    assert [r["round"] for r in rows] == list(range(cycles))
    assert [r["proposed"] for r in rows] == [B] * cycles
    assert [r["measured"] for r in rows] == [B] * cycles
    assert [r["pending"] for r in rows] == [0] * cycles
    per_round = [len(set(batches[r]) & run.hits) for r in range(cycles)]
    assert [r["hits"] for r in rows] == per_round


# 2. Proposals never hold a measured, excluded, essential or pending gene; the one-shot form agrees


def test_proposals_never_hold_measured_excluded_essential_or_pending_genes(tmp_path, capsys):
    from gd_apps.campaign import Campaign, propose_plate

    essential = cegv2_genes()
    genes = descriptor_genes()
    universe = sorted(set([g for g in genes if g in essential][:40] + [g for g in genes if g not in essential][:110]))
    only = write_genes(tmp_path / "universe.txt", universe)
    settings = {"descriptor": DESCRIPTOR, "model": "random_forest", "acquisition": "topuncertain", "batch_size": 32,
                "params": FOREST, "only": only}
    # Without exclusions the first plate holds essential genes, so skipping them below is a real test.
    free = plate_genes(Campaign.init(tmp_path / "free", **settings).propose())
    assert set(free) & essential
    first_choice = write_genes(tmp_path / "known.txt", [g for g in free if g not in essential][:10])

    directory = tmp_path / "campaign"
    campaign = Campaign.init(directory, **settings, exclude=[first_choice], skip_essential=True)
    plate0 = plate_genes(campaign.propose())
    assert not set(plate0) & (essential | set(first_choice.read_text().split()))
    measured = values_for(plate0[:20], seed=1)
    pending = plate0[20:]
    elsewhere = [g for g in universe if g not in essential and g not in plate0][:5]  # measured off-plate
    measured.update(values_for(elsewhere, seed=2))
    campaign.add(write_results(tmp_path / "results.csv", measured))

    # the genes the campaign would choose next, excluded for this one proposal
    would = propose_plate(pd.DataFrame({"gene": list(measured), "value": list(measured.values())}),
                          descriptor=DESCRIPTOR, model="random_forest", acquisition="topuncertain", batch_size=32,
                          cycle=0, params=FOREST, only=only, skip_essential=True,
                          exclude=[first_choice, write_genes(tmp_path / "pending.txt", pending)])
    now_not = write_genes(tmp_path / "not-now.txt", plate_genes(would)[:8])
    plate1 = plate_genes(campaign.propose(exclude=[now_not]))

    forbidden = set(measured) | set(pending) | essential | set(first_choice.read_text().split()[1:]) \
        | set(now_not.read_text().split()[1:])
    assert len(plate1) == len(set(plate1)) == 32
    assert not set(plate1) & forbidden
    assert set(plate1) <= set(universe)
    config = (directory / "round-1" / "config.json").read_text()
    for source in (directory / "measurements.csv", first_choice, now_not):  # every input's checksum is recorded
        assert sha256(source) in config, source.name

    # half of round 1 measured; --only for one proposal narrows the choice to that list, minus what is unavailable
    campaign.add(write_results(tmp_path / "results-1.csv", values_for(plate1[:16], seed=3)))
    narrow = universe[::3]
    # (the last proposal's own --exclude list held for it only)
    candidates = set(narrow) - (forbidden - set(now_not.read_text().split()[1:])) - set(plate1)
    assert len(candidates) > 4
    plate2 = plate_genes(campaign.propose(batch_size=4, only=write_genes(tmp_path / "narrow.txt", narrow)))
    assert len(plate2) == 4 and set(plate2) <= candidates


def test_the_bundled_cegv2_list_keeps_its_provenance():
    text = cegv2_path().read_text()
    licence = cegv2_path().with_name("CEGv2.LICENSE").read_text()
    data_md = (Path(__file__).parents[1] / "DATA.md").read_text()

    assert text.splitlines()[0].split("\t") == ["GENE", "HGNC_ID", "ENTREZ_ID"] and len(text.splitlines()) == 685
    assert licence.startswith("MIT License") and "snap-stanford" in licence
    assert "19673c7371c542cfa155ffaa9047c53525f9fe2e" in data_md  # the BioDiscoveryAgent commit it came from
    digest = sha256(cegv2_path())
    assert f"`{digest[:8]}…{digest[-5:]}`" in data_md  # the checksum DATA.md records is the file's
    assert len(cegv2_genes()) > 650


def test_gd_propose_one_shot_equals_the_campaigns_next_plate(tmp_path, capsys):
    from gd_apps.campaign import Campaign, propose_plate

    directory = tmp_path / "campaign"
    known = write_genes(tmp_path / "known.txt", descriptor_genes()[100:140])
    campaign = Campaign.init(directory, descriptor=DESCRIPTOR, model="random_forest", acquisition="topuncertain",
                             batch_size=B, seed=4, params=FOREST, exclude=[known], skip_essential=True)
    plate0 = plate_genes(campaign.propose())
    measured = values_for(plate0, seed=3)
    campaign.add(write_results(tmp_path / "results.csv", measured))
    plate1 = plate_genes(campaign.propose())

    # the lab's file, in the order the campaign fits on (round 0's rank order)
    lab = tmp_path / "measured.csv"
    lab.write_text("gene,value\n" + "".join(f"{g},{measured[g]!r}\n" for g in plate0))
    out = tmp_path / "plate.csv"
    code, _, err = gd(capsys, ["propose", "--measured", str(lab), "--descriptor", DESCRIPTOR, "--model",
                               "random_forest", "--acquisition", "topuncertain", "--batch-size", str(B), "--seed", "4",
                               "--param", "model.n_estimators=10", "--exclude", str(known), "--skip-essential",
                               "--out", str(out)])
    assert code == 0, err
    one_shot = pd.read_csv(out)
    assert plate_genes(one_shot) == plate1
    python = propose_plate(pd.DataFrame({"gene": plate0, "value": [measured[g] for g in plate0]}),
                           descriptor=DESCRIPTOR, model="random_forest", acquisition="topuncertain", batch_size=B,
                           seed=4, params=FOREST, exclude=[known], skip_essential=True)
    assert plate_genes(python) == plate1
    for column in ("predicted_mean", "predicted_sd", "score"):  # random_forest samples; topuncertain scores
        assert np.allclose(one_shot.sort_values("rank")[column].to_numpy(dtype=float),
                           proposal(directory, 1).sort_values("rank")[column].to_numpy(dtype=float)), column
    assert proposal(directory, 1)["predicted_sd"].notna().all()

    # proposed again (--force) from the same inputs: the same plate, byte for byte; the first one kept
    first = (directory / "round-1" / "proposal.csv").read_bytes()
    campaign.propose(force=True)
    assert (directory / "round-1" / "proposal.csv").read_bytes() == first
    assert [p.read_bytes() for p in (directory / "round-1").glob("superseded-*/proposal.csv")] == [first]


def test_gd_propose_on_a_campaigns_measurements_csv_equals_its_next_plate(tmp_path, capsys):
    """``--measured`` says a campaign's measurements.csv works: fed it, the one-shot proposes the campaign's plate,
    however the lab ordered its results file."""
    from gd_apps.campaign import Campaign

    directory = tmp_path / "campaign"
    campaign = Campaign.init(directory, descriptor=DESCRIPTOR, model="random_forest", acquisition="topuncertain",
                             batch_size=B, seed=4, params=FOREST)
    plate0 = plate_genes(campaign.propose())
    campaign.add(write_results(tmp_path / "results.csv", values_for(plate0, seed=3), seed=9))  # rows shuffled
    plate1 = plate_genes(campaign.propose())

    out = tmp_path / "plate.csv"
    code, _, err = gd(capsys, ["propose", "--measured", str(directory / "measurements.csv"), "--descriptor",
                               DESCRIPTOR, "--model", "random_forest", "--acquisition", "topuncertain",
                               "--batch-size", str(B), "--seed", "4", "--param", "model.n_estimators=10",
                               "--out", str(out)])

    assert code == 0, err
    assert plate_genes(pd.read_csv(out)) == plate1


# 3. Refusals: one line, exit 1, before any model is fitted, nothing written


INIT_REFUSALS = {
    "unknown model": (["--model", "forest"], "'forest'"),
    "unknown acquisition": (["--acquisition", "topuncertian"], "'topuncertian'"),
    "unknown descriptor": (["--descriptor", "gene_ontolgy"], "'gene_ontolgy'"),
    "bad param": (["--param", "model.n_trees=5"], "n_trees"),
    "param of unknown kind": (["--param", "modle.n_estimators=5"], "'modle'"),
    "incompatible pair": (["--acquisition", "badge"], "badge"),
    "zero batch size": (["--batch-size", "0"], "batch-size"),
    "negative seed": (["--seed", "-1"], "seed"),
    "missing exclude file": (["--exclude", "no-such-list.txt"], "no-such-list.txt"),
    "plate larger than the genes": (["--only", "five.txt"], "--batch-size 16"),
}


@pytest.mark.parametrize("case", list(INIT_REFUSALS))
def test_campaign_init_refuses_bad_settings_in_one_line_and_writes_nothing(case, tmp_path, capsys):
    extra, culprit = INIT_REFUSALS[case]
    directory = tmp_path / "campaign"
    settings = {"--descriptor": DESCRIPTOR, "--model": "random_forest", "--acquisition": "topuncertain",
                "--batch-size": str(B)}
    for option, value in zip(extra[::2], extra[1::2]):
        settings[option] = value if option not in ("--exclude", "--only") else str(tmp_path / value)
    write_genes(tmp_path / "five.txt", ["TP53", "MYC", "KRAS", "EGFR", "PTEN"])
    argv = ["campaign", "init", str(directory), *[a for item in settings.items() for a in item]]

    line = one_line_refusal(*gd(capsys, argv)[::2])

    assert culprit in line
    assert not directory.exists() or not any(directory.iterdir())


def test_propose_refuses_before_fitting_and_writes_nothing(tmp_path, capsys, tattle):
    plugin, fitted = tattle
    directory, genes = tattle_campaign(tmp_path, capsys, plugin)
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    plate0 = plate_genes(proposal(directory, 0))
    assert gd(capsys, ["campaign", "add", str(directory),
                       str(write_results(tmp_path / "r0.csv", values_for(plate0, 0)))])[0] == 0
    before = snapshot(directory)

    # 20 genes, 16 measured: 4 left for a plate of 16
    line = one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory)])[::2])
    assert "16" in line and "4" in line
    one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory), "--batch-size", "0"])[::2])
    one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory), "--batch-size", "5"])[::2])
    one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory), "--exclude",
                                  str(tmp_path / "missing.txt")])[::2])
    assert snapshot(directory) == before
    assert not fitted.exists(), "a model was fitted before the refusal"

    # settings edited into something no run could use: refused at the next command, still before any fit
    toml = directory / "campaign.toml"
    original = toml.read_text()
    for old, new, culprit in [("tattle", "tatle", "tatle"), ("random", "topuncertain", "topuncertain")]:
        toml.write_text(re.sub(rf'(?m)^(\w+\s*=\s*)"{old}"', rf'\1"{new}"', original, count=1))
        assert tomllib.loads(toml.read_text()) != tomllib.loads(original)
        line = one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory), "--batch-size", "2"])[::2],
                                notes=True)
        assert culprit in line
        assert rounds_on_disk(directory) == ["round-0"]
        assert (directory / "measurements.csv").read_bytes() == before["measurements.csv"]
        assert not fitted.exists()
    toml.write_text(original)
    assert gd(capsys, ["campaign", "propose", str(directory), "--batch-size", "4"])[0] == 0
    assert fitted.exists()  # the tattle model does say when it is fitted
    assert sorted(plate_genes(proposal(directory, 1))) == sorted(set(genes) - set(plate0))


ONE_SHOT_REFUSALS = {
    "unknown acquisition": (["--acquisition", "randon"], "'randon'"),
    "incompatible pair": (["--acquisition", "topuncertain"], "topuncertain"),
    "bad param": (["--param", "model.depth=3"], "depth"),
    "plate larger than the genes left": (["--batch-size", "5"], "--batch-size 5"),
    "missing measured file": (["--measured", "nothing.csv"], "nothing.csv"),
}


@pytest.mark.parametrize("case", list(ONE_SHOT_REFUSALS))
def test_gd_propose_refuses_before_fitting_and_writes_no_plate(case, tmp_path, capsys, tattle):
    plugin, fitted = tattle
    genes = descriptor_genes()[:20]
    measured = write_results(tmp_path / "measured.csv", values_for(genes[:16], 0))
    settings = {"--measured": str(measured), "--descriptor": DESCRIPTOR, "--model": "tattle",
                "--acquisition": "random", "--batch-size": "4", "--plugin": str(plugin),
                "--only": str(write_genes(tmp_path / "twenty.txt", genes)), "--out": str(tmp_path / "plate.csv")}
    assert gd(capsys, ["propose", *[a for item in settings.items() for a in item]])[0] == 0  # as given: fine
    assert fitted.exists()
    fitted.unlink()
    extra, culprit = ONE_SHOT_REFUSALS[case]
    settings["--out"] = str(tmp_path / "refused.csv")
    for option, value in zip(extra[::2], extra[1::2]):
        settings[option] = value if option != "--measured" else str(tmp_path / value)

    line = one_line_refusal(*gd(capsys, ["propose", *[a for item in settings.items() for a in item]])[::2])

    assert culprit in line
    assert not (tmp_path / "refused.csv").exists()
    assert not fitted.exists(), "a model was fitted before the refusal"


def test_add_reports_unknown_and_renamed_genes_and_averages_replicates(tmp_path, capsys, tattle):
    plugin, _ = tattle
    # SEPT7 is the old name of SEPTIN7, one of the campaign's genes
    directory, genes = tattle_campaign(tmp_path, capsys, plugin, genes=[*descriptor_genes()[:40], "SEPTIN7"])
    universe = set(genes)
    outside = next(g for g in ("TP53", "ERBB2", "MYC", "KRAS") if g not in universe)
    a, b = genes[0], genes[1]
    results = tmp_path / "results.tsv"
    results.write_text("gene\trep1\trep2\trep3\n"
                       f"{a}\t1.0\t2.0\t\n"
                       f"{b}\t3.0\t3.0\t3.0\n"
                       "SEPT7\t0.5\t0.25\t0.75\n"
                       f"{outside}\t7.0\t7.0\t7.0\n"
                       "NOT_A_GENE_X\t1.0\t1.0\t1.0\n")

    code, out, err = gd(capsys, ["campaign", "add", str(directory), str(results)])

    assert code == 0, err
    said = out + err
    assert "SEPT7" in said and "SEPTIN7" in said  # the renaming, with its example
    assert outside in said  # outside the campaign's genes: reported, not added
    assert "NOT_A_GENE_X" in said  # dropped by harmonisation: reported
    table = pd.read_csv(directory / "measurements.csv").set_index("gene")
    assert set(table.index) == {a, b, "SEPTIN7"}
    assert (table.loc[a, "value"], table.loc[a, "n_replicates"]) == (1.5, 2)
    assert (table.loc[b, "value"], table.loc[b, "n_replicates"]) == (3.0, 3)
    assert (table.loc["SEPTIN7", "value"], table.loc["SEPTIN7", "n_replicates"]) == (0.5, 3)
    assert set(table.columns) >= {"value", "n_replicates", "round", "added", "source"}
    assert table.loc[a, "source"] == "results.tsv"

    # a gene measured again with another value: refused, naming it, nothing written
    before = snapshot(directory)
    again = tmp_path / "again.csv"
    again.write_text(f"gene,value\n{a},9.0\n{b},3.0\n")
    line = one_line_refusal(*gd(capsys, ["campaign", "add", str(directory), str(again)])[::2])
    assert a in line and "--replace" in line
    assert snapshot(directory) == before

    # the same value again: a no-op, said so
    same = tmp_path / "same.csv"
    same.write_text(f"gene,value\n{b},3.0\n")
    code, out, err = gd(capsys, ["campaign", "add", str(directory), str(same)])
    assert code == 0, err
    assert (directory / "measurements.csv").read_bytes() == before["measurements.csv"]
    assert re.search(r"no-op|unchanged|already|same value", out + err, re.IGNORECASE), out + err

    # --replace: the new value, with the old and new kept in the history
    code, _, err = gd(capsys, ["campaign", "add", str(directory), str(again), "--replace"])
    assert code == 0, err
    assert pd.read_csv(directory / "measurements.csv").set_index("gene").loc[a, "value"] == 9.0
    replaced = [e for e in history(directory) if a in json.dumps(e) and "9.0" in json.dumps(e)]
    assert replaced and "1.5" in json.dumps(replaced[-1])


# 4. A proposal is never overwritten; one writer at a time; a killed command leaves the campaign whole


def test_a_proposal_is_never_overwritten_and_force_keeps_the_earlier_one(tmp_path, capsys, tattle):
    plugin, _ = tattle
    directory, _ = tattle_campaign(tmp_path, capsys, plugin)
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    first = (directory / "round-0" / "proposal.csv").read_bytes()
    before = snapshot(directory)

    line = one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory)])[::2])
    assert "--force" in line
    assert snapshot(directory) == before

    code, _, err = gd(capsys, ["campaign", "propose", str(directory), "--force"])
    assert code == 0, err
    kept = list((directory / "round-0").glob("superseded-*/proposal.csv"))
    assert len(kept) == 1 and kept[0].read_bytes() == first
    assert (directory / "round-0" / "proposal.csv").read_bytes() == first  # same inputs, same plate
    assert rounds_on_disk(directory) == ["round-0"]


def test_a_second_writer_is_turned_away_and_a_kill_mid_fit_leaves_no_round(tmp_path, capsys, tattle):
    plugin, fitted = tattle
    directory, genes = tattle_campaign(tmp_path, capsys, plugin, universe=60)
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    plate0 = plate_genes(proposal(directory, 0))
    assert gd(capsys, ["campaign", "add", str(directory),
                       str(write_results(tmp_path / "r0.csv", values_for(plate0, 0)))])[0] == 0
    before = snapshot(directory)

    slow = subprocess.Popen([str(Path(sys.executable).parent / "gd"), "campaign", "propose", str(directory)],
                            env={**os.environ, "GD_TEST_FIT_SLEEP": "600"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(fitted, slow)
        later = write_results(tmp_path / "later.csv", values_for(genes[-3:], 5))
        line = one_line_refusal(*gd(capsys, ["campaign", "add", str(directory), str(later)])[::2])
        assert str(slow.pid) in line or "another" in line
        one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory)])[::2])
        assert snapshot(directory) == before
    finally:
        kill(slow)

    assert rounds_on_disk(directory) == ["round-0"]
    assert (directory / "measurements.csv").read_bytes() == before["measurements.csv"]
    code, _, err = gd(capsys, ["campaign", "propose", str(directory)])
    assert code == 0, err
    plate1 = plate_genes(proposal(directory, 1))
    assert len(plate1) == B and not set(plate1) & set(plate0)


@pytest.mark.parametrize(("command", "when"), [("add", "before"), ("add", "after"), ("propose", "before"),
                                                ("propose", "after")])
def test_a_command_killed_at_its_rename_leaves_the_old_or_the_new_state(command, when, tmp_path, capsys, tattle):
    plugin, _ = tattle
    directory, _ = tattle_campaign(tmp_path, capsys, plugin, universe=60)
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    plate0 = plate_genes(proposal(directory, 0))
    first, rest = plate0[:10], plate0[10:]
    assert gd(capsys, ["campaign", "add", str(directory),
                       str(write_results(tmp_path / "r0.csv", values_for(first, 0)))])[0] == 0
    old = snapshot(directory)
    late = write_results(tmp_path / "late.csv", values_for(rest, 1))
    pattern = r"measurements\.csv" if command == "add" else r"round-\d+"
    argv = ["campaign", "add", str(directory), str(late)] if command == "add" else \
        ["campaign", "propose", str(directory)]

    held_and_killed(tmp_path, pattern, when, argv)

    measurements = pd.read_csv(directory / "measurements.csv")
    if command == "add":
        assert rounds_on_disk(directory) == ["round-0"]
        if when == "before":
            assert (directory / "measurements.csv").read_bytes() == old["measurements.csv"]
        else:
            assert sorted(measurements["gene"]) == sorted(plate0)  # the whole new table
    else:
        assert (directory / "measurements.csv").read_bytes() == old["measurements.csv"]
        if when == "before":
            assert rounds_on_disk(directory) == ["round-0"]
        else:
            assert rounds_on_disk(directory) == ["round-0", "round-1"]
            assert len(proposal(directory, 1)) == B
            json.loads((directory / "round-1" / "config.json").read_text())

    # the campaign carries on: the interrupted command, run again, completes
    code, _, err = gd(capsys, argv)
    if command == "propose" and when == "after":
        one_line_refusal(code, err)  # round 1 was proposed before the kill: it is not overwritten
    else:
        assert code == 0, err
    measurements = pd.read_csv(directory / "measurements.csv")
    assert len(measurements) == measurements["gene"].nunique()
    assert set(measurements["gene"]) == set(plate0 if command == "add" else first)


def test_a_forced_proposal_killed_between_its_renames_gets_the_earlier_plate_back(tmp_path, capsys, tattle):
    plugin, _ = tattle
    directory, _ = tattle_campaign(tmp_path, capsys, plugin, universe=60)
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    first = (directory / "round-0" / "proposal.csv").read_bytes()

    # killed when the earlier plate was moved aside and the new one not yet in its place
    held_and_killed(tmp_path, r"superseded-.*", "after", ["campaign", "propose", str(directory), "--force"])

    code, out, err = gd(capsys, ["campaign", "status", str(directory), "--json"])
    assert code == 0, err
    assert [(r["round"], r["proposed"]) for r in status_rows(json.loads(out))] == [(0, B)]
    assert (directory / "round-0" / "proposal.csv").read_bytes() == first
    assert not list((directory / "round-0").glob("superseded-*"))
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".round-")]
    code, _, err = gd(capsys, ["campaign", "propose", str(directory), "--force"])
    assert code == 0, err
    assert [p.read_bytes() for p in (directory / "round-0").glob("superseded-*/proposal.csv")] == [first]


def test_an_init_killed_before_its_settings_are_written_can_be_run_again(tmp_path, capsys, tattle):
    plugin, _ = tattle
    directory = tmp_path / "campaign"
    argv = ["campaign", "init", str(directory), "--descriptor", DESCRIPTOR, "--model", "tattle", "--acquisition",
            "random", "--batch-size", str(B), "--plugin", str(plugin)]

    held_and_killed(tmp_path, r"campaign\.toml", "before", argv)

    line = one_line_refusal(*gd(capsys, ["campaign", "propose", str(directory)])[::2])
    assert "not a gd campaign" in line or "no such campaign" in line
    code, _, err = gd(capsys, argv)
    assert code == 0, err
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    assert event_kinds(directory) == ["init", "propose"]


# 5. Settings edited between rounds are recorded and used


def test_settings_edited_between_rounds_are_recorded_and_used(tmp_path, capsys, tattle):
    plugin, _ = tattle
    directory, _ = tattle_campaign(tmp_path, capsys, plugin, universe=60)
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    plate0 = plate_genes(proposal(directory, 0))
    assert gd(capsys, ["campaign", "add", str(directory),
                       str(write_results(tmp_path / "r0.csv", values_for(plate0, 0)))])[0] == 0
    assert not [e for e in history(directory) if is_event(e, "settings-changed")]

    toml = directory / "campaign.toml"
    edited = re.sub(r"(?m)^batch_size\s*=\s*16\b", "batch_size = 12", toml.read_text())
    edited = re.sub(r"(?m)^seed\s*=\s*0\b", "seed = 7", edited)
    assert tomllib.loads(edited)["batch_size"] == 12 and tomllib.loads(edited)["seed"] == 7
    toml.write_text(edited)
    code, _, err = gd(capsys, ["campaign", "propose", str(directory)])
    assert code == 0, err
    code, _, err = gd(capsys, ["campaign", "status", str(directory)])  # a later command records it no second time
    assert code == 0, err

    changes = [e for e in history(directory) if is_event(e, "settings-changed")]
    assert len(changes) == 1
    assert changes[0]["before"]["batch_size"] == 16 and changes[0]["after"]["batch_size"] == 12
    assert changes[0]["before"]["seed"] == 0 and changes[0]["after"]["seed"] == 7
    plate1 = plate_genes(proposal(directory, 1))
    assert len(plate1) == 12 and not set(plate1) & set(plate0)
    # used, not just recorded: the plate is the one these settings give (seed 7 draws its own random plate)
    from gd_apps.campaign import propose_plate

    values0 = values_for(plate0, 0)
    expected = propose_plate(pd.DataFrame({"gene": plate0, "value": [values0[g] for g in plate0]}),
                             descriptor=DESCRIPTOR, model="tattle", acquisition="random", batch_size=12, seed=7,
                             cycle=0, only=tmp_path / "universe.txt", plugins=[plugin])
    assert plate_genes(expected) == plate1
    unedited = propose_plate(pd.DataFrame({"gene": plate0, "value": [values0[g] for g in plate0]}),
                             descriptor=DESCRIPTOR, model="tattle", acquisition="random", batch_size=12, seed=0,
                             cycle=0, only=tmp_path / "universe.txt", plugins=[plugin])
    assert plate_genes(unedited) != plate1
    config = json.loads((directory / "round-1" / "config.json").read_text())
    assert '"batch_size": 12' in json.dumps(config) and '"seed": 7' in json.dumps(config)
    assert event_kinds(directory) == ["init", "propose", "add", "settings-changed", "propose"]


# 7. status: a row per round, JSON, and a plot


def test_status_counts_proposed_measured_and_pending_per_round_and_plots(tmp_path, capsys, tattle):
    from gd_apps.campaign import Campaign

    plugin, _ = tattle
    directory, _ = tattle_campaign(tmp_path, capsys, plugin, universe=60)
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    plate0 = plate_genes(proposal(directory, 0))
    values0 = values_for(plate0, 0)
    assert gd(capsys, ["campaign", "add", str(directory), str(write_results(tmp_path / "r0.csv", values0))])[0] == 0
    assert gd(capsys, ["campaign", "propose", str(directory)])[0] == 0
    plate1 = plate_genes(proposal(directory, 1))
    values1 = values_for(plate1[:10], 1)
    assert gd(capsys, ["campaign", "add", str(directory), str(write_results(tmp_path / "r1.csv", values1))])[0] == 0

    status = Campaign(directory).status()
    assert list(status["round"]) == [0, 1]
    assert list(status["proposed"]) == [B, B]
    assert list(status["measured"]) == [B, 10]
    assert list(status["pending"]) == [0, B - 10]
    for row, values in zip(status.to_dict("records"), (values0, values1)):  # the measured values' distribution
        measured = np.array(list(values.values()))
        assert row["value_mean"] == pytest.approx(measured.mean())
        assert row["value_median"] == pytest.approx(np.median(measured))
        assert (row["value_min"], row["value_max"]) == (pytest.approx(measured.min()), pytest.approx(measured.max()))

    code, out, err = gd(capsys, ["campaign", "status", str(directory), "--json"])
    assert code == 0, err
    rows = status_rows(json.loads(out))
    assert [(r["round"], r["proposed"], r["measured"], r["pending"]) for r in rows] == [(0, B, B, 0), (1, B, 10, 6)]

    code, out, err = gd(capsys, ["campaign", "status", str(directory)])
    assert code == 0, err
    table_rows = [line for line in out.splitlines() if re.match(r"^\W*\d+\W", line)]
    assert len(table_rows) == 2, out
    assert re.search(r"\b16\b.*\b10\b.*\b6\b", table_rows[1]), out

    plot = tmp_path / "status.png"
    code, _, err = gd(capsys, ["campaign", "status", str(directory), "--plot", str(plot)])
    assert code == 0, err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5_000

    line = one_line_refusal(*gd(capsys, ["campaign", "status", str(tmp_path / "nowhere")])[::2])
    assert "nowhere" in line
