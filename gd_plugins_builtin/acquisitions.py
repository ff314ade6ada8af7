"""Built-in acquisition functions."""

from __future__ import annotations

from typing import Callable

import numpy as np

from gd_core import hookimpl
from gd_core.data import Pool
from gd_core.errors import GdError
from gd_plugins_builtin._checks import check_batch_size, positive_float, refuse_non_finite

# Genes scored per call of model.sample: 100 trees × 2^15 genes is 26 MB of float64 samples.
_ROWS_PER_CHUNK = 1 << 15


@hookimpl
def gd_register_acquisitions(register):
    register("random", RandomAcquisition)
    register("topuncertain", TopUncertainAcquisition)
    register("softuncertain", SoftUncertainAcquisition)
    register("marginsample", MarginSamplingAcquisition)


class RandomAcquisition:
    """Uniformly random genes from the available pool (paper eq. 1)."""

    requires: tuple[str, ...] = ()

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, drawn uniformly."""
        return rng.choice(pool.available, batch_size, replace=False)


def bald_score(samples: np.ndarray) -> np.ndarray:
    """BALD for a regression model: ½·log(1 + Var over posterior samples), one value per gene.

    With a Gaussian likelihood of unit noise variance and the predictive approximated as Gaussian, the
    mutual information between a gene's outcome and the model parameters is the entropy of the predictive
    minus the expected entropy of the likelihood, ½·log(2πe(1 + Var)) − ½·log(2πe) = ½·log(1 + Var).
    It ranks genes exactly as the variance does; its scale matters only to ``softuncertain``.
    """
    return 0.5 * np.log1p(np.var(samples, axis=0, dtype=np.float64))


def margin_score(samples: np.ndarray) -> np.ndarray:
    """Spread of the posterior samples, max − min, one value per gene."""
    return np.ptp(samples, axis=0).astype(np.float64, copy=False)


class TopUncertainAcquisition:
    """BALD: the genes whose posterior samples disagree most, by ½·log(1 + variance) (paper eq. 5–6)."""

    requires: tuple[str, ...] = ("sample",)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of highest BALD score, ties going to the lower position."""
        return _top(pool.available, _scores(pool, model, batch_size, bald_score), batch_size)


class MarginSamplingAcquisition:
    """Margin sampling: the genes whose posterior samples span the widest range, max − min (paper eq. 9–10)."""

    requires: tuple[str, ...] = ("sample",)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of widest sample range, ties going to the lower position."""
        return _top(pool.available, _scores(pool, model, batch_size, margin_score), batch_size)


class SoftUncertainAcquisition:
    """SoftBALD: genes drawn without replacement with probability ∝ exp(BALD score / temperature) (paper eq. 7).

    The reference (genedisco 1.0.5) exponentiates twice, softmax(exp(x / T)), which flattens the
    distribution to nearly uniform; here the scores are exponentiated once. Small temperatures approach
    ``topuncertain``, large ones ``random``. The default 0.9 is the reference's. The weight
    exp(score / T) = (1 + Var)^(1 / 2T) is in the outcome's units: where the variances are small next to 1
    it hardly varies and temperatures near 1 draw almost at random, so lower the temperature (e.g. 0.05).
    """

    requires: tuple[str, ...] = ("sample",)

    def __init__(self, temperature: float = 0.9) -> None:
        self.temperature = positive_float("temperature", temperature, "0.9")

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available genes, drawn in order of decreasing Gumbel-perturbed log-weight."""
        scores = _scores(pool, model, batch_size, bald_score)
        # Gumbel-top-k: the k largest of log w + Gumbel noise are a draw without replacement with
        # probability ∝ w (successive sampling), so w = exp(score / T) is never formed and cannot overflow.
        # Shifting by the maximum keeps the best gene at log w = 0; a vanishing w underflows to −inf (w = 0).
        with np.errstate(over="ignore"):
            log_weights = (scores - scores.max()) / self.temperature
        return _top(pool.available, log_weights + rng.gumbel(size=len(scores)), batch_size)


def _scores(pool: Pool, model: object, batch_size: int,
            statistic: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``statistic`` of the model's posterior samples for every available gene, a chunk of rows at a time."""
    available = pool.available
    check_batch_size(batch_size, available)
    scores = np.empty(len(available), dtype=np.float64)
    for start in range(0, len(available), _ROWS_PER_CHUNK):
        rows = available[start:start + _ROWS_PER_CHUNK]
        # No rng: the model's own fixed samples (all trees; the dropout masks behind predict) score every
        # chunk alike, where fresh draws per chunk would make a gene's score depend on its chunk.
        samples = np.asarray(model.sample(pool.X[rows]))
        if samples.ndim != 2 or samples.shape[1] != len(rows) or samples.shape[0] < 1:
            raise GdError(f"model.sample returned shape {samples.shape} for {len(rows)} genes; "
                          f"it must return [n_samples, {len(rows)}]")
        scores[start:start + len(rows)] = statistic(samples)
    refuse_non_finite(scores, "sample")
    return scores


def _top(available: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` entries of ``available`` with the largest keys, best first; ties go to the lower position.

    ``available`` is sorted, so index order is position order. A partition finds the k-th largest key in
    linear time; only the k winners are sorted.
    """
    kth = np.partition(keys, len(keys) - k)[len(keys) - k]
    above = np.flatnonzero(keys > kth)
    tied = np.flatnonzero(keys == kth)[: k - len(above)]
    chosen = np.concatenate([above, tied])
    return available[chosen[np.lexsort((chosen, -keys[chosen]))]]
