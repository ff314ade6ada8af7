"""A whole `gd run` on a simulated pool of a million genes: wall time and peak memory per model × acquisition.

    python benchmarks/scale.py [--genes 1000000] [--features 128] [--cycles 8] [--batch-size 64]

Each run is a fresh `gd run` process (the simulated descriptor and assay generated, aligned and split, then
8 cycles × 64: every cycle fits the model and scores the whole pool), timed from outside; peak memory is the
run's maximum resident set size (``wait4``'s rusage). The goal is 10 minutes and 6 GB per run on a 2-core
machine. Prints a markdown table; exits 1 if a run fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GD = str(Path(sys.executable).parent / "gd")
RUNS = [(model, acquisition) for model in ("bnn", "random_forest") for acquisition in ("topuncertain", "kmeans_data")]


def timed_run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident GB of one `gd run ARGS` process."""
    started = time.perf_counter()
    process = subprocess.Popen([GD, "run", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"gd run {' '.join(args)} failed ({process.returncode}): {process.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024 ** 2  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genes", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    options = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="gd-scale-"))
    print(f"simulated pool: {options.genes:,} genes × {options.features} features, {options.cycles} cycles × "
          f"{options.batch_size}; load {open('/proc/loadavg').read().split()[0]}\n")
    print("| model | acquisition | wall | peak memory |\n|---|---|---:|---:|")
    try:
        for model, acquisition in RUNS:
            wall, peak = timed_run([
                "--assay", "simulated", "--descriptor", "simulated",
                "--param", f"descriptor.n_genes={options.genes}", "--param", f"assay.n_genes={options.genes}",
                "--param", f"descriptor.n_features={options.features}", "--model", model,
                "--acquisition", acquisition, "--batch-size", str(options.batch_size),
                "--cycles", str(options.cycles), "--seed", "0", "--out", str(out / f"{model}-{acquisition}")])
            print(f"| `{model}` | `{acquisition}` | {wall:.1f} s | {peak:.2f} GB |", flush=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
