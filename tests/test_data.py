"""Data contracts: Dataset, align, Pool, Truth, and model capabilities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from gd_core import Dataset, GdError, Pool, Truth
from gd_core.data import align, capabilities_of, check_compatible
from gd_plugins_builtin.forest import RandomForest


def dataset(n: int = 4, d: int = 2) -> Dataset:
    return Dataset(
        X=np.arange(n * d, dtype=np.float32).reshape(n, d),
        y=np.arange(n, dtype=np.float32),
        genes=pd.Index([f"G{i}" for i in range(n)]),
        feature_names=pd.Index([f"f{j}" for j in range(d)]),
    )


# Dataset


def test_a_dataset_counts_its_genes():
    assert dataset(5).n == 5


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (dict(X=np.zeros((4, 2), dtype=np.float64)), "X must be float32"),
        (dict(X=np.zeros((3, 2), dtype=np.float32)), "X must be float32"),
        (dict(X=np.zeros(4, dtype=np.float32)), "X must be float32"),
        (dict(y=np.zeros(4, dtype=np.float64)), "y must be float32"),
        (dict(y=np.zeros((4, 1), dtype=np.float32)), "y must be float32"),
        (dict(y=np.zeros(5, dtype=np.float32)), "y must be float32"),
    ],
)
def test_a_dataset_refuses_arrays_of_the_wrong_type_or_shape(change, complaint):
    fields = dataclasses.asdict(dataset()) | change
    with pytest.raises(ValueError, match=complaint):
        Dataset(**fields)


def test_checksums_change_with_features_outcomes_and_genes():
    base = dataset()
    other_y = dataclasses.replace(base, y=base.y + 1)
    other_X = dataclasses.replace(base, X=base.X * 2)
    other_genes = dataclasses.replace(base, genes=pd.Index(["A", "B", "C", "D"]))

    assert base.checksums() == dataset().checksums()
    assert set(base.checksums()) == {"X_sha256", "y_sha256", "genes_sha256"}
    assert other_y.checksums()["y_sha256"] != base.checksums()["y_sha256"]
    assert other_X.checksums()["X_sha256"] != base.checksums()["X_sha256"]
    assert other_genes.checksums()["genes_sha256"] != base.checksums()["genes_sha256"]


# align


def test_align_keeps_each_label_on_its_gene():
    descriptor = pd.DataFrame({"f": [3.0, 1.0, 2.0, 9.0]}, index=["C", "A", "B", "Z"])
    assay = pd.Series([20.0, 30.0, 10.0, 99.0], index=["B", "C", "A", "Y"])

    data = align(descriptor, assay, descriptor_name="d", assay_name="a")

    assert list(data.genes) == ["A", "B", "C"]
    np.testing.assert_array_equal(data.X[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(data.y, [10.0, 20.0, 30.0])


def test_align_accepts_a_one_column_frame_as_assay():
    descriptor = pd.DataFrame({"f": [1.0, 2.0]}, index=["A", "B"])
    assay = pd.DataFrame({"outcome": [5.0, 6.0]}, index=["B", "A"])

    np.testing.assert_array_equal(align(descriptor, assay, descriptor_name="d", assay_name="a").y, [6.0, 5.0])


def test_align_refuses_a_multi_column_assay_naming_it():
    descriptor = pd.DataFrame({"f": [1.0]}, index=["A"])
    assay = pd.DataFrame({"x": [1.0], "y": [2.0]}, index=["A"])
    with pytest.raises(GdError, match="assay 'screen'.*Series"):
        align(descriptor, assay, descriptor_name="d", assay_name="screen")


# Pool


def test_a_pool_shows_features_positions_and_measured_outcomes_but_no_other_labels():
    data = dataset(6)
    pool = Pool(X=data.X, genes=data.genes, available=np.array([2, 3, 5]), acquired=np.array([0, 1]), cycle=1,
                measured=data.y[[0, 1]])

    np.testing.assert_array_equal(pool.features(np.array([5, 2])), data.X[[5, 2]])
    assert not hasattr(pool, "y")
    assert {f.name for f in dataclasses.fields(pool)} == {"X", "genes", "available", "acquired", "cycle",
                                                            "measured", "hit_rule"}
    assert len(pool.measured) == len(pool.acquired)  # outcomes of the acquired genes only
    with pytest.raises(dataclasses.FrozenInstanceError):
        pool.available = np.array([4])


# Truth


class Constant:
    def __init__(self, shape_of):
        self.calls = 0
        self.shape_of = shape_of

    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        self.calls += 1
        return np.ones(self.shape_of(len(X)), dtype=np.float32)


def truth(model) -> Truth:
    data = dataset(6)
    test = np.array([1, 4])
    return Truth(data.X[test], data.y[test], test, np.array([0]), model, "constant")


def test_truth_predicts_the_test_set_once_per_cycle():
    model = Constant(lambda n: (n,))
    truth_ = truth(model)

    first, second = truth_.predicted_test, truth_.predicted_test
    assert model.calls == 1
    assert first is second
    assert first.dtype == np.float64 and first.shape == (2,)


@pytest.mark.parametrize("shape", [lambda n: (n, 1), lambda n: (n + 1,), lambda n: (1, n)])
def test_truth_refuses_predictions_of_the_wrong_shape_naming_the_model(shape):
    with pytest.raises(GdError, match="model 'constant' predicted shape"):
        truth(Constant(shape)).predicted_test


# Capabilities


def test_a_fitted_random_forest_can_predict_and_sample():
    X = np.random.default_rng(0).standard_normal((30, 3)).astype(np.float32)
    forest = RandomForest(n_estimators=4, n_jobs=1).fit(X, X[:, 0], np.random.default_rng(1))

    offered = capabilities_of(forest)
    assert {"predict", "sample"} <= set(offered)
    assert not {"embed", "gradient_embedding", "input_gradient"} & set(offered)
    assert forest.predict(X).shape == (30,)
    assert forest.sample(X).shape == (4, 30)
    assert forest.sample(X, n=7, rng=np.random.default_rng(0)).shape == (7, 30)


class Embedder:
    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        return np.zeros(len(X))

    def embed(self, X):
        return np.asarray(X)


class Wants:
    def __init__(self, *requires):
        self.requires = requires

    def select(self, pool, model, batch_size, rng):
        return pool.available[:batch_size]


def test_check_compatible_accepts_a_model_that_offers_what_is_required():
    check_compatible("embedder", Embedder(), "wants", Wants("embed", "predict"))
    check_compatible("forest", RandomForest(), "random", Wants())


@pytest.mark.parametrize(
    ("model", "acquisition", "culprits"),
    [
        (RandomForest(), Wants("embed"),
         ["acquisition 'wants' needs embed", "model 'forest'", "predict, sample"]),
        (Embedder(), Wants("sample", "gradient_embedding"),
         ["acquisition 'wants' needs sample and gradient_embedding", "model 'forest'"]),
        (object(), Wants(), ["model 'forest'", "fit/predict"]),
        (RandomForest(), object(), ["acquisition 'wants'", "select"]),
        (RandomForest(), Wants("telepathy"), ["acquisition 'wants'", "'telepathy'", "embed"]),
    ],
    ids=["missing capability", "two missing", "not a model", "not an acquisition", "unknown capability"],
)
def test_check_compatible_refusals_name_both_sides(model, acquisition, culprits):
    with pytest.raises(GdError) as refusal:
        check_compatible("forest", model, "wants", acquisition)

    for culprit in culprits:
        assert culprit in str(refusal.value)
