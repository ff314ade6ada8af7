"""`gd report` and `gd plot` on a hand-written sweep directory whose numbers are checked by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gd_core.errors import GdError
from gd_core.loop import RunConfig
from gd_core.report import area_under_curve, load_results
from gd_core.sweep import Grid, SweepStore, run_key
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

    from gd_core.plot import DPI, FACET_INCHES, plot_curves

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
    from gd_core.plot import plot_curves

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
    assert header == ("assay,descriptor,model,batch_size,statistic,acquisition,reference,versus,pairs,mean_diff,"
                      "ci_low,ci_high,p,verdict,seeds_needed,note")
    assert any(",final_hit_ratio,topuncertain,random,random,3," in line and ",better,3," in line for line in lines)
    code, _, err = gd(capsys, ["report", str(paired_sweep), "--what", "differences"])
    assert code == 1 and "--what picks the table of --format csv" in err
    code, _, err = gd(capsys, ["report", str(paired_sweep), "--format", "csv", "--what", "everything"])
    assert code == 1 and "--what 'everything' is not one of summary, differences, baselines" in err


# ---------------------------------------------------------------------------------------- seeds needed

def test_seeds_needed_for_80_percent_power():
    from gd_core.report import seeds_for_power

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
    from gd_core.report import compare

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

    from gd_core.plot import draw_curves, plot_curves

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

    from gd_core.plot import draw_curves

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
