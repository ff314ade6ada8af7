"""Built-in models."""

from __future__ import annotations


import numpy as np

from gd_core import hookimpl
from gd_core.parallel import usable_cores

_ROWS_PER_CHUNK = 1 << 15  # bounds memory of per-tree predictions on million-gene pools


@hookimpl
def gd_register_models(register):
    register("random_forest", RandomForest)
    register("bnn", _bnn)


def _bnn(**params):
    """Bayesian MLP: one hidden ReLU layer, MC dropout; hidden size and epochs by 3-fold CV at each fit.

    The width (128 or 512) and the epochs come from the cross-validation's pooled held-out loss; the final
    network then trains on every gene, with a ridge-like L2 penalty and one scale for all input features.
    Details and measured effects: ``gd_plugins_builtin.bnn``.
    """
    from gd_plugins_builtin.bnn import build  # torch loads only when a run builds this model

    return build(**params)



class RandomForest:
    """Random forest regressor (100 trees); posterior samples are the trees' predictions."""

    def __init__(self, n_estimators: int = 100, max_depth: int | None = None, min_samples_leaf: int = 1,
                 n_jobs: int | None = None) -> None:
        if n_estimators < 1:
            raise ValueError(f"n_estimators must be at least 1, got {n_estimators}")
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        # Default to the cores this process may use (which a sweep's worker limits), not all of the machine.
        self.n_jobs = n_jobs if n_jobs is not None else usable_cores()
        self._forest = None

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> RandomForest:
        """Fit the forest; the trees' seeds come from ``rng``."""
        from sklearn.ensemble import RandomForestRegressor

        self._forest = RandomForestRegressor(
            n_estimators=self.n_estimators, max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
            n_jobs=self.n_jobs, random_state=int(rng.integers(2**31 - 1)),
        ).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean over trees, summed in tree order so results do not depend on thread timing."""
        return self.sample(X).mean(axis=0)

    def sample(self, X: np.ndarray, n: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Per-tree predictions ``[n_trees, len(X)]``, or ``n`` trees drawn with ``rng``."""
        if self._forest is None:
            raise RuntimeError("RandomForest.sample called before fit")
        from joblib import Parallel, delayed

        trees = self._forest.estimators_
        if n is not None and n != len(trees):
            rng = rng if rng is not None else np.random.default_rng(0)
            trees = [trees[i] for i in rng.choice(len(trees), n, replace=n > len(trees))]
        out = np.empty((len(trees), len(X)), dtype=np.float64)
        with Parallel(n_jobs=self.n_jobs, prefer="threads") as parallel:
            for start in range(0, len(X), _ROWS_PER_CHUNK):
                rows = X[start:start + _ROWS_PER_CHUNK]
                # Parallel returns results in tree order, whichever thread finished first.
                out[:, start:start + len(rows)] = parallel(delayed(tree.predict)(rows) for tree in trees)
        return out
