"""Can one k-means restart be told apart from three? Paired runs of kmeans_data and kmeans_embedding.

    python benchmarks/kmeans_restarts.py [--out DIR] [--jobs 2] [--csv benchmarks/results/kmeans_restarts.csv]

The k-means acquisitions take the lowest-inertia clustering of ``n_init`` k-means++ runs (default 3; the
paper says only "k-means++"; scikit-learn's own default for k-means++ seeding has been one run since 1.4).
Restarts are most of their cost. This runs two ``gd sweep``s through gd's own loop, identical but for
``n_init`` (3, 1): schmidt_2021_il2, schmidt_2021_ifng and zhuang_2019_nk × ``gene_ontology`` × ``bnn`` ×
kmeans_data and kmeans_embedding × batch 64 × 10 cycles × seeds 0–4 (60 runs; finished runs are kept, so a
stopped sweep resumes). For every assay, acquisition, seed and cycle it takes one − three of the hit ratio
and of the relative MSE (MSE / variance of the test outcomes); per acquisition, metric and cycle, and over
the run (mean over its cycles), the 15 paired differences get a mean, a 95% t interval and an exact
sign-flip permutation p-value (``forest.py``'s statistics); "not separable" when the interval covers 0.
Prints the run-mean and last-cycle rows, the count of per-cycle intervals that exclude 0, and each
setting's seconds per run.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
from pathlib import Path

from forest import EQUIVALENCE_ASSAYS, EQUIVALENCE_METRICS, GD, RESULTS, paired, paired_sweeps

ACQUISITIONS = ("kmeans_data", "kmeans_embedding")
SETTINGS = {"three": 3, "one": 1}
SEEDS, CYCLES, BATCH = 5, 10, 64


def sweep(out: Path, n_init: int, jobs: int | None) -> None:
    """One sweep of the comparison with ``n_init`` restarts."""
    command = [GD, "sweep", "--out", str(out), "--descriptor", "gene_ontology", "--model", "bnn",
               "--batch-size", str(BATCH), "--cycles", str(CYCLES), "--seeds", str(SEEDS)]
    command += [a for q in ACQUISITIONS for a in ("--acquisition", q, "--param", f"{q}.n_init={n_init}")]
    command += [a for assay in EQUIVALENCE_ASSAYS for a in ("--assay", assay)]
    command += ["--jobs", str(jobs)] if jobs else []
    subprocess.run(command, check=True)


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("sweeps/kmeans-restarts"))
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--csv", type=Path, default=RESULTS / "kmeans_restarts.csv")
    args = parser.parse_args()
    both, seconds, swept = paired_sweeps(args.out, ("one", "three"),
                                         lambda out, name: sweep(out, SETTINGS[name], args.jobs), args.csv)

    print("| acquisition | metric | cycles | n_init 3 | n_init 1 | mean diff (1 − 3) | 95% CI | p (perm.) | verdict |")
    print("|---|---|---|---:|---:|---:|---|---:|---|")
    separated = 0
    for acquisition, metric in itertools.product(ACQUISITIONS, EQUIVALENCE_METRICS):
        block = both.xs((acquisition, metric), level=("acquisition", "metric"))
        per_cycle = list(block.groupby(level="cycle"))
        last_cycle, last = per_cycle[-1]
        genes = int(last.index.get_level_values("n_acquired")[0])
        for label, g in [("run mean", block.groupby(level=["assay", "seed"]).mean()),
                         (f"last ({genes} genes)", last)]:
            r = paired(g["difference"].to_numpy())
            verdict = r["verdict"].replace("presorted", "one restart")
            print(f"| {acquisition} | {metric} | {label} | {g['three'].mean():.4f} | {g['one'].mean():.4f} | "
                  f"{r['mean_diff']:+.4f} | [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['p_permutation']:.2f} | "
                  f"{verdict} |")
        separated += sum(1 for _, g in per_cycle if not (lambda r: r["ci_low"] <= 0 <= r["ci_high"])(
            paired(g["difference"].to_numpy())))
    tests = len(ACQUISITIONS) * len(EQUIVALENCE_METRICS) * CYCLES
    print(f"\nper-cycle intervals excluding 0: {separated} of {tests} (chance at 95%: about {0.05 * tests:.0f})")
    print("\n| acquisition | n_init | runs | seconds per run, mean | sum |\n|---|---:|---:|---:|---:|")
    for acquisition in ACQUISITIONS:
        for name, n_init in SETTINGS.items():
            s = seconds[name].xs(acquisition, level="acquisition")
            print(f"| {acquisition} | {n_init} | {len(s)} | {s.mean():.1f} | {s.sum():.0f} |")
    print(f"\nboth sweeps: {swept:.0f} s wall (runs already finished are not redone)")


if __name__ == "__main__":
    main()
