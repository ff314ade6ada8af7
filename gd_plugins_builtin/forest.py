"""The random forest model: 100 unpruned CART trees on bootstrap samples, as in the paper (Appendix B).

Two implementations of the same algorithm, chosen by ``backend``:

- ``"presorted"`` (the default): gd's own compiled tree builder (``gd_plugins_builtin._forest_trees``). Each
  tree is the tree scikit-learn's ``RandomForestRegressor`` grows from the same bootstrap sample: the same
  splits, thresholds and leaf values, except where two features split a node's rows identically, which
  either picks at random. It sorts every feature once per forest instead of at every node: 8–12× less CPU
  (``benchmarks/forest.py speed``).
- ``"sklearn"``: scikit-learn's ``RandomForestRegressor`` itself, the paper's code.

The bootstrap samples come from different random numbers, so the two give different forests for one seed;
``benchmarks/forest.py equivalence`` shows that their runs' metrics cannot be told apart.

Imported only when a run builds the ``random_forest`` model, so scikit-learn and numba stay out of ``gd list``.
"""

from __future__ import annotations

import math

import numpy as np

from gd_core.helpers.parallel import map_in_threads, usable_cores
from gd_core.registry import BadParameter
from gd_plugins_builtin._checks import one_of, positive_int, too_large, training_data

_ROWS_PER_CHUNK = 1 << 15  # bounds memory of per-tree predictions on million-gene pools
BACKENDS = ("presorted", "sklearn")


class RandomForest:
    """Random forest regressor (100 trees); posterior samples are the trees' predictions.

    Args:
        n_estimators: trees in the forest.
        max_depth: deepest a tree may grow; None (null in a spec or ``--param``) grows until leaves are pure.
        min_samples_leaf: fewest genes in a leaf: a whole number, or a fraction in (0, 1) of the training genes.
        n_jobs: threads that build and evaluate the trees; None uses the cores this process may use.
        backend: ``"presorted"`` (gd's own builder) or ``"sklearn"`` (scikit-learn's, the paper's code).
    """

    def __init__(self, n_estimators: int = 100, max_depth: int | None = None, min_samples_leaf: int | float = 1,
                 n_jobs: int | None = None, backend: str = "presorted") -> None:
        # Checked here, not at the first fit: a bad value must stop a run before any work.
        self.n_estimators = positive_int("n_estimators", n_estimators, "100")
        self.max_depth = None if max_depth is None else _positive_or_null("max_depth", max_depth, "unlimited depth")
        self.min_samples_leaf = _leaf_size(min_samples_leaf)
        # Default to the cores this process may use (which a sweep's worker limits), not all of the machine.
        self.n_jobs = usable_cores() if n_jobs is None else _positive_or_null("n_jobs", n_jobs, "every usable core")
        self.backend = one_of("backend", backend, BACKENDS)
        self._forest = None  # the "sklearn" backend's fitted RandomForestRegressor
        self._trees = None  # the "presorted" backend's trees: roots and concatenated node arrays

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> RandomForest:
        """Fit the forest; the trees' seeds come from ``rng``, whatever the number of threads."""
        if self.backend == "sklearn":
            from sklearn.ensemble import RandomForestRegressor

            # A leaf of more genes than there are allows no split, as one of all of them: the same forest, in a
            # count scikit-learn's C code can hold.
            leaf = self.min_samples_leaf if isinstance(self.min_samples_leaf, float) else min(self.min_samples_leaf,
                                                                                              max(len(X), 1))
            self._forest = RandomForestRegressor(
                n_estimators=self.n_estimators, max_depth=self.max_depth, min_samples_leaf=leaf,
                n_jobs=self.n_jobs, random_state=int(rng.integers(2**31 - 1)),
            ).fit(X, y)
            return self
        from gd_plugins_builtin._forest_trees import grow_tree, sorted_columns

        # float32 features and float64 outcomes, as scikit-learn's trees take them.
        X, y = training_data(X, y, "random_forest", np.float32)
        n = len(y)
        min_leaf = (math.ceil(self.min_samples_leaf * n) if isinstance(self.min_samples_leaf, float)
                    else self.min_samples_leaf)
        max_depth = np.iinfo(np.int64).max if self.max_depth is None else self.max_depth
        order, sorted_values = sorted_columns(X)
        # Every tree's seed is drawn here, before any thread starts, so threads never change what a tree sees.
        seeds = rng.integers(2**63 - 1, size=self.n_estimators)

        def grow(seed: np.int64) -> tuple[np.ndarray, ...]:
            tree_rng = np.random.default_rng(seed)
            counts = np.bincount(tree_rng.integers(0, n, n), minlength=n).astype(np.int32)  # the bootstrap
            return grow_tree(order, sorted_values, y, counts, min_leaf, max_depth, int(tree_rng.integers(2**63)))

        self._trees = _concatenate(map_in_threads(grow, seeds, self.n_jobs))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean over trees, summed in tree order so results do not depend on thread timing."""
        return self.sample(X).mean(axis=0)

    def sample(self, X: np.ndarray, n: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Per-tree predictions ``[n_trees, len(X)]``, or ``n`` trees drawn with ``rng``."""
        if self._forest is None and self._trees is None:
            raise RuntimeError("RandomForest.sample called before fit")
        trees = np.arange(self.n_estimators)
        if n is not None and n != self.n_estimators:
            rng = rng if rng is not None else np.random.default_rng(0)
            trees = rng.choice(self.n_estimators, n, replace=n > self.n_estimators)
        out = np.empty((len(trees), len(X)), dtype=np.float64)
        for start in range(0, len(X), _ROWS_PER_CHUNK):
            rows = X[start:start + _ROWS_PER_CHUNK]
            if self.backend == "sklearn":
                estimators = self._forest.estimators_
                # Results come back in tree order, whichever thread finished first.
                predictions = map_in_threads(lambda tree: estimators[tree].predict(rows), trees, self.n_jobs)
                out[:, start:start + len(rows)] = predictions
            else:
                self._predict_presorted(np.ascontiguousarray(rows, dtype=np.float32), trees,
                                        out[:, start:start + len(rows)])
        return out

    def _predict_presorted(self, rows: np.ndarray, trees: np.ndarray, out: np.ndarray) -> None:
        from gd_plugins_builtin._forest_trees import predict_trees

        roots, nodes = self._trees
        # One contiguous group of trees per thread; each writes only its own rows of ``out``.
        groups = np.array_split(np.arange(len(trees)), max(1, min(self.n_jobs, len(trees))))
        map_in_threads(lambda group: predict_trees(rows, roots[trees[group]], *nodes, out[group[0]:group[-1] + 1]),
                       [group for group in groups if len(group)], self.n_jobs)


def _concatenate(trees: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The trees' node arrays end to end, child links shifted to match: ``(roots, (feature, threshold, …))``."""
    sizes = np.array([len(tree[0]) for tree in trees])
    roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    feature, threshold, left, right, value = (np.concatenate(parts) for parts in zip(*trees))
    shift = np.repeat(roots, sizes).astype(np.int32)
    inner = feature >= 0
    left[inner] += shift[inner]
    right[inner] += shift[inner]
    return roots, (feature, threshold, left, right, value)


def _positive_or_null(name: str, value: object, none_means: str) -> int:
    """A positive whole number, or a ``BadParameter`` that also offers null."""
    try:
        return positive_int(name, value, "4")
    except BadParameter:
        if too_large(value):
            raise  # its message names the bound, which is what is wrong
        raise BadParameter(name, f"a positive integer (e.g. 4), or null for {none_means}", value) from None


def _leaf_size(value: object) -> int | float:
    """``min_samples_leaf`` as scikit-learn takes it: a count ≥ 1 or a fraction strictly between 0 and 1."""
    if isinstance(value, float) and 0 < value < 1:
        return value
    try:
        return positive_int("min_samples_leaf", value, "1")
    except BadParameter:
        if too_large(value):
            raise
        raise BadParameter("min_samples_leaf", "a positive integer (genes per leaf, e.g. 5) or a fraction in "
                           "(0, 1) of the training genes", value) from None
