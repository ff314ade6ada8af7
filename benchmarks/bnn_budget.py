"""What a 30× `bnn` would have to fit in: where the default `bnn`'s fitting time goes on compare.sh's workload.

    python benchmarks/bnn_budget.py --reference-seconds S [--descriptor /tmp/peer_descriptor.csv] [--repeats 3]

Runs compare.sh's gd workload (Schmidt IL-2, the reference's 18,899 × 799 descriptor as a CSV file, random
acquisition, batch 64, 8 cycles, seed 0) in this process through gd's Python API, ``--repeats`` times, timing
inside every `bnn` fit the paper's per-cycle cross-validation (choosing the hidden width: 3 folds × 2 widths,
each network early-stopped ``patience`` epochs after its pooled held-out loss last fell) apart from the rest
(training the chosen width on every gene). The first run reads the data; the table is from the best repeat.
It also times, each as a fresh process (best of 3), ``python -c pass`` and ``python -c "import torch"``.

With ``--reference-seconds`` (the reference's wall time from compare.sh in the same hour) it prints the
whole-run budget a 30× `bnn` has, S / 30, beside the cross-validation's seconds alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from gd_plugins_builtin import bnn


def fresh_process_seconds(code: str, repeats: int = 3) -> float:
    """Best wall seconds of ``python -c code`` in a new process."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def timed_run(descriptor: str) -> list[dict[str, float]]:
    """One run of the workload; per fit: genes, chosen width, each width's epochs run, CV and total seconds."""
    from gd_apps.api import run

    fits: list[dict[str, float]] = []
    cross_validate, fit = bnn.BayesianMLP._cross_validate, bnn.BayesianMLP.fit
    spent = {"cv": 0.0}

    def timed_cross_validate(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return cross_validate(self, *args, **kwargs)
        finally:
            spent["cv"] = time.perf_counter() - started

    def timed_fit(self, X, *args, **kwargs):
        spent["cv"] = 0.0
        started = time.perf_counter()
        fitted = fit(self, X, *args, **kwargs)
        fits.append({"genes": len(X), "width": self.hidden_size_, "cv": spent["cv"],
                     "total": time.perf_counter() - started,
                     "best_epochs": dict(self.cv_epochs_), "final_epochs": self.epochs_})
        return fitted

    bnn.BayesianMLP._cross_validate, bnn.BayesianMLP.fit = timed_cross_validate, timed_fit
    try:
        run(assay="schmidt_2021_il2", descriptor=descriptor, model="bnn", acquisition="random", batch_size=64,
            cycles=8, seed=0)
    finally:
        bnn.BayesianMLP._cross_validate, bnn.BayesianMLP.fit = cross_validate, fit
    return fits


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptor", default="/tmp/peer_descriptor.csv")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-seconds", type=float, help="the reference's compare.sh wall time, same hour")
    options = parser.parse_args()
    print(f"load {open('/proc/loadavg').read().split()[0]}")
    runs = [timed_run(options.descriptor) for _ in range(options.repeats)]
    best = min(runs, key=lambda fits: sum(f["total"] for f in fits))
    print("\n| genes | chosen width | best epoch per width (128, 256) | final epochs | CV s | rest of fit s |")
    print("|---:|---:|---|---:|---:|---:|")
    for f in best:
        epochs = ", ".join(str(f["best_epochs"].get(w, "-")) for w in (128, 256))
        print(f"| {f['genes']} | {f['width']} | {epochs} | {f['final_epochs']} | {f['cv']:.2f} | "
              f"{f['total'] - f['cv']:.2f} |")
    cv, total = sum(f["cv"] for f in best), sum(f["total"] for f in best)
    each = ", ".join(f"{sum(fit['total'] for fit in fits):.2f}" for fits in runs)
    print(f"\nfits {total:.2f} s, of which cross-validation {cv:.2f} s ({cv / total:.0%}); "
          f"each repeat's fits: {each} s")
    python, torch = fresh_process_seconds("pass"), fresh_process_seconds("import torch")
    print(f"python -c pass {python:.2f} s; python -c 'import torch' {torch:.2f} s")
    if options.reference_seconds:
        budget = options.reference_seconds / 30
        print(f"30x the reference's {options.reference_seconds:.1f} s: a whole `gd run` in {budget:.2f} s; "
              f"the cross-validation alone takes {cv:.2f} s ({cv / budget:.0%} of it)")


if __name__ == "__main__":
    main()
