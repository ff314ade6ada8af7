"""Helpers for testing gd plugins: a host with only your plugins, tiny data, and an acquisition checker.

    from gd_core.testing import check_acquisition, host_with, tiny_pool

    def test_my_acquisition_keeps_the_contract():
        check_acquisition(MyAcquisition(), batch_size=8)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gd_core.data import Dataset, Pool, align
from gd_core.plugins import PluginHost


def host_with(*plugins: object, builtins: bool = False) -> PluginHost:
    """A plugin host holding only ``plugins`` (and the built-ins if asked), never installed plugins."""
    return PluginHost(builtins=builtins, entry_points=False, plugins=plugins)


def tiny_dataset(n_genes: int = 300, n_features: int = 8, seed: int = 0) -> Dataset:
    """A small SIMULATED screen (built-in generator), aligned as a run would align it."""
    from gd_plugins_builtin.simulated import simulated_assay, simulated_descriptor

    return align(simulated_descriptor(n_genes=n_genes, n_features=n_features, seed=seed),
                 simulated_assay(n_genes=n_genes, seed=seed), descriptor_name="simulated", assay_name="simulated")


def tiny_pool(dataset: Dataset | None = None, *, n_acquired: int = 30, test_fraction: float = 0.2,
              seed: int = 0) -> Pool:
    """A pool over ``dataset`` with a seeded test split and ``n_acquired`` genes already acquired."""
    data = dataset if dataset is not None else tiny_dataset(seed=seed)
    order = np.random.default_rng(seed).permutation(data.n)
    n_test = int(round(test_fraction * data.n))
    acquired = order[n_test:n_test + n_acquired]
    available = np.sort(order[n_test + n_acquired:])
    X = data.X.view()
    X.setflags(write=False)
    return Pool(X=X, genes=data.genes, available=available, acquired=acquired, cycle=1)


def fitted_forest(pool: Pool, dataset: Dataset, seed: int = 0) -> Any:
    """A small built-in random forest fitted on the pool's acquired genes (offers predict and sample)."""
    from gd_plugins_builtin.forest import RandomForest

    model = RandomForest(n_estimators=20, n_jobs=1)
    return model.fit(pool.X[pool.acquired], dataset.y[pool.acquired], np.random.default_rng(seed))


def check_acquisition(acquisition: Any, model: Any = None, *, pool: Pool | None = None,
                      dataset: Dataset | None = None, batch_size: int = 10, seed: int = 0) -> np.ndarray:
    """Assert the acquisition contract and return the selection.

    The contract: ``batch_size`` distinct positions, all from ``pool.available`` (never a test or acquired
    gene), integer typed, and the same selection again for the same seed. Without a model, a small fitted
    random forest is used; without a pool, a tiny simulated one.
    """
    data = dataset if dataset is not None else tiny_dataset(seed=seed)
    pool = pool if pool is not None else tiny_pool(data, seed=seed)
    model = model if model is not None else fitted_forest(pool, data, seed)
    assert hasattr(acquisition, "requires"), "an acquisition declares the capabilities it needs in `requires`"
    first = np.asarray(acquisition.select(pool, model, batch_size, np.random.default_rng(seed)))
    again = np.asarray(acquisition.select(pool, model, batch_size, np.random.default_rng(seed)))
    assert first.ndim == 1 and np.issubdtype(first.dtype, np.integer), f"positions must be integers, got {first.dtype}"
    assert len(first) == batch_size, f"selected {len(first)} genes instead of {batch_size}"
    assert len(np.unique(first)) == batch_size, "selected the same gene twice"
    assert np.isin(first, pool.available).all(), "selected a gene that is not available (test or acquired)"
    assert np.array_equal(first, again), "the same seed gave a different selection"
    return first
