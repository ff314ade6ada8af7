"""Time the core's own work (alignment, split, pool bookkeeping, metrics) at growing pool sizes.

The model is a constant predictor and the acquisition is `random`, so what is timed is gd's loop, not a
model: it should grow at most linearly with the number of genes. Run: `python benchmarks/core_overhead.py`.
"""

from __future__ import annotations

import time

import numpy as np

from gd_core import hookimpl
from gd_core.loop import RunConfig, execute, prepare
from gd_core.plugins import PluginHost


class ConstantModel:
    """Predicts the training mean: the cheapest possible model, to expose the core's overhead."""

    def fit(self, X, y, rng):
        self.mean = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean)


class BenchmarkPlugins:
    @hookimpl
    def gd_register_models(self, register):
        register("constant", ConstantModel)


def main() -> None:
    host = PluginHost(entry_points=False, plugins=[BenchmarkPlugins()])
    print(f"{'genes':>9} {'prepare s':>10} {'per cycle s':>12} {'per cycle / 20k':>16}")
    base = None
    import scipy.stats  # noqa: F401  (imported by the spearman metric; keep it out of the first timing)

    for n_genes in (20_000, 200_000, 1_000_000):
        config = RunConfig("simulated", "simulated", "constant", "random", batch_size=64, cycles=8,
                           params={"descriptor": {"n_genes": n_genes}, "assay": {"n_genes": n_genes}})
        t0 = time.perf_counter()
        plan = prepare(config, host.registries, on_status=lambda s: None)
        t1 = time.perf_counter()
        execute(plan)
        per_cycle = (time.perf_counter() - t1) / config.cycles
        base = base or per_cycle
        print(f"{n_genes:>9} {t1 - t0:>10.2f} {per_cycle:>12.4f} {per_cycle / base:>16.1f}")


if __name__ == "__main__":
    main()
