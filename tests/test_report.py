"""`gd report` and `gd plot` on a hand-written sweep directory whose numbers are checked by hand."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import stat
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gd_core.errors import GdError
from gd_core.loop import RunConfig
from gd_apps.report import area_under_curve, load_results
from gd_core.plugins import PluginHost
from gd_apps.sweep import CodeBook, Grid, SweepStore, run_key
from tests.helpers import gd

# Two acquisitions × two seeds on one setting; mse and hit ratio at 10, 20 and 40 genes acquired.
CURVES = {
    ("random", 0): {"mse": [1.0, 0.8, 0.6], "hit_ratio": [0.0, 0.1, 0.2]},
    ("random", 1): {"mse": [1.2, 1.0, 0.8], "hit_ratio": [0.0, 0.1, 0.4]},
    ("topuncertain", 0): {"mse": [1.0, 0.6, 0.4], "hit_ratio": [0.1, 0.3, 0.5]},
    ("topuncertain", 1): {"mse": [1.0, 0.7, 0.5], "hit_ratio": [0.1, 0.2, 0.3]},
}
N_ACQUIRED = [10, 20, 40]


def config(acquisition: str, seed: int, assay: str = "simulated", batch_size: int = 10, cycles: int = 3,
           **settings) -> RunConfig:
    return RunConfig(assay, "simulated", "random_forest", acquisition, batch_size, cycles, seed=seed,
                     metrics=("mse", "hit_ratio"), **settings)


@functools.lru_cache(maxsize=1)
def builtin_code() -> CodeBook:
    """What the built-ins' code record is now, so that hand-written runs count as made by this gd (not stale)."""
    return CodeBook(PluginHost(builtins=True, entry_points=False).registries)


def write_run(root: Path, run: RunConfig, curves: dict[str, list[float]], n_acquired=N_ACQUIRED,
              data: dict | None = None) -> None:
    """A finished run; ``data`` is config.json's data block (absent, as in older sweeps, when None)."""
    directory = root / "runs" / run_key(run)
    directory.mkdir(parents=True)
    lines = ["cycle,n_acquired,metric,value"]
    for cycle, n in enumerate(n_acquired):
        lines += [f"{cycle},{n},{metric},{values[cycle]!r}" for metric, values in curves.items()]
    (directory / "metrics.csv").write_text("\n".join(lines) + "\n")
    (directory / "config.json").write_text(json.dumps({"settings": run.as_dict(),
                                                      "code": builtin_code().expected(run.as_dict()),
                                                      **({"data": data} if data is not None else {})}))


def record(root: Path, runs: list[RunConfig]) -> None:
    store = SweepStore(root)
    store.open()
    store.record(Grid(tuple(runs), ()))
    store.close()


@pytest.fixture
def fixture_sweep(tmp_path) -> Path:
    """The four runs above finished, plus one failed and one missing run of a third acquisition."""
    root = tmp_path / "sweep"
    failed, missing = config("coreset", 0), config("coreset", 1)
    runs = [config(a, s) for a, s in CURVES] + [failed, missing]
    store = SweepStore(root)
    store.open()
    store.record(Grid(tuple(runs), ()))
    store.close()
    for (acquisition, seed), curves in CURVES.items():
        write_run(root, config(acquisition, seed), curves)
    failure = root / "runs" / run_key(failed)
    failure.mkdir()
    (failure / "failure.json").write_text(json.dumps({"error": "RuntimeError: out of luck"}))
    return root


def test_area_under_curve_is_the_trapezoid_mean_height():
    # trapezoids: (1.0 + 0.8) / 2 × 10 + (0.8 + 0.6) / 2 × 20 = 9 + 14 = 23, over a width of 30
    assert area_under_curve([10, 20, 40], [1.0, 0.8, 0.6]) == pytest.approx(23 / 30)
    assert area_under_curve([40, 10, 20], [0.6, 1.0, 0.8]) == pytest.approx(23 / 30)  # order does not matter
    assert area_under_curve([64], [0.5]) == 0.5


def test_report_numbers_match_a_hand_computation(fixture_sweep, capsys):
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--json"])
    assert code == 0, err
    report = json.loads(out)
    rows = {r["acquisition"]: r for r in report["summary"]}
    assert set(rows) == {"random", "topuncertain"}  # coreset has no finished run
    random, top = rows["random"], rows["topuncertain"]
    assert random["seeds"] == top["seeds"] == 2
    # final mse: random 0.6 and 0.8 → mean 0.7, sd √0.02; topuncertain 0.4 and 0.5 → 0.45, sd √0.005
    assert random["final_mse_mean"] == pytest.approx(0.7)
    assert random["final_mse_sd"] == pytest.approx(math.sqrt(0.02))
    assert top["final_mse_mean"] == pytest.approx(0.45)
    assert top["final_mse_sd"] == pytest.approx(math.sqrt(0.005))
    # AUC of mse: random seed 0 → 23/30, seed 1 → (11 + 18) / 30 = 29/30
    assert random["auc_mse_mean"] == pytest.approx((23 / 30 + 29 / 30) / 2)
    # topuncertain seed 0 → (8 + 10) / 30, seed 1 → (8.5 + 12) / 30
    assert top["auc_mse_mean"] == pytest.approx((18 / 30 + 20.5 / 30) / 2)
    # final hit ratio: random 0.2, 0.4 → 0.3; topuncertain 0.5, 0.3 → 0.4
    assert random["final_hit_ratio_mean"] == pytest.approx(0.3)
    assert top["final_hit_ratio_mean"] == pytest.approx(0.4)
    # AUC of hit ratio: random (0.5 + 3) / 30 and (0.5 + 5) / 30; topuncertain (2 + 8) / 30 and (1.5 + 5) / 30
    assert random["auc_hit_ratio_mean"] == pytest.approx((3.5 / 30 + 5.5 / 30) / 2)
    assert top["auc_hit_ratio_mean"] == pytest.approx((10 / 30 + 6.5 / 30) / 2)
    # topuncertain is better on everything: rank 1 (lower mse is better, higher hit ratio is better)
    for stat in ("final_mse", "auc_mse", "final_hit_ratio", "auc_hit_ratio"):
        assert (top[f"{stat}_rank"], random[f"{stat}_rank"]) == (1, 2)
    assert report["lower_is_better"] == ["mse"]
    # paired by seed, final mse topuncertain − random: −0.2, −0.3 → mean −0.25, sd √0.005, se 0.05, t = −5 on
    # 1 df: 95% CI −0.25 ± t(0.975, 1) · 0.05 and p = 1 − (2/π) atan 5 (Student t with 1 df is Cauchy)
    (pair,) = [d for d in report["differences"]
               if (d["statistic"], d["acquisition"], d["reference"]) == ("final_mse", "topuncertain", "random")]
    assert (pair["pairs"], pair["reference"], pair["versus"]) == (2, "random", "random")
    assert pair["mean_diff"] == pytest.approx(-0.25)
    assert (pair["ci_low"], pair["ci_high"]) == pytest.approx((-0.25 - 12.706204736174698 * 0.05,
                                                               -0.25 + 12.706204736174698 * 0.05))
    assert pair["p"] == pytest.approx(1 - 2 / math.pi * math.atan(5)) and pair["verdict"] == "not separable"
    assert report["runs"]["expected"] == 6 and report["runs"]["done"] == 4
    assert [r["error"] for r in report["runs"]["failed"]] == ["RuntimeError: out of luck"]
    assert [r["label"] for r in report["runs"]["missing"]] == ["simulated/simulated/random_forest/coreset b10 s1"]


def test_report_as_a_table_markdown_and_csv(fixture_sweep, capsys):
    code, out, _ = gd(capsys, ["report", str(fixture_sweep), "--format", "markdown"])
    assert code == 0
    assert "| topuncertain | 2 | 0.45 ± 0.071 (1) |" in out
    assert "simulated · simulated · random_forest · batch 10" in out  # the constant settings, once
    assert "1 failed, 1 missing" in out and "RuntimeError: out of luck" in out
    code, out, _ = gd(capsys, ["report", str(fixture_sweep), "--format", "csv"])
    header, *lines = out.strip().splitlines()
    assert header.startswith("assay,descriptor,model,batch_size,acquisition,seeds,final_mse_mean,final_mse_sd")
    assert len(lines) == 2
    code, out, _ = gd(capsys, ["report", str(fixture_sweep)])
    assert code == 0 and "batch 10: mean ± sd over seeds (rank)" in out and "1 failed, 1 missing" in out
    assert "mean rank over settings" not in out  # one setting: the ranks above say it all


def test_report_over_several_settings_adds_the_mean_rank_table(faceted_sweep, capsys):
    code, out, err = gd(capsys, ["report", str(faceted_sweep), "--json"])
    assert code == 0, err
    ranks = {r["acquisition"]: r for r in json.loads(out)["mean_ranks"]}
    assert ranks["topuncertain"]["settings"] == 6  # 2 assays × 3 batch sizes
    assert ranks["topuncertain"]["final_mse_rank"] == 1.0 and ranks["random"]["final_mse_rank"] == 2.0
    code, out, _ = gd(capsys, ["report", str(faceted_sweep), "--format", "markdown"])
    assert "Mean rank over settings" in out and "| topuncertain | 6 | 1.00 | 1.00 | 1.00 | 1.00 |" in out


@pytest.mark.parametrize("columns", ["80", "120"])
def test_report_tables_stay_readable_at_80_columns_off_a_terminal(faceted_sweep, capsys, monkeypatch, columns):
    """Every cell of the report comes out whole (a table that does not fit is stacked, never folded into pieces)."""
    monkeypatch.setenv("COLUMNS", columns)
    code, markdown, _ = gd(capsys, ["report", str(faceted_sweep), "--format", "markdown"])
    cells = {cell.strip() for line in markdown.splitlines() if line.startswith("| ") and "---" not in line
             for cell in line.strip("|").split(" | ") if cell.strip()}
    code, out, _ = gd(capsys, ["report", str(faceted_sweep)])
    assert code == 0
    boxed = [line for line in out.splitlines() if line[:1] in "┏┃┡│├└"]
    assert all(len(line) <= int(columns) for line in boxed)
    missing = [cell for cell in cells if cell not in out]
    assert not missing, missing[:5]


def test_report_refuses_what_is_not_a_sweep(tmp_path, capsys):
    code, _, err = gd(capsys, ["report", str(tmp_path)])
    assert code == 1 and "holds no sweep.json" in err
    code, _, err = gd(capsys, ["report", str(tmp_path / "nowhere")])
    assert code == 1 and "does not exist" in err


def test_report_refuses_an_unrecorded_metric(fixture_sweep, capsys):
    code, _, err = gd(capsys, ["report", str(fixture_sweep), "--metric", "spearman"])
    assert code == 1 and "metric 'spearman' was not recorded in this sweep; recorded: mse, hit_ratio" in err


@pytest.fixture
def faceted_sweep(tmp_path) -> Path:
    """Two assays × three batch sizes × two acquisitions × two seeds, curves made up."""
    root = tmp_path / "faceted"
    runs = [config(a, s, assay, b) for assay in ("screen_a", "screen_b") for b in (16, 32, 64)
            for a in ("random", "topuncertain") for s in (0, 1)]
    store = SweepStore(root)
    store.open()
    store.record(Grid(tuple(runs), ()))
    store.close()
    for run in runs:
        n = [run.batch_size * (c + 1) for c in range(3)]
        lift = 0.1 if run.acquisition == "topuncertain" else 0.0
        write_run(root, run, {"mse": [1.0 - 0.1 * c - lift for c in range(3)],
                              "hit_ratio": [0.05 * c + lift + 0.01 * run.seed for c in range(3)]}, n,
                  data={"n_pool": 1000, "n_hits": 50, "test_variance": 1.0})
    return root


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_writes_a_grid_of_assays_by_batch_sizes(faceted_sweep, tmp_path, capsys, suffix):
    target = tmp_path / f"curves{suffix}"
    code, _, err = gd(capsys, ["plot", str(faceted_sweep), "-o", str(target), "--metric", "mse"])
    assert code == 0, err
    assert "2 × 3 panels, 2 acquisitions" in err
    assert target.stat().st_size > 5_000


def test_the_png_has_the_grid_s_size_and_ink_in_every_panel(faceted_sweep, tmp_path):
    import matplotlib.image

    from gd_apps.plot import DPI, FACET_INCHES, plot_curves

    target = tmp_path / "curves.png"
    layout = plot_curves(load_results(faceted_sweep), "hit_ratio", target)
    assert layout.rows == ("screen_a", "screen_b") and layout.columns == (16, 32, 64)
    assert layout.acquisitions == ("random", "topuncertain")
    image = matplotlib.image.imread(target)
    height, width = image.shape[:2]
    assert width == round(layout.size_inches[0] * DPI) and height == round(layout.size_inches[1] * DPI)
    assert layout.size_inches[0] == pytest.approx(3 * FACET_INCHES[0] + 0.6)
    # Each of the 2 × 3 panel areas holds coloured (non-grey) pixels: the curves.
    rgb = image[..., :3]
    coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.25
    for i in range(2):
        for j in range(3):
            rows = slice(int(height * (0.1 + 0.4 * i)), int(height * (0.1 + 0.4 * (i + 1))))
            cols = slice(int(width * (0.1 + 0.3 * j)), int(width * (0.1 + 0.3 * (j + 1))))
            assert coloured[rows, cols].sum() > 50, f"panel {i},{j} has no curve"


def test_plot_refuses_unknown_types_and_metrics(faceted_sweep, tmp_path):
    from gd_apps.plot import plot_curves

    results = load_results(faceted_sweep)
    with pytest.raises(GdError, match="unknown image type '.jpg'"):
        plot_curves(results, "mse", tmp_path / "x.jpg")
    with pytest.raises(GdError, match="metric 'auc' was not recorded"):
        plot_curves(results, "auc", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_runs_that_differ_off_the_axes_are_separate_lines_not_extra_seeds(tmp_path, capsys):
    root = tmp_path / "variants"
    runs = [RunConfig("simulated", "simulated", "random_forest", "softuncertain", 10, 3, seed=s,
                      metrics=("mse", "hit_ratio"), params={"acquisition": {"temperature": t}})
            for t in (0.1, 0.9) for s in (0, 1)]
    store = SweepStore(root)
    store.open()
    store.record(Grid(tuple(runs), ()))
    store.close()
    for run in runs:
        write_run(root, run, CURVES[("random", run.seed)])
    code, out, err = gd(capsys, ["report", str(root), "--json"])
    assert code == 0, err
    rows = {r["acquisition"]: r["seeds"] for r in json.loads(out)["summary"]}
    assert rows == {"softuncertain [acquisition.temperature=0.1]": 2, "softuncertain [acquisition.temperature=0.9]": 2}


# ------------------------------------------------------------------------------------ common-range AUC

def test_area_under_curve_over_a_range_interpolates_linearly():
    x, y = [10, 20, 30, 40], [0.0, 0.2, 0.6, 0.8]
    # over 20–40: (0.2 + 0.6) / 2 × 10 + (0.6 + 0.8) / 2 × 10 = 4 + 7 = 11, over a width of 20
    assert area_under_curve(x, y, 20, 40) == pytest.approx(11 / 20)
    # over 15–35, ends interpolated: y(15) = 0.1, y(35) = 0.7; 0.75 + 4 + 3.25 = 8, over 20
    assert area_under_curve(x, y, 15, 35) == pytest.approx(8 / 20)
    # a batch-20 curve over the same 20–40: (0.1 + 0.5) / 2 × 20 / 20
    assert area_under_curve([20, 40, 60], [0.1, 0.5, 0.9], 20, 40) == pytest.approx(0.3)


def test_auc_is_over_the_range_every_run_covers(tmp_path, capsys):
    # batch 10 acquires 10, 20, 30 genes, batch 20 acquires 20, 40, 60: the common range is 20–30
    root = tmp_path / "two-batches"
    runs = [config("random", 0, batch_size=10), config("random", 0, batch_size=20)]
    record(root, runs)
    write_run(root, runs[0], {"mse": [1.0, 0.8, 0.6], "hit_ratio": [0.0, 0.1, 0.2]}, [10, 20, 30])
    write_run(root, runs[1], {"mse": [1.0, 0.6, 0.5], "hit_ratio": [0.0, 0.2, 0.4]}, [20, 40, 60])
    code, out, err = gd(capsys, ["report", str(root), "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert report["auc_range"]["from"] == 20 and report["auc_range"]["to"] == 30
    assert report["auc_range"]["common"] and "AUC over 20–30 genes acquired" in report["auc_range"]["text"]
    rows = {r["batch_size"]: r for r in report["summary"]}
    assert rows[10]["auc_mse_mean"] == pytest.approx((0.8 + 0.6) / 2)  # 20–30 of the batch-10 curve
    assert rows[20]["auc_mse_mean"] == pytest.approx((1.0 + 0.8) / 2)  # y(30) = 0.8, halfway from 1.0 to 0.6
    assert rows[20]["auc_hit_ratio_mean"] == pytest.approx((0.0 + 0.1) / 2)
    code, out, _ = gd(capsys, ["report", str(root), "--format", "markdown"])
    assert "AUC over 20–30 genes acquired" in out
    code, out, _ = gd(capsys, ["report", str(root), "--format", "csv"])
    header, first, _ = out.strip().splitlines()
    assert header.endswith(",auc_from,auc_to") and first.endswith(",20.0,30.0")


def test_auc_falls_back_to_each_run_s_own_range_and_says_so(faceted_sweep, capsys):
    # batch 16, 32 and 64 over 3 cycles: 16–48, 32–96 and 64–192 have no range in common
    code, out, err = gd(capsys, ["report", str(faceted_sweep), "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert report["auc_range"] == {"from": None, "to": None, "common": False, "text": report["auc_range"]["text"]}
    assert "each run's own range" in report["auc_range"]["text"]
    row = next(r for r in report["summary"] if r["batch_size"] == 64 and r["acquisition"] == "random")
    assert row["auc_mse_mean"] == pytest.approx(area_under_curve([64, 128, 192], [1.0, 0.9, 0.8]))
    code, out, _ = gd(capsys, ["report", str(faceted_sweep), "--format", "markdown"])
    assert "each run's own range of genes acquired" in out


# ----------------------------------------------------------------------------------- paired differences

# One setting × 3 seeds: final hit ratio and final mse chosen for round hand computations. softuncertain's
# mse curve is random's with the first point 0.3 higher: the same final value, a constant AUC difference.
# coreset has one seed only.
PAIRED = {
    "random": {"final_hit": [0.2, 0.3, 0.1], "final_mse": [0.6, 0.8, 0.7]},
    "topuncertain": {"final_hit": [0.5, 0.5, 0.3], "final_mse": [0.4, 0.5, 0.5]},
    "softuncertain": {"final_hit": [0.1, 0.4, 0.2], "final_mse": [0.6, 0.8, 0.7]},
    "coreset": {"final_hit": [0.2], "final_mse": [0.6]},
}
DATA = {"n_pool": 100, "n_hits": 20, "test_variance": 2.0}
T_975 = {2: 4.302652729749464}  # t(0.975, 2) = 0.95 / √(2 · 0.975 · 0.025)


def p_two_sided_df2(t: float) -> float:
    """The two-sided p-value of Student t with 2 degrees of freedom: its CDF is 1/2 + t / (2√(2 + t²))."""
    return 1 - abs(t) / math.sqrt(2 + t * t)


@pytest.fixture
def paired_sweep(tmp_path) -> Path:
    root = tmp_path / "paired"
    runs = [config(a, s) for a, values in PAIRED.items() for s in range(len(values["final_hit"]))]
    record(root, runs)
    for run in runs:
        values = PAIRED[run.acquisition]
        hit, mse = values["final_hit"][run.seed], values["final_mse"][run.seed]
        first = 1.3 if run.acquisition == "softuncertain" else 1.0
        write_run(root, run, {"mse": [first, 0.9, mse], "hit_ratio": [0.0, hit / 2, hit]}, data=DATA)
    return root


def paired_report(capsys, root: Path) -> dict:
    code, out, err = gd(capsys, ["report", str(root), "--json"])
    assert code == 0, err
    return json.loads(out)


def difference(report: dict, statistic: str, acquisition: str, reference: str = "random") -> dict:
    (row,) = [r for r in report["differences"] if (r["statistic"], r["acquisition"], r["reference"]) ==
              (statistic, acquisition, reference)]
    return row


def test_paired_differences_match_a_hand_computation(paired_sweep, capsys):
    report = paired_report(capsys, paired_sweep)
    # final hit ratio, topuncertain − random: 0.3, 0.2, 0.2 → mean 0.7/3, sd √(1/300), se 1/30, t = 7
    row = difference(report, "final_hit_ratio", "topuncertain")
    assert row["pairs"] == 3 and row["versus"] == "random"
    assert row["mean_diff"] == pytest.approx(0.7 / 3)
    assert row["ci_low"] == pytest.approx(0.7 / 3 - T_975[2] / 30)
    assert row["ci_high"] == pytest.approx(0.7 / 3 + T_975[2] / 30)
    assert row["p"] == pytest.approx(p_two_sided_df2(7.0)) and row["p"] == pytest.approx(0.0198039412)
    assert row["verdict"] == "better"
    # softuncertain − random: −0.1, 0.1, 0.1 → mean 1/30, sd √(1/75), se 1/15, t = 0.5, p = 1 − 0.5/1.5
    row = difference(report, "final_hit_ratio", "softuncertain")
    assert row["mean_diff"] == pytest.approx(1 / 30)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((1 / 30 - T_975[2] / 15, 1 / 30 + T_975[2] / 15))
    assert row["p"] == pytest.approx(2 / 3) and row["verdict"] == "not separable"
    # final mse (lower is better), topuncertain − random: −0.2, −0.3, −0.2 → t = −7: better, not worse
    row = difference(report, "final_mse", "topuncertain")
    assert row["mean_diff"] == pytest.approx(-0.7 / 3) and row["p"] == pytest.approx(p_two_sided_df2(7.0))
    assert row["ci_high"] == pytest.approx(-0.7 / 3 + T_975[2] / 30) and row["verdict"] == "better"


def test_differences_from_the_best_and_its_absence(paired_sweep, capsys):
    report = paired_report(capsys, paired_sweep)
    # the best final hit ratio by mean is topuncertain (0.433); it gets no row against itself
    best = [r for r in report["differences"] if r["statistic"] == "final_hit_ratio" and r["reference"] == "best"]
    assert {r["versus"] for r in best} == {"topuncertain"}
    assert {r["acquisition"] for r in best} == {"random", "softuncertain", "coreset"}
    # softuncertain − topuncertain: −0.4, −0.1, −0.1 → mean −0.2, sd √0.03, se 0.1, t = −2
    row = difference(report, "final_hit_ratio", "softuncertain", "best")
    assert row["mean_diff"] == pytest.approx(-0.2) and row["p"] == pytest.approx(p_two_sided_df2(2.0))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-0.2 - T_975[2] * 0.1, -0.2 + T_975[2] * 0.1))
    assert row["verdict"] == "not separable"
    assert difference(report, "final_hit_ratio", "random", "best")["verdict"] == "worse"
    # random has no row against itself
    assert not [r for r in report["differences"] if r["acquisition"] == "random" and r["reference"] == "random"]


def test_not_separable_exactly_when_the_interval_contains_zero(paired_sweep, faceted_sweep, capsys):
    rows = paired_report(capsys, paired_sweep)["differences"] + paired_report(capsys, faceted_sweep)["differences"]
    tested = [r for r in rows if r["ci_low"] is not None]
    assert len(tested) > 10
    for row in tested:
        assert (row["verdict"] == "not separable") == (row["ci_low"] <= 0 <= row["ci_high"]), row
        assert row["verdict"] in ("better", "worse", "not separable")
        assert (row["p"] >= 0.05) == (row["verdict"] == "not separable")


def test_too_few_seeds_identical_and_constant_differences_are_said_not_computed(paired_sweep, capsys):
    report = paired_report(capsys, paired_sweep)
    row = difference(report, "final_hit_ratio", "coreset")  # one seed: one pair
    assert row["pairs"] == 1 and row["verdict"] == "too few seeds" and row["note"] == "one pair"
    assert row["mean_diff"] == pytest.approx(0.0)
    assert row["ci_low"] is row["ci_high"] is row["p"] is row["seeds_needed"] is None
    row = difference(report, "final_mse", "softuncertain")  # the same final mse on every seed
    assert row["verdict"] == "identical" and row["ci_low"] is None and row["p"] is None
    row = difference(report, "auc_mse", "softuncertain")  # 0.3 higher at 10 genes: 0.05 on every seed
    assert row["mean_diff"] == pytest.approx(0.05) and row["verdict"] == "constant difference"
    assert "differs by the same amount" in row["note"] and row["ci_low"] is None
    code, out, _ = gd(capsys, ["report", str(paired_sweep), "--format", "markdown"])
    assert "nan" not in out.lower()
    assert "| final hit ratio | coreset | random | 1 | +0 | – | – | too few seeds | – |" in out
    assert "| AUC mse | softuncertain | random | 3 | +0.05 | – (no spread) | – | constant difference | – |" in out
    assert "| final mse | softuncertain | random | 3 | +0 | – | – | identical | – |" in out


def test_differences_in_the_tables_and_csv(paired_sweep, capsys):
    code, out, _ = gd(capsys, ["report", str(paired_sweep), "--format", "markdown"])
    assert code == 0
    assert "batch 10: paired difference over seeds" in out
    assert "| statistic | acquisition | vs | pairs | mean diff | 95% CI | p | verdict | seeds for 80% power |" in out
    assert "| final hit ratio | topuncertain | random | 3 | +0.2333 | [+0.0899, +0.377] | 0.02 | better | 3 |" in out
    assert "| final hit ratio | softuncertain | best: topuncertain | 3 | -0.2 |" in out
    code, out, _ = gd(capsys, ["report", str(paired_sweep)])
    assert code == 0 and "paired difference over seeds" in out and "not separable" in out
    code, out, _ = gd(capsys, ["report", str(paired_sweep), "--format", "csv", "--what", "differences"])
    header, *lines = out.strip().splitlines()
    assert header == ("assay,descriptor,model,batch_size,statistic,acquisition,reference,versus,tie,pairs,mean_diff,"
                      "ci_low,ci_high,p,verdict,seeds_needed,note")
    assert any(",final_hit_ratio,topuncertain,random,random,False,3," in line and ",better,3," in line
               for line in lines)
    code, _, err = gd(capsys, ["report", str(paired_sweep), "--what", "differences"])
    assert code == 1 and "--what picks the table of --format csv" in err
    code, _, err = gd(capsys, ["report", str(paired_sweep), "--format", "csv", "--what", "everything"])
    assert code == 1 and "--what 'everything' is not one of summary, differences, baselines" in err


# ---------------------------------------------------------------------------------------- seeds needed

def test_seeds_needed_for_80_percent_power():
    from gd_apps.report import seeds_for_power

    # Pinned from scipy.stats.nct: an effect of one sd of the differences needs 10 pairs (power 0.803; 9 give
    # 0.748), half an sd 34, a fifth 199.
    assert seeds_for_power(1.0, 1.0) == 10
    assert seeds_for_power(-3.0, 3.0) == 10  # only |effect| / sd matters
    assert seeds_for_power(0.5, 1.0) == 34 and seeds_for_power(0.2, 1.0) == 199
    needed = [seeds_for_power(effect, 1.0) for effect in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 50.0)]
    assert needed == sorted(needed, reverse=True) and needed[-1] == 2  # a larger effect needs fewer seeds
    assert seeds_for_power(0.01, 1.0) is None  # about 78,500 pairs: past the cap of 10,000
    assert seeds_for_power(0.0, 1.0) is None and seeds_for_power(1.0, 0.0) is None


def test_seeds_needed_in_the_report_and_the_cap(paired_sweep, capsys):
    from gd_apps.report import compare

    report = paired_report(capsys, paired_sweep)
    # softuncertain − random: mean 1/30, sd √(1/75), so the effect is 1/√12 ≈ 0.289 sd (pinned from scipy)
    assert difference(report, "final_hit_ratio", "softuncertain")["seeds_needed"] == 97
    # By hand, the normal approximation with the usual t correction: n ≈ (z₀.₉₇₅ + z₀.₈)² / δ² + z₀.₉₇₅² / 2
    # = (1.960 + 0.842)² · 12 + 1.92 = 96.1, so 97 pairs.
    assert math.ceil((1.959964 + 0.841621) ** 2 * 12 + 1.959964 ** 2 / 2) == 97
    assert compare([0.01, -0.01, 0.0001], lower_is_better=False)["seeds_needed"] == ">10000"


# ------------------------------------------------------------------------------- relative MSE, baselines

def test_relative_mse_is_mse_over_the_test_variance_and_absent_without_it(paired_sweep, fixture_sweep, capsys):
    rows = {r["acquisition"]: r for r in paired_report(capsys, paired_sweep)["summary"]}
    assert rows["topuncertain"]["final_relative_mse_mean"] == pytest.approx((0.4 + 0.5 + 0.5) / 3 / 2.0)
    assert rows["topuncertain"]["auc_relative_mse_mean"] == pytest.approx(rows["topuncertain"]["auc_mse_mean"] / 2.0)
    assert rows["random"]["final_relative_mse_sd"] == pytest.approx(0.1 / 2.0)
    assert "final_relative_mse_rank" not in rows["random"]
    # the hand-checked sweep's config.json has no data block, as in sweeps written before test_variance
    rows = {r["acquisition"]: r for r in paired_report(capsys, fixture_sweep)["summary"]}
    assert rows["random"]["final_relative_mse_mean"] is None and rows["random"]["auc_relative_mse_sd"] is None
    code, out, _ = gd(capsys, ["report", str(fixture_sweep), "--format", "markdown"])
    assert "| final relative mse | AUC relative mse |" in out
    assert "| topuncertain | 2 | 0.45 ± 0.071 (1) | 0.6417 ± 0.059 (1) | – | – |" in out


def test_hit_ratio_baselines_in_the_report(paired_sweep, capsys):
    report = paired_report(capsys, paired_sweep)
    rows = {r["baseline"]: r for r in report["baselines"]}
    assert set(rows) == {"expected (random)", "ceiling (oracle)"}
    # n = 10, 20, 40 of a pool of 100 with 20 hits; the AUC is over 10–40 genes
    random, oracle = rows["expected (random)"], rows["ceiling (oracle)"]
    assert (random["n_pool"], random["n_hits"], random["varies"]) == (100, 20, False)
    assert random["final_hit_ratio"] == pytest.approx(0.4)
    assert random["auc_hit_ratio"] == pytest.approx(25 / 100)  # a straight line: its midpoint
    assert oracle["final_hit_ratio"] == pytest.approx(1.0)
    # 0.5, 1, 1: ((0.5 + 1) / 2 × 10 + 1 × 20) / 30
    assert oracle["auc_hit_ratio"] == pytest.approx(27.5 / 30)
    code, out, _ = gd(capsys, ["report", str(paired_sweep), "--format", "markdown"])
    assert "| expected (random) | – | – | – | – | – | 0.4 | 0.25 |" in out
    assert "| ceiling (oracle) | – | – | – | – | – | 1 | 0.9167 |" in out
    code, out, _ = gd(capsys, ["report", str(paired_sweep), "--format", "csv", "--what", "baselines"])
    assert out.splitlines()[0] == ("assay,descriptor,model,batch_size,baseline,n_pool,n_hits,varies,final_hit_ratio,"
                                   "auc_hit_ratio")
    # without the hit ratio, no baselines
    code, out, _ = gd(capsys, ["report", str(paired_sweep), "--metric", "mse", "--json"])
    assert json.loads(out)["baselines"] == []


def test_baselines_use_the_mean_when_runs_disagree_and_say_so(paired_sweep, capsys):
    manifest = paired_sweep / "runs" / run_key(config("coreset", 0)) / "config.json"
    manifest.write_text(json.dumps({"settings": config("coreset", 0).as_dict(),
                                    "data": {**DATA, "n_pool": 109, "n_hits": 29}}))
    rows = {r["baseline"]: r for r in paired_report(capsys, paired_sweep)["baselines"]}
    random = rows["expected (random)"]
    assert random["varies"] is True and random["n_pool"] == pytest.approx(100.9)  # (9 × 100 + 109) / 10
    assert random["final_hit_ratio"] == pytest.approx(40 / 100.9) and rows["ceiling (oracle)"]["n_hits"] == 20.9
    code, out, _ = gd(capsys, ["report", str(paired_sweep), "--format", "markdown"])
    assert "disagree on n_pool or n_hits" in out and "n_pool 100.9, n_hits 20.9" in out


def test_the_hit_ratio_plot_draws_both_baselines_in_every_panel(faceted_sweep, fixture_sweep, tmp_path, capsys):
    import matplotlib.pyplot as plt

    from gd_apps.plot import draw_curves, plot_curves

    code, _, err = gd(capsys, ["plot", str(faceted_sweep), "-o", str(tmp_path / "hits.png")])
    assert code == 0 and "2 acquisitions, expected (random), ceiling (oracle)" in err
    figure, layout = draw_curves(load_results(faceted_sweep), "hit_ratio")
    try:
        assert layout.baselines == ("expected (random)", "ceiling (oracle)")
        assert len(figure.axes) == 6
        for ax in figure.axes:
            lines = {line.get_label(): line for line in ax.get_lines()}
            random, oracle = lines["expected (random)"], lines["ceiling (oracle)"]
            assert random.get_linestyle() == "--" and oracle.get_linestyle() == ":"
            x = random.get_xdata()
            assert random.get_ydata() == pytest.approx(x / 1000)  # n_pool 1000
            assert oracle.get_ydata() == pytest.approx([min(n, 50) / 50 for n in oracle.get_xdata()])
        (legend,) = figure.legends
        assert [t.get_text() for t in legend.get_texts()][-2:] == ["expected (random)", "ceiling (oracle)"]
    finally:
        plt.close(figure)
    # other metrics, and runs whose config.json lacks n_pool and n_hits, get no baselines
    assert plot_curves(load_results(faceted_sweep), "mse", tmp_path / "mse.png").baselines == ()
    assert plot_curves(load_results(fixture_sweep), "hit_ratio", tmp_path / "old.png").baselines == ()


def test_the_oracle_line_has_its_kink_at_the_number_of_hits(faceted_sweep):
    import matplotlib.pyplot as plt

    from gd_apps.plot import draw_curves

    figure, _ = draw_curves(load_results(faceted_sweep), "hit_ratio")
    try:
        panel = figure.axes[1]  # screen_a, batch 32: 32–96 genes acquired, and n_hits is 50
        oracle = next(line for line in panel.get_lines() if line.get_label() == "ceiling (oracle)")
        assert list(oracle.get_xdata()) == [32, 50, 96] and list(oracle.get_ydata()) == [0.64, 1.0, 1.0]
    finally:
        plt.close(figure)


def test_the_best_is_chosen_among_the_acquisitions_with_the_most_seeds(tmp_path, capsys):
    root = tmp_path / "lucky"
    finals = {"random": [0.1, 0.2, 0.3], "topuncertain": [0.3, 0.4, 0.5], "badge": [0.9]}  # badge: one lucky seed
    runs = [config(a, s) for a, values in finals.items() for s in range(len(values))]
    record(root, runs)
    for run in runs:
        hit = finals[run.acquisition][run.seed]
        write_run(root, run, {"mse": [1.0, 0.9, 0.8], "hit_ratio": [0.0, hit / 2, hit]})
    best = [r for r in paired_report(capsys, root)["differences"]
            if r["statistic"] == "final_hit_ratio" and r["reference"] == "best"]
    assert {r["versus"] for r in best} == {"topuncertain"}  # not badge, whose mean 0.9 rests on one seed
    assert {r["acquisition"]: r["pairs"] for r in best} == {"random": 3, "badge": 1}


def test_without_random_only_the_best_is_a_reference_and_a_best_random_is_not_repeated(tmp_path, capsys):
    root = tmp_path / "no-random"
    runs = [config(a, s) for a in ("topuncertain", "coreset") for s in (0, 1, 2)]
    record(root, runs)
    for run in runs:
        hit = (0.5 if run.acquisition == "topuncertain" else 0.2) + 0.01 * run.seed ** 2
        write_run(root, run, {"mse": [1.0, 0.9, 0.8], "hit_ratio": [0.0, hit / 2, hit]})
    rows = [r for r in paired_report(capsys, root)["differences"] if r["statistic"] == "final_hit_ratio"]
    assert [(r["acquisition"], r["reference"], r["versus"]) for r in rows] == [("coreset", "best", "topuncertain")]
    assert rows[0]["mean_diff"] == pytest.approx(-0.3) and rows[0]["verdict"] == "constant difference"
    code, out, _ = gd(capsys, ["report", str(root), "--format", "markdown"])
    assert code == 0 and "no random runs here, so only differences from the best" in out

    root = tmp_path / "random-best"
    runs = [config(a, s) for a in ("random", "coreset") for s in (0, 1, 2)]
    record(root, runs)
    for run in runs:
        hit = (0.5 if run.acquisition == "random" else 0.2) + 0.01 * run.seed ** 2 * (run.acquisition == "random")
        write_run(root, run, {"mse": [1.0, 0.9, 0.8], "hit_ratio": [0.0, hit / 2, hit]})
    rows = [r for r in paired_report(capsys, root)["differences"] if r["statistic"] == "final_hit_ratio"]
    assert [(r["acquisition"], r["reference"]) for r in rows] == [("coreset", "random")]
    assert rows[0]["verdict"] == "worse"


def test_runs_from_before_split_seed_are_not_pooled_with_split_seed_0(tmp_path, capsys):
    root = tmp_path / "old-and-new"
    runs = [config("random", s, split_seed=0) for s in (0, 1)]
    record(root, runs)
    for run in runs:
        write_run(root, run, CURVES[("random", run.seed)])
    # Older sweeps drew the test split from the run seed and recorded no split_seed.
    manifest = json.loads((root / "sweep.json").read_text())
    old = {f"old{key}": {k: v for k, v in settings.items() if k != "split_seed"}
           for key, settings in manifest["runs"].items()}
    for key, settings in old.items():
        scratch = root.parent / f"scratch-{key}"
        write_run(scratch, config("random", settings["seed"]), CURVES[("random", settings["seed"])])
        (scratch / "runs" / run_key(config("random", settings["seed"]))).rename(root / "runs" / key)
    manifest["runs"].update(old)
    (root / "sweep.json").write_text(json.dumps(manifest))
    rows = {r["acquisition"]: r["seeds"] for r in paired_report(capsys, root)["summary"]}
    assert rows == {"random [split_seed=0]": 2, 'random [split_seed="seed"]': 2}


def test_a_differing_split_seed_is_a_variant_not_more_seeds(tmp_path, capsys):
    root = tmp_path / "split"
    runs = [config("random", s, split_seed=split) for split in (0, "seed") for s in (0, 1)]
    record(root, runs)
    for run in runs:
        write_run(root, run, CURVES[("random", run.seed)])
    rows = {r["acquisition"]: r["seeds"] for r in paired_report(capsys, root)["summary"]}
    assert rows == {"random [split_seed=0]": 2, 'random [split_seed="seed"]': 2}


# ------------------------------------------------------------------------------------------ damaged sweeps

DAMAGED_KEY = run_key(config("topuncertain", 0))  # a finished run of fixture_sweep
FAILED_KEY = run_key(config("coreset", 0))


def _rewrite_json(path: Path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _replace_run_dir_by_a_file(run: Path) -> None:
    for child in run.iterdir():
        child.unlink()
    run.rmdir()
    run.write_text("not a run")


# How one run's files get damaged, the file named, and what the report says about it.
RUN_DAMAGE = {
    "non-numeric value": (lambda run: (run / "metrics.csv").write_text(
        (run / "metrics.csv").read_text().replace("0.6", "abc", 1)), "metrics.csv", "value 'abc' is not a number"),
    "truncated mid-line": (lambda run: (run / "metrics.csv").write_bytes((run / "metrics.csv").read_bytes()[:-3]),
                           "metrics.csv", "truncated"),
    "truncated at a line end": (lambda run: (run / "metrics.csv").write_text(
        "".join((run / "metrics.csv").read_text().splitlines(keepends=True)[:-1])), "metrics.csv", "incomplete"),
    "missing columns": (lambda run: (run / "metrics.csv").write_text("a,b\n1,2\n"), "metrics.csv",
                        "has the header 'a,b'"),
    "empty metrics": (lambda run: (run / "metrics.csv").write_text(""), "metrics.csv", "is empty"),
    "no metrics": (lambda run: (run / "metrics.csv").unlink(), "metrics.csv", "is missing"),
    "metrics a directory": (lambda run: ((run / "metrics.csv").unlink(), (run / "metrics.csv").mkdir()),
                            "metrics.csv", "is not a regular file"),
    "binary metrics": (lambda run: (run / "metrics.csv").write_bytes(bytes(range(256))), "metrics.csv",
                       "is not UTF-8 text"),
    "config not JSON": (lambda run: (run / "config.json").write_text("{\"settings\": "), "config.json",
                        "is not valid JSON"),
    "config an array": (lambda run: (run / "config.json").write_text("[1, 2]"), "config.json",
                        "holds a JSON array, not an object"),
    "config without settings": (lambda run: _rewrite_json(run / "config.json", lambda d: d.pop("settings")),
                                "config.json", "lacks 'settings'"),
    "config settings of another run": (lambda run: _rewrite_json(
        run / "config.json", lambda d: d["settings"].update(acquisition="random")), "config.json",
        "records acquisition 'random', but sweep.json has 'topuncertain'"),
    "config data a number": (lambda run: _rewrite_json(run / "config.json", lambda d: d.update(data=5)),
                             "config.json", "'data' is a JSON number, not an object"),
    "config data as text": (lambda run: _rewrite_json(run / "config.json", lambda d: d.update(
        data={"n_pool": "100"})), "config.json", "data.n_pool is '100', not a number"),
    "run directory a file": (_replace_run_dir_by_a_file, "", "is not a directory"),
}


@pytest.mark.parametrize("how", RUN_DAMAGE)
def test_a_damaged_run_is_left_out_and_listed_and_the_rest_reported(fixture_sweep, tmp_path, capsys, how):
    damage, name, reason = RUN_DAMAGE[how]
    run = fixture_sweep / "runs" / DAMAGED_KEY
    if how != "run directory a file":  # the hand-written runs lack the data block; give this one
        _rewrite_json(run / "config.json", lambda d: d.update(data={"n_pool": 100, "n_hits": 20}))
    damage(run)
    path = str(run / name) if name else str(run)
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert [(d["path"], d["key"]) for d in report["damaged"]] == [(path, DAMAGED_KEY)]
    assert reason in report["damaged"][0]["reason"]
    assert [r["key"] for r in report["runs"]["damaged"]] == [DAMAGED_KEY] and report["runs"]["done"] == 3
    assert {r["acquisition"]: r["seeds"] for r in report["summary"]} == {"random": 2, "topuncertain": 1}
    for fmt in ("table", "markdown"):
        code, out, err = gd(capsys, ["report", str(fixture_sweep), "--format", fmt])
        assert code == 0 and f"damaged {path}: " in out and reason in out and "3 of 6 runs finished" in out
        assert "delete a damaged run's directory and run the same `gd sweep` command again" in out
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--format", "csv"])
    assert code == 0 and len(out.strip().splitlines()) == 3 and f"damaged {path}: " in err  # stdout stays CSV
    code, _, err = gd(capsys, ["plot", str(fixture_sweep), "-o", str(tmp_path / "curves.png"), "--metric", "mse"])
    assert code == 0 and f"damaged {path}: " in err and (tmp_path / "curves.png").is_file()


@pytest.mark.parametrize("content, reason", [
    ("garbage", "is not valid JSON"),
    ("[1]", "holds a JSON array, not an object"),
    ('{"settings": {}}', "has no 'error' text"),
])
def test_a_damaged_failure_record_is_listed_not_a_crash(fixture_sweep, capsys, content, reason):
    path = fixture_sweep / "runs" / FAILED_KEY / "failure.json"
    path.write_text(content)
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert [d["path"] for d in report["damaged"]] == [str(path)] and reason in report["damaged"][0]["reason"]
    assert report["runs"]["failed"] == [] and report["runs"]["done"] == 4


def test_an_unreadable_file_is_listed_with_the_system_s_reason(fixture_sweep, capsys, monkeypatch):
    # chmod 000 stops everyone but root (who runs some CI), so the refusal is made for the file by name.
    unreadable = {fixture_sweep / "runs" / DAMAGED_KEY / "metrics.csv", fixture_sweep / "sweep.json"}
    for path in unreadable:
        path.chmod(0)
    read_bytes = Path.read_bytes

    def refuse(self):
        if self in unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    # a run directory that may not be searched (chmod 000): nothing in it can even be looked at
    closed = fixture_sweep / "runs" / run_key(config("random", 1))
    closed.chmod(0)
    exists = Path.exists

    def look(self):
        if self.parent == closed:
            raise PermissionError(13, "Permission denied", str(self))
        return exists(self)

    monkeypatch.setattr(Path, "exists", look)
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--json"])
    assert code == 0, err
    damaged = {d["path"]: d["reason"] for d in json.loads(out)["damaged"]}
    assert damaged[str(fixture_sweep / "runs" / DAMAGED_KEY / "metrics.csv")] == "cannot be read (Permission denied)"
    assert damaged[str(closed)] == "cannot be read (Permission denied)"
    assert damaged[str(fixture_sweep / "sweep.json")].startswith("cannot be read (Permission denied); the report lists "
                                                                 "the runs found under runs/")


SWEEP_DAMAGE = {
    "not JSON": (lambda text: text[: len(text) // 2], "is not valid JSON"),
    "an array": (lambda text: "[]", "holds a JSON array, not an object"),
    "no runs": (lambda text: json.dumps({"format": "gd-sweep/1", "skipped": []}), "has no 'runs' object"),
    "runs a list": (lambda text: json.dumps({"format": "gd-sweep/1", "runs": [], "skipped": []}),
                    "has no 'runs' object"),
    "no format": (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "format"}),
                  "has no 'format'"),
    "deleted": (None, "is missing; the report lists the runs found under runs/"),
}


@pytest.mark.parametrize("how", SWEEP_DAMAGE)
def test_without_a_usable_sweep_json_the_report_reads_the_runs_directory(fixture_sweep, capsys, how):
    change, reason = SWEEP_DAMAGE[how]
    path = fixture_sweep / "sweep.json"
    if change is None:
        path.unlink()
    else:
        path.write_text(change(path.read_text()))
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--json"])
    assert code == 0, err
    report = json.loads(out)
    (damage,) = report["damaged"]
    assert damage["path"] == str(path) and damage["key"] is None and reason in damage["reason"]
    assert "runs never started are not known" in damage["reason"] and "`gd sweep` command(s) again" in damage["reason"]
    # the finished runs and the failed one are known from their own files; the missing one is not
    assert {r["acquisition"]: r["seeds"] for r in report["summary"]} == {"random": 2, "topuncertain": 2}
    assert report["runs"]["expected"] == 5 and report["runs"]["missing"] == []
    # the fixture's failure.json records no settings, so the failed run is known by its key only
    assert report["runs"]["failed"] == [{"key": FAILED_KEY, "label": f"run {FAILED_KEY}",
                                         "error": "RuntimeError: out of luck"}]
    code, out, _ = gd(capsys, ["report", str(fixture_sweep)])
    assert code == 0 and f"damaged {path}: " in out


def test_bad_entries_of_sweep_json_are_listed_and_the_runs_own_settings_used(fixture_sweep, capsys):
    path = fixture_sweep / "sweep.json"
    document = json.loads(path.read_text())
    document["runs"][DAMAGED_KEY]["seed"] = "0"  # a number replaced by text
    document["runs"]["../../elsewhere"] = {}
    document["skipped"] = [{"model": "random_forest"}]
    path.write_text(json.dumps(document))
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--json"])
    assert code == 0, err
    report = json.loads(out)
    reasons = [d["reason"] for d in report["damaged"]]
    assert f"the entry of run {DAMAGED_KEY} has seed '0', not a whole number ≥ 0; the run's own files give its " \
           "settings" in reasons
    assert "lists a run named '../../elsewhere', which is not a run directory's name" in reasons
    assert "1 entries of 'skipped' lack a model, acquisition or reason; they are not shown" in reasons
    assert {r["acquisition"]: r["seeds"] for r in report["summary"]} == {"random": 2, "topuncertain": 2}


def test_a_sweep_json_of_another_format_is_refused_in_one_line(fixture_sweep, capsys):
    path = fixture_sweep / "sweep.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": "gd-sweep/9"}))
    code, _, err = gd(capsys, ["report", str(fixture_sweep)])
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "has format 'gd-sweep/9', not gd-sweep/1; use a matching gd version" in err


def test_when_nothing_finished_can_be_read_one_line_says_so(fixture_sweep, tmp_path, capsys):
    for acquisition, seed in CURVES:
        (fixture_sweep / "runs" / run_key(config(acquisition, seed)) / "metrics.csv").write_text("")
    for argv in (["report", str(fixture_sweep)], ["report", str(fixture_sweep), "--json"],
                 ["plot", str(fixture_sweep), "-o", str(tmp_path / "x.png")]):
        code, out, err = gd(capsys, argv)
        assert code == 1 and out == "" and len(err.strip().splitlines()) == 1, err
        assert f"error: no finished run of {fixture_sweep} can be read: " in err
        assert "is empty (and 3 more damaged)" in err
        assert "delete a damaged run's directory and run the same `gd sweep` command again" in err
    assert not (tmp_path / "x.png").exists()


def test_a_sweep_still_running_or_not_yet_begun_reads_clearly(fixture_sweep, tmp_path, capsys):
    # coreset seed 1 is being written: its staging directory exists, its run directory not yet
    staging = fixture_sweep / "runs" / f".{run_key(config('coreset', 1))}.partial-4242-abcd"
    staging.mkdir()
    (staging / "metrics.csv").write_text("cycle,n_acquired,metric,value\n0,10,mse,0.5\n")
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--json"])
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert [r["label"] for r in runs["started"]] == ["simulated/simulated/random_forest/coreset b10 s1"]
    assert runs["missing"] == [] and json.loads(out)["damaged"] == []
    code, out, _ = gd(capsys, ["report", str(fixture_sweep)])
    assert "4 of 6 runs finished, 1 failed, 1 started, 0 missing" in out and "being written" in out
    code, _, err = gd(capsys, ["plot", str(fixture_sweep), "-o", str(tmp_path / "x.png")])
    assert code == 0, err

    nothing_yet = tmp_path / "begun"
    record(nothing_yet, [config("random", 0)])
    code, out, err = gd(capsys, ["report", str(nothing_yet)])
    assert code == 0 and "no run has finished yet: 0 of 1 runs finished, 0 failed, 1 missing" in out, err
    code, _, err = gd(capsys, ["plot", str(nothing_yet), "-o", str(tmp_path / "y.png")])
    assert code == 1 and "holds no finished run yet" in err and len(err.strip().splitlines()) == 1

    (nothing_yet / "sweep.json").unlink()  # a sweep that has taken its lock but not written sweep.json yet
    for argv in (["report", str(nothing_yet)], ["plot", str(nothing_yet), "-o", str(tmp_path / "y.png")]):
        code, _, err = gd(capsys, argv)
        assert code == 1 and f"{nothing_yet} holds no sweep.json" in err and len(err.strip().splitlines()) == 1
    code, _, err = gd(capsys, ["report", str(nothing_yet / ".lock")])
    assert code == 1 and "is a file, not a directory" in err


def test_runs_recording_other_metrics_do_not_break_a_metric_others_record(tmp_path, capsys):
    root = tmp_path / "metrics"
    both = [config("random", s) for s in (0, 1)]
    mse_only = [RunConfig("simulated", "simulated", "random_forest", "random", 10, 3, seed=s, metrics=("mse",))
                for s in (0, 1)]
    record(root, both + mse_only)
    for run in both:
        write_run(root, run, CURVES[("random", run.seed)])
    for run in mse_only:
        write_run(root, run, {"mse": CURVES[("random", run.seed)]["mse"]})
    code, out, err = gd(capsys, ["report", str(root), "--json", "--metric", "hit_ratio"])
    assert code == 0, err
    rows = {r["acquisition"]: r["final_hit_ratio_mean"] for r in json.loads(out)["summary"]}
    assert rows == {"random [metrics=[\"mse\", \"hit_ratio\"]]": pytest.approx(0.3), "random [metrics=[\"mse\"]]": None}


# ------------------------------------------------------------------------------------------------ options

@pytest.mark.parametrize("argv, message", [
    (["--format", "csv", "--what", ""], "--what '' is not one of summary, differences, baselines; choose one of them"),
    (["--format", "csv", "--what", "diferences"], "--what 'diferences' is not one of summary, differences, "
                                                  "baselines; did you mean 'differences'?"),
    (["--format", ""], "--format '' is not one of table, markdown, csv; choose one of them"),
    (["--format", "cvs"], "--format 'cvs' is not one of table, markdown, csv; did you mean 'csv'?"),
    (["--json", "--format", "csv"], "--json and --format csv both choose how the report is printed; drop one of them"),
    (["--json", "--format", "table"], "--json and --format table both choose how the report is printed; drop one of "
                                      "them"),
    (["--json", "--what", "summary"], "--what picks the table of --format csv, but --json prints every table; "
                                      "drop --what, or use --format csv instead of --json"),
    (["--format", "markdown", "--what", "baselines"], "--what picks the table of --format csv; --format markdown "
                                                      "shows every table, so drop --what or use --format csv"),
    (["--metric", ""], "--metric '' was not recorded in this sweep; recorded: mse, hit_ratio"),
    (["--metric", "hitratio"], "--metric 'hitratio' was not recorded in this sweep; did you mean 'hit_ratio'? "
                               "recorded: mse, hit_ratio"),
])
def test_report_options_that_cannot_be_honoured_are_refused_in_one_line(fixture_sweep, capsys, argv, message):
    code, out, err = gd(capsys, ["report", str(fixture_sweep), *argv])
    assert (code, out) == (1, "") and err.strip() == f"error: {message}"


def test_a_metric_given_twice_is_reported_once(fixture_sweep, capsys):
    code, out, err = gd(capsys, ["report", str(fixture_sweep), "--format", "csv", "--metric", "mse", "--metric", "mse"])
    assert code == 0, err
    assert out.splitlines()[0].count("final_mse_mean") == 1


@pytest.mark.parametrize("target, message", [
    ("adir", "-o {target} is a directory; give an image file path such as {target}/curves.png"),
    ("curves", "-o {target} has no file type; end it in .png, .svg, .pdf"),
    ("curves.pgn", "-o {target}: unknown image type '.pgn'; did you mean '.png'?"),
    ("afile/curves.png", "-o {target}: {tmp}/afile is a file, not a directory; choose another path"),
    ("afile/deeper/curves.png", "-o {target}: {tmp}/afile is a file, not a directory; choose another path"),
])
def test_plot_refuses_an_output_it_cannot_write_before_reading_the_sweep(faceted_sweep, tmp_path, capsys, target,
                                                                         message):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("keep me")
    target = tmp_path / target
    code, _, err = gd(capsys, ["plot", str(tmp_path / "no-sweep-here"), "-o", str(target)])
    assert code == 1 and err.strip() == "error: " + message.format(target=target, tmp=tmp_path)
    assert (tmp_path / "afile").read_text() == "keep me"


def test_plot_replaces_an_existing_file_only_with_a_complete_figure(faceted_sweep, tmp_path, capsys, monkeypatch):
    import errno

    from matplotlib.figure import Figure

    target = tmp_path / "curves.png"
    target.write_bytes(b"the figure of last week")
    save = Figure.savefig

    def disk_fills_up(self, fname, *args, **kwargs):
        (fname.write if hasattr(fname, "write") else Path(fname).write_bytes)(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", disk_fills_up)
    code, _, err = gd(capsys, ["plot", str(faceted_sweep), "-o", str(target)])
    assert code == 1 and err.strip() == (f"error: cannot write -o {target}: No space left on device; choose a "
                                         "writable path with free space")
    assert target.read_bytes() == b"the figure of last week" and set(tmp_path.iterdir()) == {faceted_sweep, target}
    monkeypatch.setattr(Figure, "savefig", save)
    old_umask = os.umask(0o027)
    try:
        code, _, err = gd(capsys, ["plot", str(faceted_sweep), "-o", str(target)])
    finally:
        os.umask(old_umask)
    assert code == 0, err
    assert target.read_bytes().startswith(b"\x89PNG\r\n") and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert set(tmp_path.iterdir()) == {faceted_sweep, target}  # no staging file left


def test_plot_into_a_directory_it_may_not_write_is_one_line(faceted_sweep, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    real_open = os.open

    def open_(path, *args, **kwargs):  # root ignores the mode bits, so the refusal is made for this directory
        if Path(path).parent == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    code, _, err = gd(capsys, ["plot", str(faceted_sweep), "-o", str(locked / "curves.png")])
    assert code == 1 and err.strip() == (f"error: cannot write -o {locked / 'curves.png'}: Permission denied; "
                                         "choose a writable path with free space")
    assert list(locked.iterdir()) == []


def test_plot_leaves_a_read_only_file_alone(faceted_sweep, tmp_path, capsys, monkeypatch):
    target = tmp_path / "published.png"
    target.write_bytes(b"the figure in the paper")
    target.chmod(0o444)
    access = os.access
    # root may write anything, so the file is made read-only for this test by name
    monkeypatch.setattr(os, "access", lambda path, mode: access(path, mode) and not (
        Path(path) == target and mode & os.W_OK))
    code, _, err = gd(capsys, ["plot", str(faceted_sweep), "-o", str(target)])
    assert code == 1 and err.strip() == f"error: -o {target} is read-only; make it writable or choose another path"
    assert target.read_bytes() == b"the figure in the paper"


def test_plot_creates_missing_directories(faceted_sweep, tmp_path, capsys):
    target = tmp_path / "figures" / "2024" / "curves.svg"
    code, _, err = gd(capsys, ["plot", str(faceted_sweep), "-o", str(target), "--metric", "mse"])
    assert code == 0 and f"wrote {target}" in err and target.read_text().startswith("<?xml")


# --------------------------------------------------------------------------------------------------- ties

@pytest.fixture
def tied_sweep(tmp_path) -> Path:
    """softuncertain and topuncertain tie for the best final hit ratio to 4 significant digits; random trails."""
    root = tmp_path / "tied"
    finals = {"random": [0.1, 0.2, 0.15], "softuncertain": [0.4, 0.5, 0.3], "topuncertain": [0.40001, 0.3, 0.5]}
    runs = [config(a, s) for a in finals for s in range(3)]
    record(root, runs)
    for run in runs:
        hit = finals[run.acquisition][run.seed]
        mse = 0.8 - 0.1 * run.seed - 0.01 * list(finals).index(run.acquisition)  # topuncertain the best, no tie
        write_run(root, run, {"mse": [1.0, 0.9, mse], "hit_ratio": [0.0, hit / 2, hit]}, data=DATA)
    return root


def test_a_tie_for_the_best_is_said_and_each_tied_one_is_a_reference(tied_sweep, capsys):
    report = paired_report(capsys, tied_sweep)
    rows = {r["acquisition"]: r for r in report["summary"]}
    # means 0.4 and 0.4000033: equal as printed, so they share rank 1
    assert rows["topuncertain"]["final_hit_ratio_mean"] > rows["softuncertain"]["final_hit_ratio_mean"]
    assert (rows["softuncertain"]["final_hit_ratio_rank"], rows["topuncertain"]["final_hit_ratio_rank"],
            rows["random"]["final_hit_ratio_rank"]) == (1, 1, 3)
    (best,) = [b for b in report["best"] if b["statistic"] == "final_hit_ratio"]
    assert (best["best"], best["tie"], best["seeds"], best["mean"]) == (["softuncertain", "topuncertain"], True, 3, 0.4)
    versus = [(r["acquisition"], r["versus"], r["tie"]) for r in report["differences"]
              if r["statistic"] == "final_hit_ratio" and r["reference"] == "best"]
    assert versus == [("random", "softuncertain", True), ("topuncertain", "softuncertain", True),
                      ("random", "topuncertain", True), ("softuncertain", "topuncertain", True)]
    # every acquisition is also compared with random as before, and nobody with itself
    assert {r["acquisition"] for r in report["differences"] if r["statistic"] == "final_hit_ratio"
            and r["reference"] == "random"} == {"softuncertain", "topuncertain"}
    code, out, _ = gd(capsys, ["report", str(tied_sweep), "--format", "markdown"])
    assert "| 0.4 ± 0.1 (1=) | 0.2333 ± 0.058 (1=) |" in out and "| 0.15 ± 0.05 (3) | 0.0875 ± 0.029 (3) |" in out
    assert "| topuncertain | 3 | 0.68 ± 0.1 (1) |" in out  # no tie in mse: no mark
    assert "| final hit ratio | random | best (tie): softuncertain | 3 |" in out
    assert "| final hit ratio | random | best (tie): topuncertain | 3 |" in out
    assert ("simulated · simulated · random_forest · batch 10: softuncertain, topuncertain tie for the best final "
            "hit ratio (mean 0.4 over 3 seeds); 'vs best' compares with each of them") in out
    assert "means equal to 4 significant digits tie and share the better rank, marked =" in out
    assert "| final mse | random | best: topuncertain | 3 |" in out  # without a tie, one best


def test_a_best_that_ties_with_random_keeps_rows_vs_the_other(tmp_path, capsys):
    root = tmp_path / "random-ties"
    finals = {"random": [0.3, 0.5], "coreset": [0.5, 0.3], "badge": [0.1, 0.2]}
    runs = [config(a, s) for a in finals for s in range(2)]
    record(root, runs)
    for run in runs:
        hit = finals[run.acquisition][run.seed]
        write_run(root, run, {"mse": [1.0, 0.9, 0.8], "hit_ratio": [0.0, hit / 2, hit]})
    rows = [(r["acquisition"], r["reference"], r["versus"], r["tie"])
            for r in paired_report(capsys, root)["differences"] if r["statistic"] == "final_hit_ratio"]
    assert rows == [("badge", "random", "random", False), ("coreset", "random", "random", False),
                    ("badge", "best", "coreset", True), ("random", "best", "coreset", True)]


# ------------------------------------------------------------------------ damage anywhere, property-based

BROKEN = '''
from gd_core import hookimpl


class Broken:
    """Raises in its second cycle: a failed run with a real failure.json."""

    requires = ()

    def select(self, pool, model, batch_size, rng):
        raise RuntimeError("broken on purpose")


@hookimpl
def gd_register_acquisitions(register):
    register("broken", Broken)
'''


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory, _session_data_dir) -> Path:
    """A real small sweep, made once: random and topuncertain × 2 seeds finished, and 2 failed runs."""
    from gd_apps import cli
    from tests.helpers import SMALL

    folder = tmp_path_factory.mktemp("finished")
    plugin = folder / "broken.py"
    plugin.write_text(BROKEN)
    params = [a for kind, values in SMALL.items() for key, value in values.items()
              for a in ("--param", f"{kind}.{key}={value}")]
    argv = ["sweep", "--out", str(folder / "sweep"), "--assay", "simulated", "--descriptor", "simulated",
            "--model", "random_forest", "--seeds", "2", "--cycles", "3", "--batch-size", "10", "--jobs", "1",
            "--plugin", str(plugin), *params,
            *[a for q in ("random", "topuncertain", "broken") for a in ("--acquisition", q)]]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GD_LOAD_PLUGINS", "")
        patch.setenv("GD_DATA_DIR", str(_session_data_dir))
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
    assert exit_.value.code == 1  # the two broken runs failed
    return folder / "sweep"


def _snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every entry under ``root``: kind, mode and content."""
    entries = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        entries[str(path.relative_to(root))] = ("dir" if path.is_dir() else "file", info.st_mode, content)
    return entries


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


NUMBER = re.compile(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?")
OTHER_VALUES = [0, 2.5, "text", True, None, [], {}, [1, "a"], {"x": 1}]


def _json_slots(value, slots):
    """Every (container, key) holding a value inside a JSON document."""
    for key, child in (value.items() if isinstance(value, dict) else enumerate(value)
                       if isinstance(value, list) else ()):
        slots.append((value, key))
        _json_slots(child, slots)
    return slots


def _damage(path: Path, how: str, data) -> bool:
    """Damage ``path`` as ``how`` says; whether its content certainly changed in a way a reader must notice."""
    if how == "delete":
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        return True
    if how == "directory to file":
        shutil.rmtree(path)
        path.write_bytes(data.draw(st.binary(max_size=16), label="content"))
        return True
    content = path.read_bytes()
    if how == "truncate":
        cut = content[:data.draw(st.integers(0, len(content) - 1), label="cut at")]
        path.write_bytes(cut)
        return cut.strip() != content.strip()  # only a trailing newline off a JSON file changes nothing
    if how == "random bytes":
        path.write_bytes(new := data.draw(st.binary(max_size=64), label="bytes"))
        return new != content
    if how == "number to text":
        match = data.draw(st.sampled_from(list(NUMBER.finditer(content))), label="number")
        text = data.draw(st.text(string.ascii_letters, min_size=1, max_size=6).filter(lambda t: not _is_number(t)),
                         label="text")
        path.write_bytes(changed := content[:match.start()] + text.encode() + content[match.end():])
        if path.suffix != ".json":
            return True
        try:  # a digit of a key or a name in a JSON file changes a string, which may still read well
            json.loads(changed)
        except ValueError:
            return True
        return False
    # another JSON type in place of one value
    document = json.loads(content)
    container, key = data.draw(st.sampled_from(_json_slots(document, [])), label="value")
    old = container[key]
    container[key] = data.draw(st.sampled_from([v for v in OTHER_VALUES if type(v) is not type(old)]), label="new")
    path.write_text(json.dumps(document))
    return False  # a field the report does not read may take any value


def _ways_to_damage(path: Path) -> list[str]:
    if path.is_dir():
        return ["delete", "directory to file"]
    ways = ["delete", "random bytes"]
    content = path.read_bytes()
    if content:
        ways.append("truncate")
    if NUMBER.search(content):
        ways.append("number to text")
    if path.suffix == ".json":
        try:
            if _json_slots(json.loads(content), []):
                ways.append("another JSON type")
        except ValueError:
            pass
    return ways


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_damage_anywhere_is_reported_around_or_refused_in_one_line(finished_sweep, capsys, data):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "sweep"
        shutil.copytree(finished_sweep, root)
        damaged: dict[Path, tuple[str, bool]] = {}
        for _ in range(data.draw(st.integers(1, 3), label="damages")):
            candidates = sorted(p for p in root.rglob("*") if p.name != ".lock")
            if not candidates:  # everything is gone already
                break
            path = data.draw(st.sampled_from(candidates), label="path")
            how = data.draw(st.sampled_from(_ways_to_damage(path)), label="how")
            damaged[path] = (how, _damage(path, how, data))
        before = _snapshot(root)
        for argv in (["report", str(root)], ["report", str(root), "--json"],
                     ["plot", str(root), "-o", str(Path(scratch) / "curves.png"), "--metric", "mse"]):
            code, out, err = gd(capsys, argv)
            assert code in (0, 1), (argv, err)
            assert "Traceback (most recent call last)" not in out + err and "error: unexpected " not in err, (argv, err)
            if code == 1:
                assert out == "" and err.startswith("error: ") and len(err.strip().splitlines()) == 1, (argv, err)
            if code == 0 and "--json" in argv:
                _check_the_listing(root, json.loads(out), damaged)
        assert _snapshot(root) == before, "the sweep directory changed"


def _check_the_listing(root: Path, report: dict, damaged: dict[Path, tuple[str, bool]]) -> None:
    """Damage the report must have noticed is listed; damage to files it does not read changes nothing."""
    listed = {Path(d["path"]) for d in report["damaged"]}
    assert all(str(path).startswith(str(root)) for path in listed)
    runs = report["runs"]
    assert runs["expected"] == runs["done"] + sum(len(runs[s]) for s in ("failed", "started", "missing", "damaged"))
    if all(path.name in ("selections.csv", "run.log") for path in damaged):
        assert listed == set() and runs["done"] == 4 and len(runs["failed"]) == 2
    sweep_intact = root / "sweep.json" not in damaged
    for path, (how, noticeable) in damaged.items():
        run_intact = path.parent not in damaged and path.parent / "config.json" not in damaged
        if path.name == "metrics.csv" and noticeable and sweep_intact and run_intact and (
                path.parent / "config.json").exists():
            assert path in listed, (how, report["damaged"])
        if path.name == "sweep.json" and noticeable:
            assert path in listed, (how, report["damaged"])


def test_a_runs_directory_that_is_a_file_is_one_line(fixture_sweep, capsys):
    shutil.rmtree(fixture_sweep / "runs")
    (fixture_sweep / "runs").write_text("oops")
    code, out, err = gd(capsys, ["report", str(fixture_sweep)])
    assert (code, out) == (1, "") and err.strip() == (
        f"error: {fixture_sweep / 'runs'} is not a directory, so no run of the sweep can be read; move it aside and "
        "run your `gd sweep` command(s) again")


def test_areas_are_over_each_runs_own_range_when_the_common_one_is_a_sliver():
    import pandas as pd

    from gd_apps.report import auc_range

    def curves(spans):
        return pd.DataFrame([(key, n) for key, (lo, hi) in spans.items() for n in (lo, hi)],
                            columns=["key", "n_acquired"])

    # a 5 × 32 screen beside 5 × 128 ones: 32–160 and 128–640 share 128–160, a quarter of the small run's range
    assert not auc_range(curves({"a": (32, 160), "b": (128, 640)})).common
    # the paper's batch 32 and 256: 32–1,280 and 256–2,560 share 256–1,280, most of either
    span = auc_range(curves({"a": (32, 1280), "b": (256, 2560)}))
    assert (span.lo, span.hi) == (256, 1280)
