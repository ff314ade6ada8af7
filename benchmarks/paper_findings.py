"""Section 5's two findings of the GeneDisco paper, re-measured on the bundled data with paired statistics.

    python benchmarks/paper_findings.py run [--out sweeps/findings] [--jobs 2]   # the sweep (resumable), then
    python benchmarks/paper_findings.py verdicts [--out sweeps/findings] [--json]  # the verdicts

The paper (Section 5, "Results"): (a) "model-independent acquisition methods using diversity heuristics
(random, kmeansdata) perform relatively better in terms of model improvement than acquisition functions based
on model uncertainty (e.g., topuncertain, softuncertain) when using lower batch acquisition sizes than in
regimes with larger batch acquisition sizes"; (b) "while diversity-focused, model-independent acquisition
functions, such as random and kmeansdata, perform well in terms of model performance, they underperform in
terms of interesting hits discovered".

The sweep: schmidt_2021_il2 and schmidt_2021_ifng × gene_ontology × bnn × {random, kmeans_data, topuncertain,
softuncertain} × batch 32 and 256 (the paper's cycle rule: 40 and 10 cycles) × seeds 0–4, with the test split
fixed across seeds (split seed 0), so every comparison is paired by seed.

Per assay and seed, with D = the mean over {random, kmeans_data} and U = the mean over {topuncertain,
softuncertain}:

- (a) The model-error advantage of diversity at batch b is A_b = MSE(U) − MSE(D), MSE being the area under the
  test-MSE curve over the genes-acquired range both batch sizes cover (256–1,280), divided by the test
  variance. The finding says A_32 > A_256: the paired difference A_32 − A_256 over seeds is tested.
- (b) At each batch size, hit ratio(D) − hit ratio(U), for the final hit ratio and its area over the same
  range; the finding says it is negative.

Each test is a two-sided paired t-test with a 95% interval (``gd_apps.report.compare``). The verdict is
"reproduced" when the interval lies on the finding's side of 0, "contradicted" when on the other side, and
"not separable" when it contains 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ASSAYS = ("schmidt_2021_il2", "schmidt_2021_ifng")
DIVERSITY = ("random", "kmeans_data")
UNCERTAINTY = ("topuncertain", "softuncertain")
SMALL, LARGE = 32, 256
SEEDS = 5
DEFAULT_OUT = Path("sweeps/findings")


def run(out: Path, jobs: int | None) -> None:
    """The sweep behind the verdicts (finished runs are kept, so a stopped sweep resumes)."""
    command = [str(Path(sys.executable).parent / "gd"), "sweep", "--out", str(out), "--descriptor", "gene_ontology",
               "--model", "bnn", "--seeds", str(SEEDS), "--batch-size", str(SMALL), "--batch-size", str(LARGE)]
    command += [a for assay in ASSAYS for a in ("--assay", assay)]
    command += [a for q in (*DIVERSITY, *UNCERTAINTY) for a in ("--acquisition", q)]
    command += ["--jobs", str(jobs)] if jobs else []
    subprocess.run(command, check=True)


def group_means(out: Path) -> pd.DataFrame:
    """Per assay, batch size and seed: relative AUC MSE, final and AUC hit ratio of the D and U groups."""
    from gd_apps.report import load_results, per_run

    runs = per_run(load_results(out), ["mse", "hit_ratio"])  # AUCs over the range common to all runs
    stats = ["auc_relative_mse", "final_hit_ratio", "auc_hit_ratio"]
    rows = []
    for (assay, batch, seed), block in runs.groupby(["assay", "batch_size", "seed"]):
        by_acquisition = block.set_index("acquisition")[stats]
        if not set(DIVERSITY + UNCERTAINTY) <= set(by_acquisition.index):
            continue  # an unfinished seed cannot be paired
        row = {"assay": assay, "batch_size": batch, "seed": seed}
        for stat in stats:
            row[f"D_{stat}"] = by_acquisition.loc[list(DIVERSITY), stat].mean()
            row[f"U_{stat}"] = by_acquisition.loc[list(UNCERTAINTY), stat].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(differences: np.ndarray, expected_sign: int) -> dict:
    """The paired test of ``differences`` and whether it reproduces a finding that says their sign."""
    from gd_apps.report import compare

    result = compare(differences, lower_is_better=False)
    if result["verdict"] in ("better", "worse"):
        side = 1 if result["ci_low"] > 0 else -1
        result["outcome"] = "reproduced" if side == expected_sign else "contradicted"
    else:
        result["outcome"] = result["verdict"]  # not separable, too few seeds, identical or constant difference
    return result


def verdicts(out: Path) -> list[dict]:
    """One row per tested claim and assay."""
    means = group_means(out)
    if means.empty:
        raise SystemExit(f"{out} holds no complete seed yet; run `python {sys.argv[0]} run --out {out}` first")
    rows = []
    for assay, block in means.groupby("assay"):
        by_batch = {b: block[block["batch_size"] == b].set_index("seed") for b in (SMALL, LARGE)}
        seeds = sorted(set(by_batch[SMALL].index) & set(by_batch[LARGE].index))
        advantage = {b: (by_batch[b]["U_auc_relative_mse"] - by_batch[b]["D_auc_relative_mse"]).loc[seeds]
                     for b in (SMALL, LARGE)}
        for b in (SMALL, LARGE):
            rows.append({"finding": "a", "assay": assay, "claim": f"diversity's MSE advantage at batch {b} (U − D)",
                         **verdict(advantage[b].to_numpy(), +1)})
        rows.append({"finding": "a", "assay": assay,
                     "claim": f"diversity's MSE advantage larger at batch {SMALL} than {LARGE}",
                     **verdict((advantage[SMALL] - advantage[LARGE]).to_numpy(), +1)})
        for b in (SMALL, LARGE):
            for stat in ("final_hit_ratio", "auc_hit_ratio"):
                table = by_batch[b]
                rows.append({"finding": "b", "assay": assay,
                             "claim": f"{stat.replace('_', ' ')} at batch {b}: D − U < 0",
                             **verdict((table[f"D_{stat}"] - table[f"U_{stat}"]).to_numpy(), -1)})
    return rows


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("run", "verdicts"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.what == "run":
        run(args.out, args.jobs)
    rows = verdicts(args.out)
    if args.json:
        print(json.dumps(rows, indent=2, default=float))
        return
    print("| finding | assay | claim | pairs | mean diff | 95% CI | p | verdict |")
    print("|---|---|---|---:|---:|---|---:|---|")
    for r in rows:
        ci = "–" if np.isnan(r["ci_low"]) else f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
        p = "–" if np.isnan(r["p"]) else f"{r['p']:.2g}"
        print(f"| {r['finding']} | {r['assay']} | {r['claim']} | {r['pairs']} | {r['mean_diff']:+.4f} | {ci} | {p} "
              f"| {r['outcome']} |")


if __name__ == "__main__":
    main()
