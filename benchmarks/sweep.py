"""Time a real sweep: the paper's protocol for one assay × one descriptor × bnn × nine acquisitions × batch 64.

    python benchmarks/sweep.py grid [--seeds 5] [--jobs 2]   # 45 runs of 40 cycles × 64
    python benchmarks/sweep.py batch [--jobs 2]              # run cost against model and batch size
    python benchmarks/sweep.py width [--jobs 2]              # run cost against model and descriptor width
    python benchmarks/sweep.py estimate                      # the paper's whole grid, from the three above

`grid` is the benchmark of record. `batch` runs `topuncertain` once per model × batch size (paper cycle
rule) on the real screen. `width` runs it once per model × descriptor width on a simulated screen of the
same size (10 cycles: only the ratio is used), because the paper's descriptors are wider (808, 799, 420)
than `gene_ontology` (128). `estimate` scales the grid's CPU time per run by those ratios over the
paper's grid. Wall time is the `gd sweep` command's;
CPU time is that of `gd sweep` and all its workers.
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
ACQUISITIONS = ("random", "topuncertain", "softuncertain", "marginsample", "kmeans_data", "coreset", "badge",
                "kmeans_embedding", "adversarialBIM")
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
PAPER_WIDTHS = (808, 799, 420)  # Achilles, STRING, CCLE
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
    """The benchmark of record."""
    out = OUT / "grid"
    args = [*SETTING, "--model", "bnn", *[a for q in ACQUISITIONS for a in ("--acquisition", q)],
            "--batch-size", "64", "--seeds", str(seeds), "--jobs", str(jobs), "--out", str(out)]
    timing = timed_sweep(args)
    runs = run_seconds(out)
    return {"what": "grid", "jobs": jobs, "runs": len(runs), **timing,
            "cpu_seconds_per_run": round(timing["cpu_seconds"] / max(1, len(runs)), 1), "per_run": runs}


def batch(jobs: int) -> dict:
    """Run seconds against batch size under the paper's cycle rule, per model, on the real screen."""
    timed_sweep([*SETTING, "--model", "bnn", "--model", "random_forest", "--acquisition", "topuncertain",
                 "--seeds", "1", *[a for b in BATCH_SIZES for a in ("--batch-size", str(b))],
                 "--jobs", str(jobs), "--out", str(OUT / "batch")])
    return {"what": "batch", "per_run": run_seconds(OUT / "batch")}


def width(jobs: int) -> dict:
    """Run seconds against descriptor width, per model, on simulated screens of the real screen's size."""
    for w in WIDTHS:
        timed_sweep(["--assay", "simulated", "--descriptor", "simulated", "--model", "bnn", "--model",
                     "random_forest", "--acquisition", "topuncertain", "--seeds", "1", "--batch-size", "64",
                     "--cycles", "10", "--param", f"descriptor.n_genes={N_GENES}",
                     "--param", f"assay.n_genes={N_GENES}", "--param", f"descriptor.n_features={w}",
                     "--jobs", str(jobs), "--out", str(OUT / f"width-{w}")])
    return {"what": "width", "per_run": {w: run_seconds(OUT / f"width-{w}") for w in WIDTHS}}


def estimate() -> dict:
    """CPU hours of the paper's grid: the grid's CPU per run, scaled by the calibration ratios."""
    grid_runs = run_seconds(OUT / "grid")
    grid_cpu = json.loads((OUT / "grid.json").read_text())["cpu_seconds_per_run"]
    batch = {(r["model"], r["batch_size"]): r["seconds"] for r in run_seconds(OUT / "batch")}
    width = {(r["model"], w): r["seconds"] for w in WIDTHS for r in run_seconds(OUT / f"width-{w}")}
    # CPU per second of run wall time in the grid (imports, data loading and the parent's share).
    overhead = grid_cpu / (sum(r["seconds"] for r in grid_runs) / len(grid_runs))
    acquisitions = {"bnn": 9, "random_forest": 5}  # coreset, badge, kmeans_embedding, adversarialBIM need the bnn
    total, rows = 0.0, []
    for model, n_acquisitions in acquisitions.items():
        # bnn: the grid's mean over the nine acquisitions; the forest: its topuncertain run (fitting dominates)
        base = (sum(r["seconds"] for r in grid_runs) / len(grid_runs)) if model == "bnn" else batch[model, 64]
        base_topuncertain = batch[model, 64]
        for b in BATCH_SIZES:
            for w in PAPER_WIDTHS:
                nearest = min(WIDTHS, key=lambda x: abs(x - w))
                seconds = base * (batch[model, b] / base_topuncertain) * (width[model, nearest] / width[model, 128])
                runs = PAPER_ASSAYS * n_acquisitions * PAPER_SEEDS
                total += seconds * overhead * runs
                rows.append({"model": model, "batch_size": b, "width": w, "runs": runs,
                             "cpu_seconds_per_run": round(seconds * overhead, 1)})
    return {"what": "estimate", "paper_runs": sum(r["runs"] for r in rows), "cpu_hours": round(total / 3600, 1),
            "cpu_per_wall": round(overhead, 2), "cells": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["grid", "batch", "width", "estimate"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()
    if options.what == "grid":
        result = grid(options.jobs, options.seeds)
    elif options.what == "batch":
        result = batch(options.jobs)
    elif options.what == "width":
        result = width(options.jobs)
    else:
        result = estimate()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{options.what}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("per_run", "cells")},
                     indent=1))


if __name__ == "__main__":
    main()
