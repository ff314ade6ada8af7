"""The random forest's two backends: what each costs, and whether their runs can be told apart.

    python benchmarks/forest.py speed [--wide DESCRIPTOR] [--repeats 2]       # fit and predict times
    python benchmarks/forest.py run [--descriptor D] [--backend B]            # one whole `gd run`, timed
    python benchmarks/forest.py equivalence [--out DIR] [--jobs 2]            # paired runs, statistics

``speed``: the forest fitted on N genes drawn from the non-test pool (seed 0) of a screen prepared by gd's own
loop, for N × width = 2,560 × 128 (``gene_ontology`` on schmidt_2021_il2) and 512 and 5,000 × the width of
``--wide`` (default: the simulated descriptor with 808 features, on the simulated assay; a path to a gene ×
feature table runs on schmidt_2021_il2 instead). Each backend's fit is timed on 1 and 2 threads (the fastest
of ``--repeats``: its wall time and the CPU time of all its threads), then its prediction of every tree on the
whole non-test pool. The 1-minute load average before and after each is recorded: others' work on the machine
slows the wall times, far less the CPU times. scikit-learn's fit on 5,000 genes
is timed on 10 trees and scaled to 100 (its cost per tree is constant; the presorted backend's per-forest sort
is not, so it always grows all 100). "Efficiency" is the 1-thread time divided by twice the 2-thread time.
Rows are appended to ``--csv`` (default benchmarks/results/forest_speed.csv).

``run``: the reference's workload as one ``gd run`` (schmidt_2021_il2 × ``--descriptor``, random acquisition,
batch 64, 8 cycles, seed 0) with the forest on 1 and on 2 threads; prints the whole command's wall time, the sum of its
fit times (from run.log) and the ratio of the 2-thread wall time to half the 1-thread fit time: 1.0 would be a
run that is nothing but perfectly parallel fitting.

``equivalence``: two ``gd sweep``s through gd's own loop, identical but for ``random_forest.backend``:
schmidt_2021_il2, schmidt_2021_ifng and zhuang_2019_nk × ``gene_ontology`` × random and topuncertain ×
batch 64 × 10 cycles × seeds 0–4 (60 runs; finished runs are kept, so a stopped sweep resumes). Both backends of
one seed share the test split and the first batch, and random acquisition picks the same genes whatever the
model, so there the runs differ only by the model's error. For every assay, acquisition, seed and cycle the
difference presorted − scikit-learn of the hit ratio and of the relative MSE (MSE / variance of the test
outcomes) is taken. Per acquisition, metric and cycle, and over the run (mean over its cycles), the 15 paired
differences (3 assays × 5 seeds) get a mean, a 95% t interval and an exact two-sided sign-flip permutation
p-value; "not separable" when the interval covers 0. Rows go to ``--csv`` (default
benchmarks/results/forest_equivalence.csv).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from run_profile import log_times, workload  # compare.sh's gd command, and reading its run.log

BACKENDS = ("presorted", "sklearn")
RESULTS = Path(__file__).resolve().parent / "results"
GD = str(Path(sys.executable).parent / "gd")

EQUIVALENCE_ASSAYS = ("schmidt_2021_il2", "schmidt_2021_ifng", "zhuang_2019_nk")
EQUIVALENCE_ACQUISITIONS = ("random", "topuncertain")
EQUIVALENCE_METRICS = ("hit_ratio", "relative_mse")
SEEDS, CYCLES, BATCH = 5, 10, 64


# --- speed -------------------------------------------------------------------------------------------------

def screen(descriptor: str, width: int | None):
    """gd's prepared screen: (X, y, non-test pool). A registered descriptor other than gene_ontology is simulated."""
    from gd_core.loop import RunConfig, prepare
    from gd_core.plugins import PluginHost

    params, assay = {}, "schmidt_2021_il2"
    if descriptor == "simulated":
        params, assay = {"descriptor": {"n_features": width}}, "simulated"
    config = RunConfig(assay=assay, descriptor=descriptor, model="random_forest", acquisition="random",
                       batch_size=64, cycles=1, seed=0, params=params)
    plan = prepare(config, PluginHost(entry_points=False).registries, on_status=lambda message: None)
    return plan.dataset.X, plan.dataset.y, plan.pool


def best_of(repeats: int, function) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) of the fastest of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        function()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return min(times)


def speed(args) -> None:
    from threadpoolctl import threadpool_limits

    from gd_plugins_builtin.forest import RandomForest

    RandomForest(n_estimators=2).fit(np.eye(4), np.arange(4.0), np.random.default_rng(0))  # compile before timing
    shapes = [("gene_ontology", None, 2560), (args.wide, 808, 512), (args.wide, 808, 5000)]
    rows = []
    for descriptor, width, n in shapes:
        X, y, pool = screen(descriptor, width)
        train = np.random.default_rng([0, n]).choice(pool, n, replace=False)
        X_train, y_train, X_pool = X[train], y[train], X[pool]
        for backend in BACKENDS:
            trees = 10 if backend == "sklearn" and n * X.shape[1] > 2_000_000 else 100
            for threads in (1, 2):
                model = RandomForest(n_estimators=trees, n_jobs=threads, backend=backend)
                load = os.getloadavg()[0]
                with threadpool_limits(1):
                    fit, fit_cpu = best_of(args.repeats, lambda: model.fit(X_train, y_train, np.random.default_rng(0)))
                    predict, _ = best_of(args.repeats, lambda: model.sample(X_pool))
                scale = 100 / trees
                row = {"descriptor": Path(descriptor).name, "genes": n, "features": X.shape[1], "backend": backend,
                       "threads": threads, "trees_timed": trees, "fit_s_per_100_trees": fit * scale,
                       "fit_cpu_s_per_100_trees": fit_cpu * scale, "predict_pool_s_per_100_trees": predict * scale,
                       "pool": len(pool), "load_before": load, "load_after": os.getloadavg()[0]}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    table.insert(0, "date", time.strftime("%Y-%m-%d"))
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, mode="a", header=not args.csv.exists(), index=False)
    print(speed_table(table))


def speed_table(table: pd.DataFrame) -> str:
    """Markdown: per shape, each backend's fit and predict time on 1 and 2 threads, and the ratios."""
    lines = ["| genes × features (descriptor) | backend | fit, 1 thread: wall / CPU | fit, 2 threads: wall / CPU | "
             "efficiency | predict pool, 1 / 2 threads | CPU: sklearn ÷ presorted | load |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (descriptor, n, width), block in table.groupby(["descriptor", "genes", "features"], sort=False):
        t = block.set_index(["backend", "threads"])
        for backend in BACKENDS:
            one, two = t.loc[(backend, 1)], t.loc[(backend, 2)]
            ratio = (t.loc[("sklearn", 1), "fit_cpu_s_per_100_trees"]
                     / t.loc[("presorted", 1), "fit_cpu_s_per_100_trees"])
            loads = [one.load_before, one.load_after, two.load_before, two.load_after]
            lines.append(f"| {n:,} × {width} ({descriptor}) | {backend} | {one.fit_s_per_100_trees:.2f} / "
                         f"{one.fit_cpu_s_per_100_trees:.2f} s | {two.fit_s_per_100_trees:.2f} / "
                         f"{two.fit_cpu_s_per_100_trees:.2f} s | "
                         f"{one.fit_s_per_100_trees / (2 * two.fit_s_per_100_trees):.2f} | "
                         f"{one.predict_pool_s_per_100_trees:.2f} / {two.predict_pool_s_per_100_trees:.2f} s | "
                         + (f"{ratio:.1f}× |" if backend == "sklearn" else "|")
                         + f" {min(loads):.1f}–{max(loads):.1f} |")
    return "\n".join(lines)


# --- one whole run -----------------------------------------------------------------------------------------

def whole_run(args) -> None:
    results = {}
    for threads in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            command = [GD, *workload(args.descriptor, "random_forest", Path(out) / "run"),
                       "--param", f"model.backend={args.backend}", "--param", f"model.n_jobs={threads}"]
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            times = log_times(Path(out) / "run")
        loop, fits = times["loop"], times["fits"]
        results[threads] = {"wall_s": wall, "loop_s": loop, "fit_s": fits}
        print(f"{threads} thread(s): whole command {wall:.1f} s, loop {loop:.1f} s, fits {fits:.1f} s "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
    half = results[1]["fit_s"] / 2
    print(f"2-thread loop ÷ (1-thread fits ÷ 2) = {results[2]['loop_s'] / half:.2f}; "
          f"2-thread whole command ÷ (1-thread fits ÷ 2) = {results[2]['wall_s'] / half:.2f}")


# --- equivalence -------------------------------------------------------------------------------------------

def sweep(out: Path, model: str, acquisitions: Sequence[str], params: Sequence[str], jobs: int | None) -> None:
    """One side of a paired comparison: EQUIVALENCE_ASSAYS × ``gene_ontology`` × ``model`` × ``acquisitions`` ×
    batch 64 × 10 cycles × seeds 0–4, with the settings ``params`` (``NAME.KEY=VALUE``); resumes a stopped one."""
    command = [GD, "sweep", "--out", str(out), "--descriptor", "gene_ontology", "--model", model,
               "--batch-size", str(BATCH), "--cycles", str(CYCLES), "--seeds", str(SEEDS)]
    command += [a for p in params for a in ("--param", p)]
    command += [a for assay in EQUIVALENCE_ASSAYS for a in ("--assay", assay)]
    command += [a for q in acquisitions for a in ("--acquisition", q)]
    command += ["--jobs", str(jobs)] if jobs else []
    subprocess.run(command, check=True)


def curves(out: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Hit ratio and relative MSE per assay, acquisition, seed and cycle; and each run's seconds."""
    from gd_apps.report import load_results

    results = load_results(out)
    runs = results.runs.set_index("key")
    c = results.curves[results.curves["metric"].isin(["hit_ratio", "mse"])].copy()
    relative = c["metric"] == "mse"
    c.loc[relative, "value"] = c.loc[relative, "value"] / runs.loc[c.loc[relative, "key"], "test_variance"].to_numpy()
    c.loc[relative, "metric"] = "relative_mse"
    seconds = pd.Series({key: json.loads((out / "runs" / key / "config.json").read_text())["seconds"]
                         for key in runs.index[runs["state"] == "done"]})
    seconds.index = pd.MultiIndex.from_frame(runs.loc[seconds.index, ["acquisition", "assay", "seed"]])
    return c.set_index(["assay", "acquisition", "seed", "cycle", "n_acquired", "metric"])["value"], seconds


def paired(d: np.ndarray) -> dict:
    """Mean, 95% t interval and exact two-sided sign-flip permutation p of paired differences."""
    from scipy import stats

    n = len(d)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n) if sd > 0 else 0.0
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))  # 2^n sign patterns (n = 15: 32,768)
    p = float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12)) if d.any() else 1.0
    low, high = mean - half, mean + half
    verdict = "identical" if not d.any() else "not separable" if low <= 0 <= high else (
        "presorted higher" if low > 0 else "presorted lower")
    return {"pairs": n, "mean_diff": mean, "ci_low": low, "ci_high": high, "p_permutation": p, "verdict": verdict}


def paired_sweeps(out: Path, settings: tuple[str, str], run_sweep, csv: Path) -> tuple[pd.DataFrame, dict, float]:
    """Run ``run_sweep(out / name, name)`` for both settings; their curves side by side with the difference
    first − second (written to ``csv``), each setting's seconds per run, and the sweeps' wall seconds."""
    started = time.perf_counter()
    for name in settings:
        run_sweep(out / name, name)
    swept = time.perf_counter() - started
    values, seconds = {}, {}
    for name in settings:
        values[name], seconds[name] = curves(out / name)
    both = pd.DataFrame(values).dropna()
    both["difference"] = both[settings[0]] - both[settings[1]]
    csv.parent.mkdir(parents=True, exist_ok=True)
    both.reset_index().to_csv(csv, index=False, float_format="%.6g")
    return both, seconds, swept


def equivalence(args) -> None:
    both, seconds, swept = paired_sweeps(
        args.out, BACKENDS,
        lambda out, b: sweep(out, "random_forest", EQUIVALENCE_ACQUISITIONS, [f"random_forest.backend={b}"], args.jobs),
        args.csv)

    lines = ["| acquisition | metric | cycle | pairs | presorted | sklearn | mean diff | 95% CI | p (perm.) "
             "| verdict |", "|---|---|---|---:|---:|---:|---:|---|---:|---|"]
    for acquisition, metric in itertools.product(EQUIVALENCE_ACQUISITIONS, EQUIVALENCE_METRICS):
        block = both.xs((acquisition, metric), level=("acquisition", "metric"))
        per_run = block.groupby(level=["assay", "seed"]).mean()
        groups = [("run mean", per_run)] + [(str(c), g) for c, g in block.groupby(level="cycle")]
        for label, g in groups:
            r = paired(g["difference"].to_numpy())
            lines.append(f"| {acquisition} | {metric} | {label} | {r['pairs']} | {g['presorted'].mean():.4f} | "
                         f"{g['sklearn'].mean():.4f} | {r['mean_diff']:+.4f} | [{r['ci_low']:+.4f}, "
                         f"{r['ci_high']:+.4f}] | {r['p_permutation']:.2f} | {r['verdict']} |")
    print("\n".join(lines))
    print("\n| acquisition | backend | runs | seconds per run (one thread), mean | sum |\n|---|---|---:|---:|---:|")
    for acquisition in EQUIVALENCE_ACQUISITIONS:
        for backend in BACKENDS:
            s = seconds[backend].xs(acquisition, level="acquisition")
            print(f"| {acquisition} | {backend} | {len(s)} | {s.mean():.1f} | {s.sum():.0f} |")
    print(f"\nboth sweeps: {swept:.0f} s wall (runs already finished are not redone)")


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("speed")
    p.add_argument("--wide", default="simulated", help="descriptor of the wide shapes: simulated, or a table's path")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--csv", type=Path, default=RESULTS / "forest_speed.csv")
    p = commands.add_parser("run")
    p.add_argument("--descriptor", default="gene_ontology")
    p.add_argument("--backend", choices=BACKENDS, default="presorted")
    p = commands.add_parser("equivalence")
    p.add_argument("--out", type=Path, default=Path("sweeps/forest-equivalence"))
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--csv", type=Path, default=RESULTS / "forest_equivalence.csv")
    args = parser.parse_args()
    {"speed": speed, "run": whole_run, "equivalence": equivalence}[args.command](args)


if __name__ == "__main__":
    main()
