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

    needs_test_split = True  # refused under a protocol without test genes

    def __call__(self, pool: Pool, model: object, truth: Truth) -> float:
        import numpy as np

        return float(np.mean((truth.predicted_test - truth.y_test.astype(np.float64)) ** 2))


class HitRatio:
    """Share of the run's hits acquired so far, the first batch included.

    The protocol says which genes are hits: GeneDisco's top 5% of the non-test genes by |y|, BioDiscoveryAgent's
    published lists, DiscoBAX's top 1% by signed y (``gd_core.protocols``).
    """

    def __call__(self, pool: Pool, model: object, truth: Truth) -> float:
        import numpy as np

        return float(np.isin(truth.hits, pool.acquired).mean())


class Spearman:
    """Spearman rank correlation of predicted mean and outcome on the test genes.

    NaN (recorded, not an error) when the prediction is constant: it ranks no gene above another, so the
    correlation is undefined. The loop has already refused non-finite predictions.
    """

    needs_test_split = True  # refused under a protocol without test genes

    def __call__(self, pool: Pool, model: object, truth: Truth) -> float:
        import numpy as np

        if np.ptp(truth.predicted_test) == 0 or np.ptp(truth.y_test) == 0:
            return float("nan")  # a constant has no ranking
        # scipy.stats.spearmanr's arithmetic (average ranks, then np.corrcoef of the [n, 2] ranks), so the values
        # are the same to the bit, without importing scipy.stats (about 0.4 s per run).
        ranked = np.column_stack((_average_ranks(truth.predicted_test), _average_ranks(truth.y_test)))
        return float(np.corrcoef(ranked, rowvar=False)[1, 0])


def _average_ranks(values):
    """1-based ranks as float64, tied values sharing the mean of the ranks they span."""
    import numpy as np

    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]  # the first of each run of equal values
    run = np.cumsum(starts) - 1  # the run each sorted value belongs to
    bounds = np.r_[np.flatnonzero(starts), len(values)]  # run i spans sorted positions bounds[i] .. bounds[i+1]-1
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = 0.5 * (bounds[run] + bounds[run + 1] + 1)
    return ranks
