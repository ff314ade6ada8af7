"""descriptor_norm: the model-free baseline that keeps "well-studied genes are hits" in view."""

from __future__ import annotations

import numpy as np

from gd_core import Pool
from gd_core.data import check_compatible
from gd_core.loop import RunConfig, execute, prepare
from gd_plugins_builtin.acquisitions import DescriptorNormAcquisition
from tests.helpers import MeanOnly, NoSamples


def test_descriptor_norm_picks_the_available_genes_of_largest_norm_largest_first_ties_to_the_lower():
    X = np.array([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0], [5.0, 0.0], [0.0, -5.0], [10.0, 0.0]], dtype=np.float32)
    pool = Pool(X=X, genes=None, available=np.array([0, 1, 3, 4, 5]), acquired=np.array([2]), cycle=1)

    # norms 5, 1, (10, acquired), 5, 5, 10: gene 5 first, then the three of norm 5 by position
    chosen = DescriptorNormAcquisition().select(pool, None, 3, np.random.default_rng(0))

    assert chosen.tolist() == [5, 0, 3]


def test_descriptor_norm_needs_no_model_capability_and_runs_with_any_model(host_with):
    acquisition = DescriptorNormAcquisition()
    assert acquisition.requires == ()
    check_compatible("mean_only", MeanOnly(), "descriptor_norm", acquisition)

    host = host_with(NoSamples(), builtins=True)  # registers mean_only
    config = RunConfig("simulated", "simulated", "mean_only", "descriptor_norm", batch_size=10, cycles=3,
                       params={"descriptor": {"n_genes": 400, "n_features": 6}, "assay": {"n_genes": 400}})
    plan = prepare(config, host.registries, on_status=lambda message: None)
    result = execute(plan)

    norms = np.linalg.norm(plan.dataset.X.astype(np.float64), axis=1)
    later = result.selections[result.selections["cycle"] > 0]["gene"]
    chosen = plan.dataset.genes.get_indexer(later)
    available = np.setdiff1d(plan.pool, plan.initial)
    assert set(chosen) == set(available[np.argsort(-norms[available], kind="stable")[:20]])
