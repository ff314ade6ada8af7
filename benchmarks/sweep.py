"""Time a real sweep: the paper's protocol for one assay × one descriptor × bnn × ten acquisitions × batch 64.

    python benchmarks/sweep.py grid [--seeds 5] [--jobs 2]   # 50 runs of 40 cycles × 64 (README's showcase)
    python benchmarks/sweep.py check [--acquisition A] [--seed S]  # re-run one run of it, compare with the CSV
    python benchmarks/sweep.py batch [--jobs 2]              # run cost against model and batch size
    python benchmarks/sweep.py width [--jobs 2]              # run cost against model and descriptor width
    python benchmarks/sweep.py estimate                      # the paper's whole grid, from the three above
    python benchmarks/sweep.py batch|width|estimate --param NAME.KEY=VALUE ...  # the same with other settings

`grid` is the benchmark of record: the paper's nine acquisitions and the `descriptor_norm` baseline. It
writes every run's final metrics and the sha256 of its result files to benchmarks/results/showcase_runs.csv
(committed), so `check` can re-run any one run with `gd run` and say whether it reproduces exactly.
`batch` runs every acquisition the paper ran with each model (the bnn's nine; the forest's five that need
neither an embedding nor gradients) once per batch size (paper cycle rule) on the real screen. `width` runs
the same once per descriptor width on a simulated screen of the same size (10 cycles: only the ratio to the
128-wide run is used), because the paper's descriptors are wider (808, 799, 420) than `gene_ontology`
(128). `estimate` sums, over the paper's grid, each model × acquisition × batch size's run time scaled by
that model and acquisition's width ratio. Wall time is the `gd sweep` command's;
CPU time is that of `gd sweep` and all its workers.

`--param NAME.KEY=VALUE` (repeatable; NAME a model or an acquisition, as `gd sweep --param`) measures and
estimates a variant: `batch` and `width` re-run only the runs it touches (every run of a model it names, the
runs of an acquisition it names) into folders named after it, and `estimate` uses those runs in place of
the defaults'. E.g. three k-means restarts (the default until 2026-11-30): `--param kmeans_data.n_init=3
--param kmeans_embedding.n_init=3`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

GD = str(Path(sys.executable).parent / "gd")
SETTING = ["--assay", "schmidt_2021_il2", "--descriptor", "gene_ontology"]
PAPER_ACQUISITIONS = ("random", "topuncertain", "softuncertain", "marginsample", "kmeans_data", "coreset", "badge",
                      "kmeans_embedding", "adversarialBIM")
ACQUISITIONS = (*PAPER_ACQUISITIONS, "descriptor_norm")
GRID_SETTINGS = ["--model", "bnn", "--batch-size", "64", "--cycles", "40"]  # the paper's rule at batch 64
RESULTS = Path(__file__).parent / "results" / "showcase_runs.csv"
RESULT_COLUMNS = ["acquisition", "seed", "key", "final_mse", "final_hit_ratio", "final_spearman",
                  "metrics_sha256", "selections_sha256"]
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
# The paper ran the bnn on Achilles (808 features), STRING (799) and CCLE (420), and the forest, with the five
# acquisitions that need neither an embedding nor gradients, on STRING and CCLE only (Appendix C.2, figs. 10–13).
PAPER_WIDTHS = {"bnn": (808, 799, 420), "random_forest": (799, 420)}
MODEL_ACQUISITIONS = {"bnn": PAPER_ACQUISITIONS,
                      "random_forest": ("random", "topuncertain", "softuncertain", "marginsample", "kmeans_data")}
PAPER_ASSAYS, PAPER_SEEDS = 4, 5
WIDTHS = (128, 420, 808)
N_GENES = 17_705  # schmidt_2021_il2 × gene_ontology, aligned
OUT = Path("/tmp/gd-benchmark-sweep")


def timed_sweep(args: list[str]) -> dict[str, float]:
    """Run `gd sweep ARGS`; wall seconds and the CPU seconds of it and its workers."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([GD, "sweep", *args], check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}


def run_seconds(out: Path) -> list[dict]:
    """Each finished run's settings and its own wall time, from its config.json."""
    rows = []
    for manifest in sorted((out / "runs").glob("*/config.json")):
        document = json.loads(manifest.read_text())
        settings = document["settings"]
        rows.append({k: settings[k] for k in ("model", "acquisition", "batch_size", "cycles", "seed")}
                    | {"seconds": document["seconds"]})
    return rows


def grid(jobs: int, seeds: int) -> dict:
    """The benchmark of record; also writes each run's results to ``RESULTS``."""
    out = OUT / "grid"
    args = [*SETTING, *GRID_SETTINGS, *[a for q in ACQUISITIONS for a in ("--acquisition", q)],
            "--seeds", str(seeds), "--jobs", str(jobs), "--out", str(out)]
    timing = timed_sweep(args)
    runs = run_seconds(out)
    write_results(out)
    return {"what": "grid", "jobs": jobs, "runs": len(runs), **timing,
            "cpu_seconds_per_run": round(timing["cpu_seconds"] / max(1, len(runs)), 1), "per_run": runs}


def run_results(directory: Path) -> dict[str, str]:
    """A finished run's final metrics (repr of the float, as in metrics.csv) and the sha256 of its result files."""
    import hashlib

    finals = {}
    for line in (directory / "metrics.csv").read_text().splitlines()[1:]:
        _, _, metric, value = line.split(",")
        finals[f"final_{metric}"] = value  # the last cycle's row comes last
    return {**finals, **{f"{name}_sha256": hashlib.sha256((directory / f"{name}.csv").read_bytes()).hexdigest()
                         for name in ("metrics", "selections")}}


def write_results(out: Path) -> None:
    """One CSV row per finished run of the grid, sorted by acquisition and seed."""
    import csv

    rows = []
    for manifest in (out / "runs").glob("*/config.json"):
        settings = json.loads(manifest.read_text())["settings"]
        rows.append({"acquisition": settings["acquisition"], "seed": settings["seed"], "key": manifest.parent.name,
                     **run_results(manifest.parent)})
    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS, "w", newline="") as handle:
        writer = csv.DictWriter(handle, RESULT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: (r["acquisition"], r["seed"])))


def check(acquisition: str, seed: int) -> dict:
    """Re-run one run of the grid with a plain `gd run` and compare its results with ``RESULTS``."""
    import csv
    import tempfile

    with open(RESULTS, newline="") as handle:
        stored = [r for r in csv.DictReader(handle) if r["acquisition"] == acquisition and int(r["seed"]) == seed]
    if not stored:
        raise SystemExit(f"{RESULTS} has no run of {acquisition} with seed {seed}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([GD, "run", *SETTING, *GRID_SETTINGS, "--acquisition", acquisition, "--seed", str(seed),
                        "--out", f"{tmp}/run"], check=True, capture_output=True)
        again = run_results(Path(tmp) / "run")
    differing = [k for k in again if again[k] != stored[0][k]]
    return {"what": "check", "acquisition": acquisition, "seed": seed, "identical": not differing,
            "differing": {k: {"stored": stored[0][k], "now": again[k]} for k in differing}}


def variant(params: list[str]) -> tuple[dict[str, tuple[str, ...]], str]:
    """What ``batch`` and ``width`` run for the settings ``params`` (``NAME.KEY=VALUE``): per model the
    acquisitions whose runs they touch, and the folders' suffix. Without settings, everything and no suffix."""
    if not params:
        return MODEL_ACQUISITIONS, ""
    names = {p.split(".", 1)[0] for p in params}
    known = set(MODEL_ACQUISITIONS) | {q for qs in MODEL_ACQUISITIONS.values() for q in qs}
    if not all("." in p and "=" in p for p in params) or not names <= known:
        raise SystemExit(f"--param takes NAME.KEY=VALUE with NAME one of {', '.join(sorted(known))}; got {params}")
    touched = {m: qs if m in names else tuple(q for q in qs if q in names) for m, qs in MODEL_ACQUISITIONS.items()}
    # A folder name that says the settings: 'bnn.hidden_sizes=[128,256]' → 'bnn.hidden_sizes=128_256'.
    suffix = "-" + "+".join(sorted(p.translate(str.maketrans(",", "_", "[] \"'")) for p in params))
    return {m: qs for m, qs in touched.items() if qs}, suffix


def settings_for(model: str, names: tuple[str, ...], params: list[str]) -> list[str]:
    """The ``gd sweep`` arguments that apply those of ``params`` that touch ``model`` or ``names``."""
    return [a for p in params if p.split(".", 1)[0] in (model, *names) for a in ("--param", p)]


def batch(jobs: int, params: list[str]) -> dict:
    """Run seconds against batch size under the paper's cycle rule, per model and acquisition, on the real screen."""
    acquisitions, suffix = variant(params)
    for model, names in acquisitions.items():
        timed_sweep([*SETTING, "--model", model, *[a for q in names for a in ("--acquisition", q)],
                     *settings_for(model, names, params),
                     "--seeds", "1", *[a for b in BATCH_SIZES for a in ("--batch-size", str(b))],
                     "--jobs", str(jobs), "--out", str(OUT / f"batch-{model}{suffix}")])
    return {"what": "batch", "per_run": [r for m in acquisitions for r in run_seconds(OUT / f"batch-{m}{suffix}")]}


def width(jobs: int, params: list[str]) -> dict:
    """Run seconds against descriptor width, per model and acquisition, on simulated screens of the real screen's
    size."""
    acquisitions, suffix = variant(params)
    for w in WIDTHS:
        for model, names in acquisitions.items():
            timed_sweep(["--assay", "simulated", "--descriptor", "simulated", "--model", model,
                         *[a for q in names for a in ("--acquisition", q)], *settings_for(model, names, params),
                         "--seeds", "1",
                         "--batch-size", "64", "--cycles", "10", "--param", f"descriptor.n_genes={N_GENES}",
                         "--param", f"assay.n_genes={N_GENES}", "--param", f"descriptor.n_features={w}",
                         "--jobs", str(jobs), "--out", str(OUT / f"width-{w}-{model}{suffix}")])
    return {"what": "width", "per_run": {w: [r for m in acquisitions
                                             for r in run_seconds(OUT / f"width-{w}-{m}{suffix}")] for w in WIDTHS}}


def measured(params: list[str]) -> tuple[dict, dict]:
    """Seconds per run from ``batch`` (by model, acquisition, batch size) and ``width`` (by model, acquisition,
    width); the runs that the settings ``params`` touch are those of their variant. Refuses a folder that
    lacks a run the estimate needs."""
    batch, width = {}, {}
    for acquisitions, suffix in [variant([])] + ([variant(params)] if params else []):
        for m, names in acquisitions.items():  # a variant's runs replace the default's
            runs = {f"batch-{m}{suffix}": run_seconds(OUT / f"batch-{m}{suffix}")}
            runs |= {f"width-{w}-{m}{suffix}": run_seconds(OUT / f"width-{w}-{m}{suffix}") for w in WIDTHS}
            for folder, found in runs.items():
                missing = set(names) - {r["acquisition"] for r in found}
                if missing:
                    again = "".join(f" --param '{p}'" for p in params) if suffix else ""
                    raise SystemExit(f"{OUT / folder} has no run of {', '.join(sorted(missing))}: run "
                                     f"`sweep.py {folder.split('-')[0]}{again}` first")
            batch |= {(r["model"], r["acquisition"], r["batch_size"]): r["seconds"]
                      for r in runs[f"batch-{m}{suffix}"]}
            width |= {(r["model"], r["acquisition"], w): r["seconds"]
                      for w in WIDTHS for r in runs[f"width-{w}-{m}{suffix}"]}
    return batch, width


def estimate(batch: dict, width: dict, params: list[str]) -> dict:
    """CPU hours of the paper's grid: each model × acquisition × batch size's run on the real screen (``batch``),
    scaled by that model and acquisition's measured cost at the paper's descriptor widths (``width``); both as
    ``measured`` returns them for the settings ``params``."""
    grid_runs = run_seconds(OUT / "grid")
    grid_cpu = json.loads((OUT / "grid.json").read_text())["cpu_seconds_per_run"]
    # CPU per second of run wall time in a sweep (imports, data loading and the parent's share).
    overhead = grid_cpu / (sum(r["seconds"] for r in grid_runs) / len(grid_runs))
    total, rows = 0.0, []
    for model, acquisitions in MODEL_ACQUISITIONS.items():
        for acquisition in acquisitions:
            for b in BATCH_SIZES:
                for w in PAPER_WIDTHS[model]:
                    nearest = min(WIDTHS, key=lambda x: abs(x - w))
                    ratio = width[model, acquisition, nearest] / width[model, acquisition, 128]
                    seconds = batch[model, acquisition, b] * ratio * overhead
                    runs = PAPER_ASSAYS * PAPER_SEEDS
                    total += seconds * runs
                    rows.append({"model": model, "acquisition": acquisition, "batch_size": b, "width": w,
                                 "runs": runs, "cpu_seconds_per_run": round(seconds, 1)})
    by_model = {m: round(sum(r["cpu_seconds_per_run"] * r["runs"] for r in rows if r["model"] == m) / 3600, 1)
                for m in MODEL_ACQUISITIONS}
    by_acquisition = {f"{m} {q}": round(sum(r["cpu_seconds_per_run"] * r["runs"] for r in rows
                                            if (r["model"], r["acquisition"]) == (m, q)) / 3600, 2)
                      for m, qs in MODEL_ACQUISITIONS.items() for q in qs}
    return {"what": "estimate", "params": params, "paper_runs": sum(r["runs"] for r in rows),
            "cpu_hours": round(total / 3600, 1), "cpu_hours_by_model": by_model,
            "cpu_hours_by_acquisition": by_acquisition, "cpu_per_wall": round(overhead, 2), "cells": rows}


def markdown(result: dict, batch: dict, width: dict) -> str:
    """The estimate's inputs (``measured``) and hours as markdown tables: seconds per run by batch size (128
    features), the cost at 420 and 808 features relative to 128, and CPU hours per model and acquisition."""
    lines = ["| model | acquisition | " + " | ".join(f"batch {b}" for b in BATCH_SIZES) + " | ×420 | ×808 | CPU h |",
             "|---|---|" + "---:|" * (len(BATCH_SIZES) + 3)]
    for model, acquisitions in MODEL_ACQUISITIONS.items():
        for q in acquisitions:
            hours = sum(c["cpu_seconds_per_run"] * c["runs"] for c in result["cells"]
                        if (c["model"], c["acquisition"]) == (model, q))
            lines.append(f"| `{model}` | `{q}` | " + " | ".join(f"{batch[model, q, b]:.1f}" for b in BATCH_SIZES) +
                         " | " + " | ".join(f"{width[model, q, w] / width[model, q, 128]:.2f}" for w in (420, 808)) +
                         f" | {hours / 3600:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["grid", "check", "batch", "width", "estimate"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--acquisition", default="topuncertain", help="check: the run's acquisition")
    parser.add_argument("--seed", type=int, default=0, help="check: the run's seed")
    parser.add_argument("--param", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="batch, width, estimate: a variant with this setting (repeatable)")
    options = parser.parse_args()
    if options.what == "check":
        result = check(options.acquisition, options.seed)
        print(json.dumps(result, indent=1))
        raise SystemExit(0 if result["identical"] else 1)
    if options.what == "grid":
        result = grid(options.jobs, options.seeds)
    elif options.what == "batch":
        result = batch(options.jobs, options.param)
    elif options.what == "width":
        result = width(options.jobs, options.param)
    else:
        inputs = measured(options.param)
        result = estimate(*inputs, options.param)
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = variant(options.param)[1] if options.what != "grid" else ""
    (OUT / f"{options.what}{suffix}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("per_run", "cells")},
                     indent=1))
    if options.what == "estimate":
        print(markdown(result, *inputs))


if __name__ == "__main__":
    main()
