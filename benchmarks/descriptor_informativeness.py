"""How much a descriptor says about each bundled assay: ridge regression on one seeded 80/20 split.

Prints, per assay, the share of the true top-5% |y| test genes among the model's top-5% predictions
(chance: 0.05). Run: `python benchmarks/descriptor_informativeness.py [DESCRIPTOR]`.
"""

from __future__ import annotations

import sys

import numpy as np
from sklearn.linear_model import Ridge

from gd_core.data import align
from gd_core.plugins import PluginHost


def main(descriptor: str = "gene_ontology") -> None:
    registries = PluginHost(entry_points=False).registries
    features = registries.descriptors.create(descriptor)
    for entry in registries.assays:
        if entry.metadata.get("source") != "bundled":
            continue
        data = align(features, entry.create(), descriptor_name=descriptor, assay_name=entry.name)
        order = np.random.default_rng(0).permutation(data.n)
        test, train = order[: data.n // 5], order[data.n // 5:]
        predicted = Ridge(alpha=10.0).fit(data.X[train], data.y[train]).predict(data.X[test])
        k = max(1, round(0.05 * len(test)))
        hits = set(np.argsort(-np.abs(data.y[test]))[:k])
        found = len(hits & set(np.argsort(-np.abs(predicted))[:k])) / k
        print(f"{entry.name:<20} {data.n:>6} genes  top-5% precision {found:.3f}  ({found / 0.05:.1f}x chance)")


if __name__ == "__main__":
    main(*sys.argv[1:])
