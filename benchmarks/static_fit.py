"""Static-fit R² of the models on real screens: does the ``bnn`` learn what the data allows?

For each assay (schmidt_2021_il2, sanchez_2021_tau) with the gene_ontology descriptor, the dataset is
built through gd's own code (``gd_core.loop.prepare``: alignment, and the test split with seed 0 and
test_fraction 0.2, as every run uses). For each training size (1,280 and 5,000) and seed (0, 1, 2), that
many training genes are drawn uniformly from the non-test pool; on them are fitted

- ``mean``: predicting the training mean (the line every model should stay above),
- ``ridge``: scikit-learn RidgeCV on the raw features, alphas = logspace(-2, 5, 30),
- ``bnn`` and ``random_forest``: gd's built-in models with their default parameters,

and each is scored on the test genes by R² = 1 − MSE / var(y_test) (so ``mean`` is slightly below 0).
Prints a markdown table (assay, n_train, model, mean R² ± sd over the seeds).

    .venv/bin/python benchmarks/static_fit.py            # the table (about 2.5 minutes on 2 cores)
    .venv/bin/python benchmarks/static_fit.py --json     # also the per-seed R² as JSON on stdout
    .venv/bin/python benchmarks/static_fit.py --variance # also the bnn's MC-dropout predictive variance
    .venv/bin/python benchmarks/static_fit.py --timing   # also one fit's time per model, 2,560 genes, 1 thread
    .venv/bin/python benchmarks/static_fit.py --bnn-widths 128,256   # also the bnn with other candidate widths

``--variance`` reports the median and 90th percentile over the non-test pool of the per-gene variance of
the ``bnn``'s posterior samples (outcome units²) after fitting on 1,280 genes (seed 0) of schmidt_2021_il2.
``--timing`` fits the default ``bnn`` (best of three) and ``random_forest`` (best of two) on 2,560 pool genes
of schmidt_2021_il2 on one thread. ``--bnn-widths W,W`` (repeatable) adds a row ``bnn[W,W]``: the ``bnn`` with
those candidate widths (``hidden_sizes``) for its cross-validation, fitted on the same genes with the same seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

ASSAYS = ("schmidt_2021_il2", "sanchez_2021_tau")
DESCRIPTOR = "gene_ontology"
SIZES = (1280, 5000)
SEEDS = (0, 1, 2)
MODELS = ("mean", "ridge", "bnn", "random_forest")


class _Mean:
    def fit(self, X, y, rng):
        self.value = float(np.mean(y, dtype=np.float64))
        return self

    def predict(self, X):
        return np.full(len(X), self.value)


class _Ridge:
    def fit(self, X, y, rng):
        from sklearn.linear_model import RidgeCV

        self.ridge = RidgeCV(alphas=np.logspace(-2, 5, 30)).fit(X, y)
        return self

    def predict(self, X):
        return self.ridge.predict(X)


def plan_for(assay: str, registries):
    """gd's own prepared run for this assay: aligned data, test split (seed 0) and the non-test pool."""
    from gd_core.loop import RunConfig, prepare

    config = RunConfig(assay=assay, descriptor=DESCRIPTOR, model="bnn", acquisition="random", batch_size=64,
                       cycles=1, seed=0, test_fraction=0.2)
    return prepare(config, registries, on_status=lambda message: None)


def model_for(name: str, registries):
    """An unfitted model: gd's ``bnn`` or ``random_forest``, the ``bnn`` with other widths (``bnn[128,256]``),
    or the ``mean`` and ``ridge`` references."""
    if name == "mean":
        return _Mean()
    if name == "ridge":
        return _Ridge()
    if name.startswith("bnn["):
        return registries.models.get("bnn").create(hidden_sizes=[int(w) for w in name[4:-1].split(",")])
    return registries.models.get(name).create()


def r2(y_true: np.ndarray, predicted: np.ndarray) -> float:
    """1 − MSE / var(y_true): 0 is predicting the test mean, negative is worse."""
    y_true = y_true.astype(np.float64)
    return 1.0 - float(np.mean((predicted - y_true) ** 2)) / float(np.var(y_true))


def measure(registries, models: tuple[str, ...] = MODELS) -> dict:
    """Per-seed R² for every assay × size × model: ``{assay: {n: {model: [r2 per seed]}}}``."""
    results: dict = {}
    for assay in ASSAYS:
        plan = plan_for(assay, registries)
        X, y = plan.dataset.X, plan.dataset.y
        X_test, y_test = X[plan.test], y[plan.test]
        results[assay] = {}
        for n in SIZES:
            results[assay][n] = {model: [] for model in models}
            for seed in SEEDS:
                train = np.random.default_rng([seed, n]).choice(plan.pool, n, replace=False)
                for name in models:
                    model = model_for(name, registries).fit(X[train], y[train], np.random.default_rng(seed))
                    results[assay][n][name].append(r2(y_test, np.asarray(model.predict(X_test))))
                print(f"{assay} n={n} seed={seed}: "
                      + ", ".join(f"{m} {results[assay][n][m][-1]:+.4f}" for m in models), file=sys.stderr)
    return results


def table(results: dict) -> str:
    """``measure``'s results as a markdown table, mean ± sd over the seeds."""
    lines = ["| assay | n_train | model | R² (mean ± sd, 3 seeds) |", "|---|---:|---|---:|"]
    for assay, by_size in results.items():
        for n, by_model in by_size.items():
            for name, values in by_model.items():
                lines.append(f"| {assay} | {n:,} | {name} | {np.mean(values):+.4f} ± {np.std(values, ddof=1):.4f} |")
    return "\n".join(lines)


def variance_scale(registries) -> dict:
    """The bnn's MC-dropout predictive variance over the pool (IL-2, 1,280 genes, seed 0) against var(y)."""
    plan = plan_for("schmidt_2021_il2", registries)
    X, y = plan.dataset.X, plan.dataset.y
    train = np.random.default_rng([0, 1280]).choice(plan.pool, 1280, replace=False)
    model = registries.models.get("bnn").create().fit(X[train], y[train], np.random.default_rng(0))
    variance = model.sample(X[plan.pool]).var(axis=0)
    return {"median": float(np.median(variance)), "p90": float(np.quantile(variance, 0.9)),
            "var_y_pool": float(np.var(y[plan.pool].astype(np.float64))), "hidden_size": model.hidden_size_}


def fit_seconds(registries) -> dict[str, float]:
    """Each built-in model's fastest one-thread fit on 2,560 IL-2 genes (a batch-64 run's last cycle), in s."""
    from threadpoolctl import threadpool_limits

    plan = plan_for("schmidt_2021_il2", registries)
    X, y = plan.dataset.X, plan.dataset.y
    train = np.random.default_rng([0, 2560]).choice(plan.pool, 2560, replace=False)
    seconds = {}
    with threadpool_limits(1):
        for name, params, repeats in (("bnn", {"n_threads": 1}, 3), ("random_forest", {"n_jobs": 1}, 2)):
            times = []
            for _ in range(repeats):
                model = registries.models.get(name).create(**params)
                start = time.perf_counter()
                model.fit(X[train], y[train], np.random.default_rng(0))
                times.append(time.perf_counter() - start)
            seconds[name] = min(times)
    return seconds


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="also print the per-seed R² as JSON")
    parser.add_argument("--variance", action="store_true", help="also report the bnn's MC-dropout variance")
    parser.add_argument("--timing", action="store_true", help="also time one fit of each model on 2,560 genes")
    parser.add_argument("--bnn-widths", action="append", default=[], metavar="W,W",
                        help="also the bnn with these candidate widths (repeatable)")
    args = parser.parse_args(argv)
    if not all(w.replace(",", "").isdigit() for w in args.bnn_widths):
        parser.error(f"--bnn-widths takes whole numbers separated by commas, e.g. 128,256; got {args.bnn_widths}")

    from gd_core.plugins import PluginHost

    registries = PluginHost(entry_points=False).registries
    results = measure(registries, (*MODELS, *(f"bnn[{w}]" for w in args.bnn_widths)))
    print(table(results))
    extra = {}
    if args.variance:
        extra["mc_variance"] = variance_scale(registries)
        v = extra["mc_variance"]
        print(f"\nbnn MC-dropout predictive variance over the pool (schmidt_2021_il2, 1,280 genes, seed 0): "
              f"median {v['median']:.3g}, 90th percentile {v['p90']:.3g} (var(y) {v['var_y_pool']:.3g}; "
              f"width {v['hidden_size']})")
    if args.timing:
        extra["fit_seconds_2560"] = fit_seconds(registries)
        print("\none fit on 2,560 genes × 128 features, 1 thread: "
              + ", ".join(f"{name} {value:.2f} s" for name, value in extra["fit_seconds_2560"].items()))
    if args.json:
        print(json.dumps({"r2": {a: {str(n): m for n, m in s.items()} for a, s in results.items()}, **extra}))


if __name__ == "__main__":
    main()
