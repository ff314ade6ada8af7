"""Can two settings of gd be told apart? Paired sweeps through gd's own loop, identical but for the settings.

    python benchmarks/paired_settings.py --setting LABEL [NAME.KEY=VALUE ...] --setting LABEL [NAME.KEY=VALUE ...] \
        --acquisition Q [--acquisition Q ...] [--model bnn] [--out DIR] [--jobs 2] [--csv FILE]

The first ``--setting`` is the baseline, the second the variant; each is a label (its sweep's folder under
``--out`` and its column in ``--csv``) and the ``gd sweep --param`` settings that make it (none: gd's
defaults). Both sweeps run schmidt_2021_il2, schmidt_2021_ifng and zhuang_2019_nk × ``gene_ontology`` ×
``--model`` × the acquisitions × batch 64 × 10 cycles × seeds 0–4 (finished runs are kept, so a stopped sweep
resumes). For every assay, acquisition, seed and cycle it takes variant − baseline of the hit ratio and of
the relative MSE (MSE / variance of the test outcomes); per acquisition, metric and cycle, and over the run
(mean over its cycles), the 15 paired differences get a mean, a 95% t interval and an exact sign-flip
permutation p-value (``forest.py``'s statistics); "not separable" when the interval covers 0. Prints the
run-mean and last-cycle rows, the count of per-cycle intervals that exclude 0, and each setting's seconds
per run. Examples (benchmarks/README.md has their tables):

    # one k-means restart against three
    python benchmarks/paired_settings.py --setting three kmeans_data.n_init=3 kmeans_embedding.n_init=3 \
        --setting one kmeans_data.n_init=1 kmeans_embedding.n_init=1 --acquisition kmeans_data \
        --acquisition kmeans_embedding --out /tmp/bench/kmeans-restarts --csv benchmarks/results/kmeans_restarts.csv
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from forest import CYCLES, EQUIVALENCE_METRICS, paired, paired_sweeps, sweep


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", action="append", nargs="+", required=True, metavar="LABEL [NAME.KEY=VALUE]",
                        help="twice: the baseline, then the variant")
    parser.add_argument("--acquisition", action="append", required=True)
    parser.add_argument("--model", default="bnn")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--csv", type=Path, required=True)
    args = parser.parse_args()
    if len(args.setting) != 2 or args.setting[0][0] == args.setting[1][0]:
        parser.error("give --setting twice, with two different labels: the baseline, then the variant")
    (base, *base_params), (other, *other_params) = args.setting
    params = {base: base_params, other: other_params}
    both, seconds, swept = paired_sweeps(
        args.out, (other, base), lambda out, name: sweep(out, args.model, args.acquisition, params[name], args.jobs),
        args.csv)

    print(f"| acquisition | metric | cycles | {base} | {other} | mean diff ({other} − {base}) | 95% CI | p (perm.) "
          "| verdict |")
    print("|---|---|---|---:|---:|---:|---|---:|---|")
    separated = 0
    for acquisition, metric in itertools.product(args.acquisition, EQUIVALENCE_METRICS):
        block = both.xs((acquisition, metric), level=("acquisition", "metric"))
        per_cycle = list(block.groupby(level="cycle"))
        _, last = per_cycle[-1]
        genes = int(last.index.get_level_values("n_acquired")[0])
        for label, g in [("run mean", block.groupby(level=["assay", "seed"]).mean()),
                         (f"last ({genes} genes)", last)]:
            r = paired(g["difference"].to_numpy())
            verdict = r["verdict"].replace("presorted", other)
            print(f"| {acquisition} | {metric} | {label} | {g[base].mean():.4f} | {g[other].mean():.4f} | "
                  f"{r['mean_diff']:+.4f} | [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['p_permutation']:.2f} | "
                  f"{verdict} |")
        for _, g in per_cycle:
            r = paired(g["difference"].to_numpy())
            separated += not r["ci_low"] <= 0 <= r["ci_high"]
    tests = len(args.acquisition) * len(EQUIVALENCE_METRICS) * CYCLES
    print(f"\nper-cycle intervals excluding 0: {separated} of {tests} (chance at 95%: about {0.05 * tests:.0f})")
    print("\n| acquisition | setting | runs | seconds per run, mean | sum |\n|---|---|---:|---:|---:|")
    for acquisition in args.acquisition:
        for name in (base, other):
            s = seconds[name].xs(acquisition, level="acquisition")
            print(f"| {acquisition} | {name} | {len(s)} | {s.mean():.1f} | {s.sum():.0f} |")
    print(f"\nboth sweeps: {swept:.0f} s wall (runs already finished are not redone)")


if __name__ == "__main__":
    main()
