"""The built-in metrics compute what their reference definitions compute."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from gd_core.data import Truth
from gd_plugins_builtin.metrics import Spearman


class Fixed:
    """A stand-in model whose test predictions are given."""

    def __init__(self, predicted: np.ndarray) -> None:
        self.predicted = predicted

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predicted


def spearman_of(predicted: np.ndarray, y: np.ndarray) -> float:
    truth = Truth(np.zeros((len(y), 1), np.float32), y, np.arange(len(y)), np.arange(0), Fixed(predicted))
    return Spearman()(None, truth.model, truth)


@pytest.mark.parametrize("seed", range(40))
def test_spearman_is_scipys_to_the_bit_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 3000))
    predicted = rng.standard_normal(n)
    y = rng.standard_normal(n).astype(np.float32)
    if seed % 2:  # many ties in both
        predicted, y = np.round(predicted, 1), np.round(y, 1)

    assert spearman_of(predicted, y) == float(spearmanr(predicted, y).statistic)


def test_spearman_is_undefined_for_a_constant_prediction_or_outcome():
    y = np.array([0.1, 0.5, 0.2], dtype=np.float32)
    assert np.isnan(spearman_of(np.full(3, 2.0), y))
    assert np.isnan(spearman_of(np.array([1.0, 2.0, 3.0]), np.full(3, 0.5, dtype=np.float32)))
    assert spearman_of(np.array([1.0, 3.0, 2.0]), y) == 1.0
