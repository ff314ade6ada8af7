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


def config(acquisition: str, seed: int, assay: str = "simulated", batch_size: int = 10) -> RunConfig:
    return RunConfig(assay, "simulated", "random_forest", acquisition, batch_size, 3, seed=seed,
                     metrics=("mse", "hit_ratio"))


def write_run(root: Path, run: RunConfig, curves: dict[str, list[float]], n_acquired=N_ACQUIRED) -> None:
    directory = root / "runs" / run_key(run)
    directory.mkdir(parents=True)
    lines = ["cycle,n_acquired,metric,value"]
    for cycle, n in enumerate(n_acquired):
        lines += [f"{cycle},{n},{metric},{values[cycle]!r}" for metric, values in curves.items()]
    (directory / "metrics.csv").write_text("\n".join(lines) + "\n")
    (directory / "config.json").write_text(json.dumps({"settings": run.as_dict()}))


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
                              "hit_ratio": [0.05 * c + lift + 0.01 * run.seed for c in range(3)]}, n)
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
