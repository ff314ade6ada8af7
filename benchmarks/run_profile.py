"""Where a `gd run`'s time goes: start-up and data loading, the models' fits, the rest of the loop, the exit.

    python benchmarks/run_profile.py [--descriptor /tmp/peer_descriptor.csv] [--repeats 2] [--code DIR]

Runs compare.sh's workload (Schmidt IL-2, batch 64, 8 cycles, seed 0, random) for each model as a fresh
`gd run` process, `--repeats` times in a row with one data cache, so the first row of a model is a first read
of a user table and the later rows read it from the cache. The parts come from the run's own log:
start-up and loading is process start to the log's first line (imports, reading and aligning the data); the
loop is its "finished in"; fits are the per-cycle "fit" times; exit is the remainder (writing results).
``--code DIR`` runs another checkout of gd (e.g. `git archive d7e06ef | tar -x -C DIR`) for a "before" column.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def workload(descriptor: str, model: str, out: Path) -> list[str]:
    """compare.sh's `gd run` arguments: Schmidt IL-2, random acquisition, batch 64, 8 cycles, seed 0."""
    return ["run", "--assay", "schmidt_2021_il2", "--descriptor", descriptor, "--model", model, "--acquisition",
            "random", "--batch-size", "64", "--cycles", "8", "--seed", "0", "--out", str(out)]


def log_times(run: Path) -> dict[str, float]:
    """From a run's run.log: when its first line was written (epoch s), the loop's seconds and the summed fits."""
    log = (run / "run.log").read_text().splitlines()
    first = datetime.strptime(STAMP.match(log[0]).group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    loop = float(re.search(r"finished in ([\d.]+)s", log[-1]).group(1))
    fits = sum(float(m.group(1)) for line in log if (m := re.search(r", fit ([\d.]+)s", line)))
    return {"first_line": first, "loop": loop, "fits": fits}


def launcher(code: str | None) -> list[str]:
    """The command that starts gd's CLI from ``code`` (older checkouts kept it at gd_core/launch.py); without
    ``code``, the installed gd's. Named explicitly: an editable install's import hook would otherwise serve a
    module the checkout lacks from the installed code."""
    package = "gd_apps" if code is None or (Path(code) / "gd_apps" / "launch.py").is_file() else "gd_core"
    return [sys.executable, "-c", f"from {package}.launch import main; main()"]


def profile(descriptor: str, model: str, out: Path, env: dict[str, str],
            code: str | None = None) -> dict[str, float]:
    """One `gd run` (of the checkout ``code``, else the installed gd): wall seconds and its parts."""
    launch = launcher(code)
    started_at = time.time()
    started = time.perf_counter()
    # Run from the output's folder: `python -c` puts the working directory first on sys.path, where a checkout
    # would shadow --code.
    subprocess.run([*launch, *workload(descriptor, model, out)], check=True, env=env, cwd=out.parent,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    times = log_times(out)
    startup = times["first_line"] - started_at
    return {"wall": wall, "startup_and_load": startup, "fits": times["fits"], "loop_rest": times["loop"] - times["fits"],
            "exit": wall - startup - times["loop"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptor", default="/tmp/peer_descriptor.csv")
    parser.add_argument("--models", nargs="+", default=["bnn", "random_forest"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--code", help="another gd checkout to run instead of the installed one")
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="gd-run-profile-"))
    # A fresh data cache: the first run of each model reads the user table, the later ones find it cached.
    env = {**os.environ, "GD_DATA_DIR": str(scratch / "data")}
    if options.code:
        env["PYTHONPATH"] = options.code
    print(f"code: {options.code or 'installed'}; descriptor {options.descriptor}; "
          f"load {open('/proc/loadavg').read().split()[0]}\n")
    print("| model | run | wall s | start-up + load s | fits s | rest of loop s | exit s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model in options.models:
        for repeat in range(options.repeats):
            parts = profile(options.descriptor, model, scratch / f"{model}-{repeat}", env, options.code)
            label = "first" if repeat == 0 else "cached"
            print(f"| `{model}` | {label} | " + " | ".join(f"{parts[k]:.2f}" for k in
                  ("wall", "startup_and_load", "fits", "loop_rest", "exit")) + " |", flush=True)


if __name__ == "__main__":
    main()
