"""Time every model × acquisition: full runs on real data, and one selection on pools up to 1M genes.

    python benchmarks/acquisitions.py runs            # gd run, 8 cycles × 64, schmidt_2021_il2 × gene_ontology
    python benchmarks/acquisitions.py scale [SIZES]   # one selection of 64 on simulated pools (default 20k 200k 1M)

Each measurement runs in its own process, so imports, data loading and peak memory (max RSS) are its own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ACQUISITIONS = ("random", "topuncertain", "softuncertain", "marginsample", "kmeans_data", "coreset", "badge",
                "kmeans_embedding", "adversarialBIM", "descriptor_norm")
MODELS = ("random_forest", "bnn")
GD = str(Path(sys.executable).parent / "gd")


def compatible(model: str, acquisition: str) -> bool:
    """Whether the core accepts this pair (checked the way `gd run` checks it)."""
    from gd_core.data import check_compatible
    from gd_core.errors import GdError
    from gd_core.plugins import PluginHost

    registries = PluginHost(entry_points=False).registries
    try:
        check_compatible(model, registries.models.create(model), acquisition,
                         registries.acquisitions.create(acquisition))
    except GdError:
        return False
    return True


def runs() -> None:
    """One full default-size run per compatible pair, as a user would start it."""
    print(f"{'model':<14} {'acquisition':<17} {'wall s':>7} {'final hit_ratio':>16}")
    for model in MODELS:
        for acquisition in ACQUISITIONS:
            if not compatible(model, acquisition):
                print(f"{model:<14} {acquisition:<17} {'refused':>7}")
                continue
            out = Path("/tmp/gd-bench") / f"{model}-{acquisition}"
            started = time.perf_counter()
            done = subprocess.run([GD, "run", "--model", model, "--acquisition", acquisition, "--out", str(out),
                                   "--force", "--json"], capture_output=True, text=True)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                print(f"{model:<14} {acquisition:<17} failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            final = json.loads(done.stdout)["final"]["hit_ratio"]
            print(f"{model:<14} {acquisition:<17} {wall:>7.1f} {final:>16.4f}")


def one_selection(model: str, acquisition: str, n_genes: int) -> None:
    """Fit `model` on 512 genes of a simulated pool and time one selection of 64 (child process)."""
    import numpy as np

    from gd_core.data import Pool
    from gd_core.plugins import PluginHost

    registries = PluginHost(entry_points=False).registries
    X = registries.descriptors.create("simulated", n_genes=n_genes, n_features=128).to_numpy()
    y = registries.assays.create("simulated", n_genes=n_genes).to_numpy()
    rng = np.random.default_rng(0)
    acquired = rng.choice(n_genes, 512, replace=False)
    fitted = registries.models.create(model)
    fitted.fit(X[acquired], y[acquired], rng)
    available = np.setdiff1d(np.arange(n_genes), acquired)
    pool = Pool(X=X, genes=None, available=available, acquired=acquired, cycle=0)
    chooser = registries.acquisitions.create(acquisition)
    started = time.perf_counter()
    chosen = chooser.select(pool, fitted, 64, rng)
    seconds = time.perf_counter() - started
    assert len(set(chosen.tolist())) == 64
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    # The bnn's width, which its cross-validation picks anew on each pool, sets the cost of embeddings.
    print(json.dumps({"seconds": seconds, "peak_gb": peak_gb, "width": getattr(fitted, "hidden_size_", None)}))


def scale(sizes: list[int]) -> None:
    """Selection time and peak memory per acquisition and pool size, each in a fresh process."""
    print(f"{'model':<14} {'acquisition':<17} " + " ".join(f"{n:>18,}" for n in sizes) + "   (seconds / peak GB)")
    for model in MODELS:
        for acquisition in ACQUISITIONS:
            if not compatible(model, acquisition):
                continue
            cells = []
            for n in sizes:
                done = subprocess.run([sys.executable, __file__, "one", model, acquisition, str(n)],
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    cells.append(f"{'failed':>18}")
                    continue
                facts = json.loads(done.stdout.strip().splitlines()[-1])
                cells.append(f"{facts['seconds']:>9.2f}s {facts['peak_gb']:>5.2f}GB")
            print(f"{model:<14} {acquisition:<17} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["runs"]
    if command == "runs":
        runs()
    elif command == "scale":
        scale([int(n) for n in rest] or [20_000, 200_000, 1_000_000])
    elif command == "one":
        one_selection(rest[0], rest[1], int(rest[2]))
    else:
        sys.exit(f"unknown command {command!r}: use runs, scale or one")
