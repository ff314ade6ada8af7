"""The random forest: its two backends, the trees its own builder grows, determinism and parameters."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

import gd_plugins_builtin.forest as forest_module
from gd_core import GdError
from gd_core.registry import BadParameter
from gd_plugins_builtin._forest_trees import grow_tree, predict_trees, sorted_columns
from gd_plugins_builtin.forest import RandomForest

BACKENDS = ("presorted", "sklearn")
UNLIMITED = np.iinfo(np.int64).max


def screen(n: int = 150, n_features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Distinct continuous features; the outcome depends on the first and the last, plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features)).astype(np.float32)
    y = (np.sin(2 * X[:, 0]) + 0.5 * X[:, -1] + 0.3 * rng.standard_normal(n)).astype(np.float32)
    return X, y


def bootstrap(n: int, seed: int) -> np.ndarray:
    return np.bincount(np.random.default_rng(seed).integers(0, n, n), minlength=n).astype(np.int32)


def our_tree(X, y, counts, min_leaf=1, max_depth=UNLIMITED, seed=0):
    order, sorted_values = sorted_columns(np.ascontiguousarray(X, dtype=np.float32))
    return grow_tree(order, sorted_values, y.astype(np.float64), counts, min_leaf, max_depth, seed)


def tree_predict(tree, X) -> np.ndarray:
    out = np.empty((1, len(X)))
    predict_trees(np.ascontiguousarray(X, dtype=np.float32), np.array([0]), *tree, out)
    return out[0]


def sklearn_tree(X, y, counts, **params) -> DecisionTreeRegressor:
    """scikit-learn's tree on a bootstrap sample, as its RandomForestRegressor grows one: counts as weights."""
    return DecisionTreeRegressor(random_state=0, **params).fit(X, y.astype(np.float64),
                                                               sample_weight=counts.astype(np.float64))


@pytest.mark.parametrize("seed", range(4))
def test_on_one_feature_the_tree_is_scikit_learns_everywhere(seed):
    # With one feature no two features can tie, so the trees must be the same: splits, midpoint thresholds
    # and weighted-mean leaves, which every point of a dense grid between and beyond the training values sees.
    X, y = screen(n=200, n_features=1, seed=seed)
    counts = bootstrap(200, seed)
    ours, theirs = our_tree(X, y, counts), sklearn_tree(X, y, counts)
    grid = np.sort(np.concatenate([X[:, 0], np.linspace(-4, 4, 4001, dtype=np.float32)]))[:, None]

    np.testing.assert_array_equal(tree_predict(ours, grid), theirs.predict(grid))
    split = ours[0] >= 0
    np.testing.assert_array_equal(np.sort(ours[1][split]), np.sort(theirs.tree_.threshold[theirs.tree_.feature >= 0]))


@pytest.mark.parametrize("params", [{}, {"min_leaf": 3}, {"max_depth": 4}])
@pytest.mark.parametrize("seed", range(3))
def test_on_many_features_the_tree_splits_the_in_bag_genes_as_scikit_learn_does(seed, params):
    # Where two features split a node's genes identically either may be chosen (scikit-learn draws a random
    # feature order), so thresholds can differ; the partition of the in-bag genes into leaves cannot.
    X, y = screen(n=200, n_features=8, seed=seed)
    counts = bootstrap(200, seed + 10)
    ours = our_tree(X, y, counts, **params)
    theirs = sklearn_tree(X, y, counts, min_samples_leaf=params.get("min_leaf", 1), max_depth=params.get("max_depth"))
    in_bag = counts > 0

    np.testing.assert_array_equal(tree_predict(ours, X[in_bag]), theirs.predict(X[in_bag]))
    assert (ours[0] >= 0).sum() == (theirs.tree_.feature >= 0).sum()
    leaf_of = {}
    for ours_leaf, their_leaf in zip(_leaves(ours, X[in_bag]), theirs.apply(X[in_bag])):
        assert leaf_of.setdefault(ours_leaf, their_leaf) == their_leaf


def _leaves(tree, X) -> list[int]:
    feature, threshold, left, right, _ = tree
    leaves = []
    for row in X:
        node = 0
        while feature[node] >= 0:
            node = left[node] if row[feature[node]] <= threshold[node] else right[node]
        leaves.append(node)
    return leaves


def test_a_tree_stops_at_pure_nodes_and_at_genes_it_cannot_tell_apart():
    X = np.array([[0.0], [0.0], [1.0], [2.0], [3.0]], dtype=np.float32)  # two genes with the same features
    y = np.array([5.0, 7.0, 1.0, 1.0, 1.0])
    tree = our_tree(X, y, np.ones(5, dtype=np.int32))

    assert (tree[0] >= 0).sum() == 1  # one split (x ≤ 0.5); the pure right side and the twins stay leaves
    assert tree[1][0] == 0.5
    np.testing.assert_array_equal(tree_predict(tree, X), [6.0, 6.0, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_tree_fits_its_bootstrap_sample_exactly(backend):
    # Unpruned trees on distinct features predict every in-bag gene's own outcome, and a bootstrap with
    # replacement holds about 1 − 1/e ≈ 63% of the genes: the share each tree predicts exactly.
    X, y = screen(n=400)
    trees = RandomForest(n_estimators=30, n_jobs=1, backend=backend).fit(X, y, np.random.default_rng(0)).sample(X)
    exact = (trees == y.astype(np.float64)).mean(axis=1)

    assert 0.55 < exact.min() and exact.max() < 0.72
    assert abs(exact.mean() - (1 - np.exp(-1))) < 0.02


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_same_rng_gives_the_same_forest_and_another_seed_another(backend):
    X, y = screen()
    first = RandomForest(n_estimators=10, n_jobs=1, backend=backend).fit(X, y, np.random.default_rng(3)).sample(X)
    again = RandomForest(n_estimators=10, n_jobs=1, backend=backend).fit(X, y, np.random.default_rng(3)).sample(X)
    other = RandomForest(n_estimators=10, n_jobs=1, backend=backend).fit(X, y, np.random.default_rng(4)).sample(X)

    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_do_not_depend_on_the_number_of_threads(backend):
    X, y = screen(n=300)
    pool = np.random.default_rng(9).standard_normal((500, X.shape[1])).astype(np.float32)
    one, two = (RandomForest(n_estimators=12, n_jobs=jobs, backend=backend).fit(X, y, np.random.default_rng(1))
                for jobs in (1, 2))

    assert one.sample(pool).tobytes() == two.sample(pool).tobytes()
    assert one.predict(pool).tobytes() == two.predict(pool).tobytes()


@pytest.mark.parametrize("backend", BACKENDS)
def test_prediction_in_chunks_of_rows_equals_prediction_at_once(backend, monkeypatch):
    X, y = screen()
    pool = np.random.default_rng(2).standard_normal((100, X.shape[1])).astype(np.float32)
    model = RandomForest(n_estimators=8, n_jobs=2, backend=backend).fit(X, y, np.random.default_rng(0))
    whole = model.sample(pool)
    monkeypatch.setattr(forest_module, "_ROWS_PER_CHUNK", 7)

    assert model.sample(pool).tobytes() == whole.tobytes()


@pytest.mark.parametrize("backend", BACKENDS)
def test_sample_shapes_and_the_mean_of_the_trees(backend):
    X, y = screen()
    model = RandomForest(n_estimators=9, n_jobs=2, backend=backend).fit(X, y, np.random.default_rng(0))
    trees = model.sample(X[:20])

    assert trees.shape == (9, 20) and trees.dtype == np.float64
    np.testing.assert_array_equal(model.predict(X[:20]), trees.mean(axis=0))
    assert model.sample(X[:20], n=4, rng=np.random.default_rng(1)).shape == (4, 20)
    drawn = model.sample(X[:20], n=30, rng=np.random.default_rng(1))  # more than 9: drawn with replacement
    assert drawn.shape == (30, 20) and all(any(np.array_equal(row, tree) for tree in trees) for row in drawn)
    assert model.sample(X[:0]).shape == (9, 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_depth_and_min_samples_leaf_are_honoured(backend):
    X, y = screen(n=300)
    stumps = RandomForest(n_estimators=5, max_depth=1, n_jobs=1, backend=backend).fit(X, y, np.random.default_rng(0))
    assert all(len(np.unique(tree)) == 2 for tree in stumps.sample(X))

    # A leaf needs ≥ 20% of the 300 genes among the ~63% in bag: at most 3 leaves, and more than 1.
    coarse = RandomForest(n_estimators=5, min_samples_leaf=0.2, n_jobs=1, backend=backend)
    assert all(2 <= len(np.unique(tree)) <= 3 for tree in coarse.fit(X, y, np.random.default_rng(0)).sample(X))
    # Half of the genes per leaf cannot be met twice: every tree is one leaf, the mean of its sample.
    single = RandomForest(n_estimators=5, min_samples_leaf=0.5, n_jobs=1, backend=backend)
    assert all(len(np.unique(tree)) == 1 for tree in single.fit(X, y, np.random.default_rng(0)).sample(X))


def test_min_samples_leaf_counts_distinct_genes_in_each_leaf():
    X, y = screen(n=300)
    counts = bootstrap(300, 0)
    feature, threshold, left, right, value = our_tree(X, y, counts, min_leaf=7)
    in_bag = counts > 0
    _, genes_per_leaf = np.unique(_leaves((feature, threshold, left, right, value), X[in_bag]), return_counts=True)

    assert genes_per_leaf.min() >= 7 and len(genes_per_leaf) == (feature < 0).sum()


@pytest.mark.parametrize("params, culprit", [
    ({"backend": "lightgbm"}, 'backend must be one of "presorted", "sklearn"'),
    ({"n_estimators": 0}, "n_estimators must be a positive integer"),
    ({"max_depth": 0}, "max_depth must be a positive integer (e.g. 4), or null"),
    ({"min_samples_leaf": 1.5}, "min_samples_leaf must be a positive integer"),
    ({"n_jobs": -1}, "n_jobs must be a positive integer (e.g. 4), or null"),
])
def test_bad_parameter_values_are_refused_before_any_fit(params, culprit):
    with pytest.raises(BadParameter) as refused:
        RandomForest(**params)
    assert str(refused.value).startswith(culprit)


def test_the_registered_model_takes_the_backend_by_name(builtin_host):
    entry = builtin_host.registries.models.get("random_forest")

    assert entry.create().backend == "presorted"
    assert entry.create(backend="sklearn").backend == "sklearn"
    with pytest.raises(GdError, match="model 'random_forest': backend must be one of"):
        entry.create(backend="xgboost")


def test_non_finite_training_data_is_refused_in_one_line():
    X, y = screen()
    X[3, 2] = np.nan
    with pytest.raises(GdError, match="NaN or infinite") as refused:
        RandomForest(n_estimators=2).fit(X, y, np.random.default_rng(0))
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sample_before_fit_is_a_programming_error(backend):
    with pytest.raises(RuntimeError, match="before fit"):
        RandomForest(backend=backend).sample(np.zeros((2, 3)))
