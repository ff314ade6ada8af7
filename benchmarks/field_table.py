"""The table the field is missing: hit ratio after 5 × 128 on BioDiscoveryAgent's screens, every strategy side by side.

    python benchmarks/field_table.py run [--out sweeps/field] [--jobs 2] [--seeds 5]   # the sweeps (resumable)
    python benchmarks/field_table.py table [--out sweeps/field]                        # the markdown tables
    python benchmarks/field_table.py plot [--out sweeps/field] [--image docs/img/field-table.png]  # the heat map

``run`` imports the real screens from ``../shared/data/screens`` into gd's data cache when they are not there yet
(``gd data import``, offline, checked against the pinned sha256), then runs two ``gd sweep`` grids:

- ``biodiscoveryagent``: the six BioDiscoveryAgent screens under ``--protocol biodiscoveryagent`` (5 rounds × 128,
  5 × 32 on Scharenberg's ~1,000-gene library; no test split; hits = the screen's published list);
- ``genedisco``: the bundled Schmidt IL-2 and IFN-γ screens under GeneDisco's protocol (test split 0.2, hits = top
  5% |y| of the other genes) at the same 5 × 128.

Both use the bundled ``gene_ontology`` descriptor (128 features, no download), the four models (random_forest,
bnn, gp, bayesian_linear) and the fifteen built-in acquisitions (``ACQUISITIONS``; pairs a model cannot serve are
skipped by ``gd sweep``), seeds 0 … N−1.

``table`` prints, per protocol, one row per model × acquisition and one column per screen: the final hit ratio as
mean ± sd over seeds, with its paired difference from ``random`` (same model, same seeds: the same first batch)
and a 95% confidence interval (``gd_apps.report.compare``); ``▲``/``▼`` mark strategies whose interval lies above
/ below 0, no mark means "not separable" from random. Random's analytic expectation and the oracle's ceiling
(``gd report``'s baselines) head each table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "screens"
#: assay name → the BioDiscoveryAgent file stem of its scores and hit list
BDA_SCREENS = {
    "bda_il2": "IL2", "bda_ifng": "IFNG", "carnevale_2022_adenosine": "Carnevale22_Adenosine",
    "steinhart_crispra_gd2_d22": "Steinhart_crispra_GD2_D22", "scharenberg_2022_choline": "Scharenberg22",
    "sanchez_2021_tau_down": "Sanchez21_down",
}
GENEDISCO_SCREENS = ("schmidt_2021_il2", "schmidt_2021_ifng")
MODELS = ("random_forest", "gp", "bayesian_linear", "bnn")
#: the paper's nine, the model-free floor, and the five hit-hunting baselines (installed plugins' are left out)
ACQUISITIONS = ("random", "topuncertain", "softuncertain", "marginsample", "coreset", "badge", "kmeans_data",
                "kmeans_embedding", "adversarialBIM", "descriptor_norm", "thompson", "ucb", "probability_of_hit",
                "exploit", "discobax")
GRIDS = {"biodiscoveryagent": tuple(BDA_SCREENS), "genedisco": GENEDISCO_SCREENS}


def gd(*args: str) -> None:
    """Run the ``gd`` of this checkout's environment; stop on failure."""
    subprocess.run([str(Path(sys.executable).with_name("gd")), *args], check=True)


def import_screens() -> None:
    """Put the six screens and their hit lists into gd's cache from the shared copies (offline), if absent."""
    from gd_core.helpers.downloads import CACHED, status
    from gd_plugins_builtin.screens import HIT_LISTS, REMOTES

    for name, stem in BDA_SCREENS.items():
        if status(REMOTES[name]) == CACHED and status(HIT_LISTS[name]) == CACHED:
            continue
        folder = SHARED / "biodiscoveryagent"
        gd("data", "import", name, str(folder / f"ground_truth_{stem}.csv"), str(folder / f"topmovers_{stem}.npy"))


def run(out: Path, jobs: int, seeds: int) -> None:
    """Both sweeps into ``out/<protocol>`` (an existing sweep is resumed)."""
    import_screens()
    for protocol, assays in GRIDS.items():
        args = ["sweep", "--out", str(out / protocol), "--protocol", protocol, "--descriptor", "gene_ontology",
                "--seeds", str(seeds), "--jobs", str(jobs)]
        args += [a for acquisition in ACQUISITIONS for a in ("--acquisition", acquisition)]
        args += [a for assay in assays for a in ("--assay", assay)]
        args += [a for model in MODELS for a in ("--model", model)]
        if protocol == "genedisco":  # the same budget as BioDiscoveryAgent's, under GeneDisco's split and hits
            args += ["--batch-size", "128", "--cycles", "5", "--metric", "hit_ratio"]
        gd(*args)


def against_the_best(runs: pd.DataFrame, assay: str) -> tuple[str, float, list[str]]:
    """On one screen: the strategy (model · acquisition) of highest mean final hit ratio, that mean, and the others
    that a paired test (by seed: the same first batch) cannot separate from it."""
    from gd_apps.report import compare

    by_seed = runs[runs["assay"] == assay].pivot_table(index="seed", columns=["model", "acquisition"],
                                                       values="final_hit_ratio")
    means = by_seed.mean()
    best = means.idxmax()
    tied = []
    for other in by_seed.columns:
        if other == best:
            continue
        pairs = by_seed[[best, other]].dropna()
        if compare((pairs[other] - pairs[best]).to_numpy(), False)["verdict"] in ("not separable", "identical"):
            tied.append(" · ".join(other))
    return " · ".join(best), float(means[best]), sorted(tied)


def table(out: Path, compact: bool = False) -> str:
    """The markdown tables of both sweeps; ``compact``: each cell only the mean and its mark."""
    from gd_apps.report import CEILING_ORACLE, EXPECTED_RANDOM, baselines, load_results, per_run

    parts = []
    for protocol, assays in GRIDS.items():
        results = load_results(out / protocol)
        runs = per_run(results, ["hit_ratio"])
        runs = runs[runs["assay"].isin(assays)]
        differences = differences_from_random(runs).set_index(["assay", "model", "acquisition"])
        summary = runs.groupby(["assay", "model", "acquisition"])["final_hit_ratio"].agg(["mean", "std", "count"])
        base = baselines(results).set_index(["assay", "baseline"])
        seeds = int(summary["count"].max())
        header = ["model", "acquisition", *assays]
        # one baseline row per model (the same numbers): the first
        rows = [["—", name, *[f"{float(np.ravel(base.loc[(a, name), 'final_hit_ratio'])[0]):.3f}" for a in assays]]
                for name in (EXPECTED_RANDOM, CEILING_ORACLE)]
        counts = {"better": 0, "worse": 0, "not separable": 0}
        for (model, acquisition), _ in summary.groupby(level=["model", "acquisition"]):
            cells = []
            for assay in assays:
                if (assay, model, acquisition) not in summary.index:
                    cells.append("")
                    continue
                mean, sd, _ = summary.loc[(assay, model, acquisition)]
                cell = f"{mean:.3f}" if compact else f"{mean:.3f} ± {sd:.3f}"
                if acquisition != "random":
                    d = differences.loc[(assay, model, acquisition)]
                    mark = {"better": " ▲", "worse": " ▼"}.get(d["verdict"], "")
                    counts[d["verdict"] if d["verdict"] in counts else "not separable"] += 1
                    if not compact:
                        cell += f" ({d['mean_diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}])"
                    cell += mark
                cells.append(cell)
            rows.append([model, acquisition, *cells])
        lines = [f"### `--protocol {protocol}`: final hit ratio, mean ± sd over {seeds} seeds "
                 "(paired difference from random of the same model [95% CI]; ▲/▼ separated from random)", "",
                 "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += ["", f"Strategies × screens vs random: {counts['better']} better, {counts['worse']} worse, "
                      f"{counts['not separable']} not separable.", ""]
        for assay in assays:
            best, mean, tied = against_the_best(runs, assay)
            lines.append(f"- {assay}: best {best} ({mean:.3f}); not separable from it: "
                         f"{len(tied)} ({', '.join(tied) if tied else 'none'})")
        lines.append("")
        parts.append("\n".join(lines))
    return "\n".join(parts)


def differences_from_random(runs: pd.DataFrame) -> pd.DataFrame:
    """Per screen, model and acquisition of ``runs`` (``gd_apps.report.per_run``): the final hit ratio's paired
    difference from random, with its verdict."""
    from gd_apps.report import paired_differences

    differences = paired_differences(runs, ["hit_ratio"], set())
    return differences[(differences["statistic"] == "final_hit_ratio") & (differences["reference"] == "random")]


def plot(out: Path, image: Path) -> None:
    """A heat map per protocol: rows model × acquisition, columns screens, colour the mean paired difference from
    random; ▲/▼ where the 95% interval excludes 0."""
    import matplotlib

    from gd_apps.report import load_results, per_run

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(GRIDS), figsize=(13, 11), squeeze=False,
                                gridspec_kw={"width_ratios": [len(a) for a in GRIDS.values()]})
    for ax, (protocol, assays) in zip(axes[0], GRIDS.items()):
        d = differences_from_random(per_run(load_results(out / protocol), ["hit_ratio"]))
        d = d[d["assay"].isin(assays)]
        rows = sorted({(m, a) for m, a in zip(d["model"], d["acquisition"])})
        grid = np.full((len(rows), len(assays)), np.nan)
        marks = [["" for _ in assays] for _ in rows]
        for record in d.itertuples():
            i, j = rows.index((record.model, record.acquisition)), assays.index(record.assay)
            grid[i, j] = record.mean_diff
            marks[i][j] = {"better": "▲", "worse": "▼"}.get(record.verdict, "")
        limit = np.nanmax(np.abs(grid))
        shown = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for i in range(len(rows)):
            for j in range(len(assays)):
                if marks[i][j]:
                    ax.text(j, i, marks[i][j], ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(assays)), assays, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [f"{m} · {a}" for m, a in rows], fontsize=7)
        ax.set_title(f"--protocol {protocol}", fontsize=10)
        figure.colorbar(shown, ax=ax, shrink=0.5, label="final hit ratio − random's (paired, mean over seeds)")
    figure.suptitle("Hit ratio after 5 × 128 genes, difference from random (▲/▼: 95% interval excludes 0)")
    figure.tight_layout()
    figure.savefig(image, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "table", "plot"))
    parser.add_argument("--image", type=Path, default=Path("docs/img/field-table.png"))
    parser.add_argument("--out", type=Path, default=Path("sweeps/field"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--compact", action="store_true", help="table cells with the mean and mark only")
    args = parser.parse_args()
    if args.command == "run":
        run(args.out, args.jobs, args.seeds)
    elif args.command == "plot":
        plot(args.out, args.image)
    else:
        print(table(args.out, args.compact))


if __name__ == "__main__":
    main()
