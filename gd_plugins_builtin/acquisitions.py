"""Built-in acquisition functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from gd_core import hookimpl
from gd_plugins_builtin._checks import (boolean, check_batch_size, positive_float, posterior_samples,
                                        refuse_non_finite)

# numpy loads inside the functions that compute: registering this plugin stays light (see __init__.py)
if TYPE_CHECKING:
    import numpy as np

    from gd_core.data import Pool

# Genes scored per call of model.sample: 100 trees × 2^15 genes is 26 MB of float64 samples.
_ROWS_PER_CHUNK = 1 << 15
# Relative size below which differences between scores are taken for float rounding (float32 models).
_ROUNDING = 1e-6


@hookimpl
def gd_register_acquisitions(register):
    register("random", RandomAcquisition)
    register("topuncertain", TopUncertainAcquisition)
    register("softuncertain", SoftUncertainAcquisition)
    register("marginsample", MarginSamplingAcquisition)
    register("descriptor_norm", DescriptorNormAcquisition)


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
    import numpy as np

    return 0.5 * np.log1p(posterior_variance(samples))


def posterior_variance(samples: np.ndarray) -> np.ndarray:
    """Variance over the posterior samples, one value per gene: BALD's order without its logarithm.

    Ranking by it rather than by ½·log(1 + Var) gives the same order in exact arithmetic, and the same bits
    on every CPU: numpy's vectorised log1p differs in the last bit between instruction sets, which can
    reorder genes whose scores are within rounding of each other.
    """
    import numpy as np

    return np.var(samples, axis=0, dtype=np.float64)


def margin_score(samples: np.ndarray) -> np.ndarray:
    """Spread of the posterior samples, max − min, one value per gene."""
    import numpy as np

    return np.ptp(samples, axis=0).astype(np.float64, copy=False)


class TopUncertainAcquisition:
    """BALD: the genes whose posterior samples disagree most, by ½·log(1 + variance) (paper eq. 5–6).

    The top b by BALD score are the top b by posterior variance, which is what is ranked (see
    ``posterior_variance``).
    """

    requires: tuple[str, ...] = ("sample",)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of highest BALD score, ties going to the lower position.

        Sets ``last_explanation["score"]``: each chosen gene's BALD score, ½·log(1 + variance), in nats.
        """
        import numpy as np

        variances = sample_scores(pool, model, batch_size, posterior_variance)
        batch = top_of(pool.available, variances, batch_size)
        self.last_explanation = {"score": 0.5 * np.log1p(of_batch(pool.available, batch, variances))}
        return batch


class MarginSamplingAcquisition:
    """Margin sampling: the genes whose posterior samples span the widest range, max − min (paper eq. 9–10)."""

    requires: tuple[str, ...] = ("sample",)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of widest sample range, ties going to the lower position.

        Sets ``last_explanation["score"]``: each chosen gene's sample range, max − min, in the outcome's units.
        """
        scores = sample_scores(pool, model, batch_size, margin_score)
        batch = top_of(pool.available, scores, batch_size)
        self.last_explanation = {"score": of_batch(pool.available, batch, scores)}
        return batch


class SoftUncertainAcquisition:
    """SoftBALD (paper eq. 7): genes drawn without replacement with probability ∝ exp(Î / Temp), Î the BALD score.

    Args:
        temperature: the temperature; with ``relative`` (the default) in units of the spread of the scores.
        relative: Temp = ``temperature`` × the standard deviation of Î over the available genes, so the
            temperature means the same on every assay, model and cycle (Î is in the outcome's units, and on
            real screens the bnn's Î spans ~1e-4 nats, where any fixed Temp near 1 draws at random). Shifting or
            scaling every score alike leaves the draw unchanged. ``relative=False`` takes ``temperature`` in
            nats as written in eq. 7 (the reference's default was 0.9).

    Temp → 0 gives ``topuncertain``, Temp → ∞ ``random``. The default, 1.5 relative, puts softuncertain
    midway: on schmidt_2021_il2 and sanchez_2021_tau, 46–68% of its picks come from the top tenth of genes by
    BALD score with either model, against 10% for ``random`` and 100% for ``topuncertain`` (at T = 0.9 in
    nats, the reference's default, 10–14%: random; see benchmarks/README.md). The reference
    (genedisco 1.0.5) took softmax(exp(Î / Temp)), exponentiating twice, which flattens the draw to nearly
    uniform; here the scores are exponentiated once. Scores equal to within 1e-6 of their size: a uniform draw.
    """

    requires: tuple[str, ...] = ("sample",)

    def __init__(self, temperature: float = 1.5, relative: bool = True) -> None:
        self.temperature = positive_float("temperature", temperature, "1.5")
        self.relative = boolean("relative", relative)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available genes, drawn in order of decreasing Gumbel-perturbed log-weight.

        Sets ``last_explanation["score"]``: each chosen gene's BALD score Î (nats), which its weight grows with.
        """
        scores = sample_scores(pool, model, batch_size, bald_score)
        # Gumbel-top-k: the k largest of log w + Gumbel noise are a draw without replacement with
        # probability ∝ w (successive sampling), so w = exp(score / T) is never formed and cannot overflow.
        batch = top_of(pool.available, self.log_weights(scores) + rng.gumbel(size=len(scores)), batch_size)
        self.last_explanation = {"score": of_batch(pool.available, batch, scores)}
        return batch

    def log_weights(self, scores: np.ndarray) -> np.ndarray:
        """log w = (Î − max Î) / Temp for each gene; the best gene has 0, and a vanishing w is −inf."""
        import numpy as np

        temperature = self.temperature
        if self.relative:
            spread = float(np.std(scores))
            # A spread within rounding of the scores' size is no information: a relative temperature would
            # blow it up into a confident ranking.
            if spread <= _ROUNDING * float(np.max(np.abs(scores))):
                return np.zeros(len(scores))
            temperature *= spread
        with np.errstate(over="ignore"):
            return (scores - scores.max()) / temperature


class DescriptorNormAcquisition:
    """A model-free baseline: the available genes whose descriptors have the largest Euclidean norm.

    Not in the paper. On annotation-derived descriptors (``gene_ontology``) the norm grows with how much is
    known about a gene, so this asks how much of an acquisition's hit rate "well-studied genes are hits"
    explains. Equal norms go to the lower position; ``rng`` and the model are not used.
    """

    requires: tuple[str, ...] = ()

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of largest descriptor norm, largest first."""
        import numpy as np

        check_batch_size(batch_size, pool.available)
        norms = np.empty(len(pool.available))
        for start in range(0, len(pool.available), _ROWS_PER_CHUNK):
            block = pool.X[pool.available[start:start + _ROWS_PER_CHUNK]].astype(np.float64)
            norms[start:start + len(block)] = np.einsum("ij,ij->i", block, block)
        return top_of(pool.available, norms, batch_size)


def sample_scores(pool: Pool, model: object, batch_size: int,
            statistic: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``statistic`` of the model's posterior samples for every available gene, a chunk of rows at a time."""
    import numpy as np

    available = pool.available
    check_batch_size(batch_size, available)
    scores = np.empty(len(available), dtype=np.float64)
    for start in range(0, len(available), _ROWS_PER_CHUNK):
        rows = available[start:start + _ROWS_PER_CHUNK]
        # No rng: the model's own fixed samples (all trees; the dropout masks behind predict) score every
        # chunk alike, where fresh draws per chunk would make a gene's score depend on its chunk.
        scores[start:start + len(rows)] = statistic(posterior_samples(model, pool.X[rows]))
    refuse_non_finite(scores, "sample")
    return scores


def of_batch(available: np.ndarray, batch: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (one per available gene) of the batch's genes, in batch order: what ``last_explanation`` reports."""
    import numpy as np

    return values[np.searchsorted(available, batch)]  # available is sorted and holds every gene of the batch


def top_of(available: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` entries of ``available`` with the largest keys, best first; ties go to the lower position.

    ``available`` is sorted, so index order is position order. A partition finds the k-th largest key in
    linear time; only the k winners are sorted.
    """
    import numpy as np

    kth = np.partition(keys, len(keys) - k)[len(keys) - k]
    above = np.flatnonzero(keys > kth)
    tied = np.flatnonzero(keys == kth)[: k - len(above)]
    chosen = np.concatenate([above, tied])
    return available[chosen[np.lexsort((chosen, -keys[chosen]))]]
