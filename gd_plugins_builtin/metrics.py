"""Built-in metrics, computed once per cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gd_core import hookimpl

# numpy loads inside the metrics, and gd_core.data (pandas) only for annotations (see __init__.py)
if TYPE_CHECKING:
    from gd_core.data import Pool, Truth


@hookimpl
def gd_register_metrics(register):
    register("mse", MeanSquaredError, better="lower")
    register("hit_ratio", HitRatio, better="higher")
    register("spearman", Spearman, better="higher")


class MeanSquaredError:
    """Test-set mean squared error of the model's predicted mean."""

    def __call__(self, pool: Pool, model: object, truth: Truth) -> float:
        import numpy as np

        return float(np.mean((truth.predicted_test - truth.y_test.astype(np.float64)) ** 2))


class HitRatio:
    """Share of the top-|y| non-test genes (the hits) acquired so far."""

    def __call__(self, pool: Pool, model: object, truth: Truth) -> float:
        import numpy as np

        return float(np.isin(truth.hits, pool.acquired).mean())


class Spearman:
    """Spearman rank correlation of predicted mean and outcome on the test genes.

    NaN (recorded, not an error) when the prediction is constant: it ranks no gene above another, so the
    correlation is undefined. The loop has already refused non-finite predictions.
    """

    def __call__(self, pool: Pool, model: object, truth: Truth) -> float:
        import numpy as np
        from scipy.stats import spearmanr

        if np.ptp(truth.predicted_test) == 0:
            return float("nan")  # a constant prediction has no ranking
        return float(spearmanr(truth.predicted_test, truth.y_test).statistic)
