"""Hit-discovery acquisitions: Thompson sampling, UCB, probability of a hit, greedy exploitation and a
DiscoBAX-inspired cluster spread. Not in the GeneDisco paper; the usual baselines for finding the genes of
most extreme outcome rather than for learning the model.

Each hunts hits as the run's protocol counts them (``pool.hit_rule``): by |y| (``by="abs"``) or by the
largest signed y (``by="high"``). What a gene is scored by:

- ``exploit``: the predicted mean, |μ| or μ.
- ``ucb``: the optimistic outcome, |μ| + β·σ or μ + β·σ.
- ``probability_of_hit``: P(y beyond the current hit threshold) under N(μ, σ²).
- ``thompson``: one posterior draw per pick, |f| or f.
- ``discobax``: ``ucb``'s score, one pick per k-means cluster of the best candidates.

μ is ``model.predict`` and σ the population standard deviation of the model's fixed posterior samples
(``model.sample(X)``: a forest's trees, the bnn's dropout masks behind ``predict``). Every ranking puts
equal scores in position order except ``thompson``'s (see there). The pool is scored a block of genes at a
time; non-finite model output is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gd_core import hookimpl
from gd_core.errors import GdError
from gd_plugins_builtin._checks import check_batch_size, number, positive_int, refuse_non_finite
from gd_plugins_builtin.acquisitions import of_batch, sample_scores, top_of

# numpy loads inside the functions that compute: registering this plugin stays light (see __init__.py)
if TYPE_CHECKING:
    import numpy as np

    from gd_core.data import Pool

# Genes scored per model call, as in acquisitions.py: 100 trees × 2^15 genes is 26 MB of float64 samples.
_ROWS_PER_CHUNK = 1 << 15
# Thompson holds batch_size draws of a block at once: at most 2^22 float64 values (32 MB) per block.
_DRAW_CELLS = 1 << 22


@hookimpl
def gd_register_acquisitions(register):
    register("thompson", ThompsonAcquisition)
    register("ucb", UCBAcquisition)
    register("probability_of_hit", ProbabilityOfHitAcquisition)
    register("exploit", ExploitAcquisition)
    register("discobax", DiscoBAXAcquisition)


class ExploitAcquisition:
    """Greedy: the genes of most extreme predicted outcome, |μ| (hits by |y|) or μ (hits by largest y).

    Needs only ``predict``. Equal scores go to the lower position; ``rng`` is not used.
    """

    requires: tuple[str, ...] = ()

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of highest hit score of the predicted mean, best first.

        Sets ``last_explanation["score"]``: each chosen gene's |μ| or μ.
        """
        import numpy as np

        check_batch_size(batch_size, pool.available)
        by = _hits_by(pool, "exploit")
        mean = predicted_mean(pool, model)
        scores = np.abs(mean) if by == "abs" else mean
        batch = top_of(pool.available, scores, batch_size)
        self.last_explanation = {"score": of_batch(pool.available, batch, scores)}
        return batch


class UCBAcquisition:
    """Upper confidence bound for hits: the genes of highest optimistic outcome, |μ| + β·σ or μ + β·σ.

    μ is ``predict``, σ the standard deviation of the fixed posterior samples (needs ``sample``). Under hits
    by |y|, |μ| + β·σ is the larger |y| of the interval μ ± β·σ. β = 0 is ``exploit``.

    Args:
        beta: the width of the bound in standard deviations, ≥ 0. The default 2.0 is a one-sided 97.7% bound
            for a Gaussian posterior; the β_t that carries GP-UCB's regret guarantee grows with log t and
            is known to over-explore in practice, where constants of 1–3 are the usual choice.

    Equal scores go to the lower position; ``rng`` is not used.
    """

    requires: tuple[str, ...] = ("sample",)

    def __init__(self, beta: float = 2.0) -> None:
        self.beta = number("beta", beta, low=0.0, example="2.0")

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of highest upper bound, best first.

        Sets ``last_explanation["score"]``: each chosen gene's upper bound.
        """
        check_batch_size(batch_size, pool.available)
        by = _hits_by(pool, "ucb")
        scores = optimistic_score(*mean_and_sd(pool, model, batch_size), self.beta, by)
        batch = top_of(pool.available, scores, batch_size)
        self.last_explanation = {"score": of_batch(pool.available, batch, scores)}
        return batch


class ProbabilityOfHitAcquisition:
    """The genes most likely to be hits: P(y beyond the current hit threshold t) under y ~ N(μ, σ²).

    μ is ``predict``, σ the standard deviation of the fixed posterior samples (needs ``sample``). t is
    estimated from the outcomes measured so far (``pool.measured``; a pool without them is refused): the
    (1 − ``hit_rule.fraction``) quantile, numpy's "linear" method, of |measured| (hits by |y|) or of
    measured (hits by largest y). Then P = Φ((μ − t)/σ) + Φ((−t − μ)/σ) for |y| ≥ t, or Φ((μ − t)/σ) for
    y ≥ t. A gene with σ = 0 is certain: P is 1 beyond t, 0 short of it and ½ (Φ(0)) exactly at it.

    Probabilities that round to the same float (0 far in the tails, 1 when certain) are ordered by the
    larger z-score, (μ − t)/σ or (−t − μ)/σ, which P increases with; remaining ties go to the lower position.
    ``rng`` is not used.
    """

    requires: tuple[str, ...] = ("sample",)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """The ``batch_size`` available genes of highest probability of being hits, most likely first.

        Sets ``last_explanation["score"]``: each chosen gene's probability.
        """
        import numpy as np
        from scipy.special import ndtr

        check_batch_size(batch_size, pool.available)
        by = _hits_by(pool, "probability_of_hit")
        threshold = hit_threshold(pool, "probability_of_hit")
        mean, sd = mean_and_sd(pool, model, batch_size)
        upper = _z(mean - threshold, sd)
        if by == "abs":
            lower = _z(-threshold - mean, sd)
            probability, nearer = ndtr(upper) + ndtr(lower), np.maximum(upper, lower)
        else:
            probability, nearer = ndtr(upper), upper
        chosen = _ranked(batch_size, probability, nearer)
        self.last_explanation = {"score": probability[chosen]}
        return pool.available[chosen]


class ThompsonAcquisition:
    """Batch Thompson sampling for hits: each pick maximises its own fresh posterior draw, |f| or f.

    Needs ``sample`` with ``rng``. The b draws come from one call ``model.sample(block, n=b, rng=...)``
    per block of the pool, every block given a generator in the same state (seeded from ``rng``), so draw
    j is one coherent function over the whole pool. Pick j is the gene of highest hit score in draw j that
    no earlier pick took (so a draw that repeats an earlier one, as a forest's trees can, takes its next
    best gene); the batch is in draw order.

    Equal values within a draw are broken at random, by one priority per available gene drawn from ``rng``
    and shared by all draws (then by position), not by position: a tree is piecewise constant, so its best
    leaf often holds many genes, and position order (alphabetical by symbol) would decide every such pick.
    """

    requires: tuple[str, ...] = ("sample",)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, one per posterior draw, in draw order.

        Sets ``last_explanation["score"]``: the value of its draw (f, signed) at each chosen gene.
        """
        import numpy as np

        available = pool.available
        check_batch_size(batch_size, available)
        by = _hits_by(pool, "thompson")
        seed = int(rng.integers(2**63 - 1))
        priority = rng.random(len(available))
        keep = batch_size  # draw j needs only its j + 1 best genes: at most j of them are taken before it
        best = np.empty((batch_size, 0), dtype=np.int64)
        values = np.empty((batch_size, 0))
        step = max(1, min(_ROWS_PER_CHUNK, _DRAW_CELLS // batch_size))
        for start in range(0, len(available), step):
            rows = available[start:start + step]
            drawn = _draws(model, pool.X[rows], batch_size, np.random.default_rng(seed))
            index = np.concatenate([best, np.broadcast_to(np.arange(start, start + len(rows)), drawn.shape)], axis=1)
            values = np.concatenate([values, drawn], axis=1)
            hit = np.abs(values) if by == "abs" else values
            order = np.lexsort((index, -priority[index], -hit), axis=-1)[:, :keep]
            best = np.take_along_axis(index, order, axis=1)
            values = np.take_along_axis(values, order, axis=1)
        chosen = np.empty(batch_size, dtype=np.int64)
        scores = np.empty(batch_size)
        taken: set[int] = set()
        for j in range(batch_size):  # one iteration per batch slot
            k = next(k for k, i in enumerate(best[j].tolist()) if i not in taken)
            chosen[j], scores[j] = best[j, k], values[j, k]
            taken.add(int(best[j, k]))
        self.last_explanation = {"score": scores}
        return available[chosen]


class DiscoBAXAcquisition:
    """DiscoBAX-inspired: the best gene of each of b k-means clusters among the top genes by upper bound.

    Lyle et al. (ICML 2023, "DiscoBAX: discovery of optimal intervention sets in genomic experiment design")
    pick the genes most informative about the set of interventions with the best expected outcome, which
    spreads a batch over distinct high-effect mechanisms. Their estimator conditions a GP posterior on the
    output of a set-optimisation run for every posterior draw and every candidate, which is far too costly
    for a forest or a bnn on a 20,000-gene pool each cycle. This is a heuristic with the same aim, not that
    estimator:

    1. candidates: the top M = ``candidates_per_pick`` × b available genes by ``ucb``'s score (|μ| + β·σ
       or μ + β·σ; needs ``sample``), ties by position;
    2. k-means (k-means++ seeds and Lloyd, the best of ``n_init`` runs, seeded from ``rng``: the k-means of
       ``kmeans_data``) on the candidates' descriptors into b clusters, each candidate in its nearest
       centre's cluster;
    3. from each cluster its best-scored candidate; if duplicate descriptors leave clusters empty, the
       best remaining candidates fill the batch. The batch is ordered by score.

    With M = b (or b = 1) there is nothing to spread and the batch is ``ucb``'s.

    Args:
        beta: ``ucb``'s β, ≥ 0.
        candidates_per_pick: M / b. The default 5 gives each cluster a few genes to choose from while every
            candidate stays near the top of the ranking (the top 1% of 17,000 genes at b = 32).
        n_init: k-means runs, the lowest-inertia one kept.
        max_iter: Lloyd iterations per run.
    """

    requires: tuple[str, ...] = ("sample",)

    def __init__(self, beta: float = 2.0, candidates_per_pick: int = 5, n_init: int = 3, max_iter: int = 50) -> None:
        self.beta = number("beta", beta, low=0.0, example="2.0")
        self.candidates_per_pick = positive_int("candidates_per_pick", candidates_per_pick, "5")
        self.n_init = positive_int("n_init", n_init, "3")
        self.max_iter = positive_int("max_iter", max_iter, "50")

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, one per cluster where clusters allow, best first.

        Sets ``last_explanation``: ``"score"``, each chosen gene's upper bound, and ``"cluster"``, the index of
        its k-means centre.
        """
        import numpy as np

        from gd_plugins_builtin.diversity import kmeans, nearest_rows

        check_batch_size(batch_size, pool.available)
        by = _hits_by(pool, "discobax")
        scores = optimistic_score(*mean_and_sd(pool, model, batch_size), self.beta, by)
        candidates = _ranked(min(len(scores), self.candidates_per_pick * batch_size), scores)
        if len(candidates) == batch_size or batch_size == 1:
            chosen, cluster = candidates[:batch_size], np.arange(batch_size)
        else:
            points = np.asarray(pool.features(pool.available[candidates]), dtype=np.float32)
            centres = kmeans(points, batch_size, rng, n_init=self.n_init, max_iter=self.max_iter)
            labels = nearest_rows(centres, points)
            # candidates are in score order, so a cluster's first candidate is its best
            first = np.unique(labels, return_index=True)[1]
            spare = np.setdiff1d(np.arange(len(candidates)), first)[:batch_size - len(first)]
            ranks = np.sort(np.concatenate([first, spare]))
            chosen, cluster = candidates[ranks], labels[ranks]
        self.last_explanation = {"score": scores[chosen], "cluster": cluster}
        return pool.available[chosen]


# Shared pieces


def predicted_mean(pool: Pool, model: object) -> np.ndarray:
    """``model.predict`` on every available gene, float64, a block at a time; refused unless ``[m]`` and finite."""
    import numpy as np

    available = pool.available
    mean = np.empty(len(available))
    for start in range(0, len(available), _ROWS_PER_CHUNK):
        rows = available[start:start + _ROWS_PER_CHUNK]
        mean[start:start + len(rows)] = _real(model.predict(pool.X[rows]), "predict", (len(rows),))
    refuse_non_finite(mean, "predict")
    return mean


def mean_and_sd(pool: Pool, model: object, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """μ (``predict``) and σ (population standard deviation of the fixed samples) of every available gene."""
    return predicted_mean(pool, model), sample_scores(pool, model, batch_size, _sample_sd)


def _sample_sd(samples: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.std(samples, axis=0, dtype=np.float64)


def optimistic_score(mean: np.ndarray, sd: np.ndarray, beta: float, by: str) -> np.ndarray:
    """The upper bound of a hit score: |μ| + β·σ for hits by |y|, μ + β·σ for hits by largest y."""
    import numpy as np

    return (np.abs(mean) if by == "abs" else mean) + beta * sd


def hit_threshold(pool: Pool, name: str) -> float:
    """The current hit threshold: the (1 − fraction) quantile ("linear") of |measured| or measured."""
    import numpy as np

    measured = pool.measured
    if measured is None:
        raise GdError(f"acquisition '{name}' needs the outcomes measured so far (pool.measured), which this pool "
                      "does not hold; build the Pool with measured=")
    measured = np.asarray(measured, dtype=np.float64)
    if measured.shape != (len(pool.acquired),) or not len(measured):
        raise GdError(f"acquisition '{name}' needs one measured outcome per acquired gene; the pool holds "
                      f"{measured.shape} for {len(pool.acquired)} acquired genes")
    if not np.isfinite(measured).all():
        raise GdError(f"acquisition '{name}' was given NaN or infinite measured outcomes; check the assay")
    values = np.abs(measured) if pool.hit_rule.by == "abs" else measured
    return float(np.quantile(values, 1.0 - pool.hit_rule.fraction, method="linear"))


def _hits_by(pool: Pool, name: str) -> str:
    """``pool.hit_rule.by`` once checked: "abs" or "high", with a fraction in (0, 1)."""
    rule = pool.hit_rule
    if rule.by not in ("abs", "high") or not 0 < rule.fraction < 1:
        raise GdError(f"acquisition '{name}' cannot hunt hits by {rule.by!r} with fraction {rule.fraction!r}; "
                      "the hit rule must be by 'abs' or 'high' with a fraction between 0 and 1")
    return rule.by


def _z(difference: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """difference / σ, with σ = 0 taken as its limit: ±inf by the sign of the difference, 0 when it is 0."""
    import numpy as np

    z = np.where(difference > 0, np.inf, -np.inf)
    z[difference == 0] = 0.0
    spread = sd > 0
    z[spread] = difference[spread] / sd[spread]
    return z


def _real(values: object, method: str, shape: tuple[int, ...]) -> np.ndarray:
    """A model's output as an array of real numbers of the given shape, else a GdError naming the method."""
    import numpy as np

    out = np.asarray(values)
    if not (np.issubdtype(out.dtype, np.integer) or np.issubdtype(out.dtype, np.floating)) or out.shape != shape:
        raise GdError(f"model.{method} returned {out.dtype} values of shape {out.shape}; it must return "
                      f"[{', '.join(map(str, shape))}] real numbers")
    return out


def _draws(model: object, X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``model.sample(X, n, rng)`` as float64 ``[n, len(X)]``, refused unless of that shape and finite."""
    import numpy as np

    drawn = _real(model.sample(X, n, rng), "sample", (n, len(X))).astype(np.float64, copy=False)
    refuse_non_finite(drawn.T, "sample")
    return drawn


def _ranked(k: int, *keys: np.ndarray) -> np.ndarray:
    """Indices of the ``k`` largest entries, compared by the first key, then the next; then lower index first."""
    import numpy as np

    order = np.lexsort((np.arange(len(keys[0])), *(-key for key in reversed(keys))))
    return order[:k]
