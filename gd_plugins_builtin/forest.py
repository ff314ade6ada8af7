"""The random forest model: scikit-learn's regressor, 100 unpruned trees, as in the paper (Appendix B).

Imported only when a run builds the ``random_forest`` model, so scikit-learn stays out of ``gd list``.
"""

from __future__ import annotations

import numpy as np

from gd_core.parallel import usable_cores
from gd_core.registry import BadParameter
from gd_plugins_builtin._checks import positive_int

_ROWS_PER_CHUNK = 1 << 15  # bounds memory of per-tree predictions on million-gene pools


class RandomForest:
    """Random forest regressor (100 trees); posterior samples are the trees' predictions.

    Args:
        n_estimators: trees in the forest.
        max_depth: deepest a tree may grow; None (null in a spec or ``--param``) grows until leaves are pure.
        min_samples_leaf: fewest genes in a leaf: a whole number, or a fraction in (0, 1) of the training genes.
        n_jobs: threads that build and evaluate the trees; None uses the cores this process may use.
    """

    def __init__(self, n_estimators: int = 100, max_depth: int | None = None, min_samples_leaf: int | float = 1,
                 n_jobs: int | None = None) -> None:
        # Checked here, not by scikit-learn at the first fit: a bad value must stop a run before any work.
        self.n_estimators = positive_int("n_estimators", n_estimators, "100")
        self.max_depth = None if max_depth is None else _positive_or_null("max_depth", max_depth, "unlimited depth")
        self.min_samples_leaf = _leaf_size(min_samples_leaf)
        # Default to the cores this process may use (which a sweep's worker limits), not all of the machine.
        self.n_jobs = usable_cores() if n_jobs is None else _positive_or_null("n_jobs", n_jobs, "every usable core")
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


def _positive_or_null(name: str, value: object, none_means: str) -> int:
    """A positive whole number, or a ``BadParameter`` that also offers null."""
    try:
        return positive_int(name, value, "4")
    except BadParameter:
        raise BadParameter(name, f"a positive integer (e.g. 4), or null for {none_means}", value) from None


def _leaf_size(value: object) -> int | float:
    """``min_samples_leaf`` as scikit-learn takes it: a count ≥ 1 or a fraction strictly between 0 and 1."""
    if isinstance(value, float) and 0 < value < 1:
        return value
    try:
        return positive_int("min_samples_leaf", value, "1")
    except BadParameter:
        raise BadParameter("min_samples_leaf", "a positive integer (genes per leaf, e.g. 5) or a fraction in "
                           "(0, 1) of the training genes", value) from None
