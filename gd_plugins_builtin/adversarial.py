"""Adversarial BIM (paper Appendix B, eqs. 11–13): real genes nearest the descriptors of highest
uncertainty reachable by a small perturbation of each available gene.

Eq. 12: from every available gene's descriptor t, ``steps`` sign steps climb the model's predictive
variance, t̂ ← Π(t̂ + α·sign(∇ Var(t̂))), where Π projects onto the L2 ball ‖t̂ − t‖₂ ≤ γ‖t‖₂ (every
iterate, as BIM's clip does). Eq. 13: each adversarial point t̂ is mapped to its nearest available gene
(Euclidean distance between descriptors; the gene it started from is a candidate like any other), and the
acquisition is the union of those genes.

Where the paper is silent, chosen here:

- **Step size.** Eq. 12 writes a unit sign step. In descriptor units that depends on the descriptor (on
  ``gene_ontology`` a unit step in all 128 features is ten times the median ball radius), so a step moves
  every feature by ``step_size · γ‖t‖₂ / √d``: a step whose every feature moves has L2 length
  ``step_size`` times the ball's radius. The default ``step_size = 2.5 / steps`` (Madry et al. 2018) lets the
  iterate reach the ball's edge within 40% of the steps and slide along it after.
- **Which b of the mapped genes.** The union of eq. 13 holds up to one gene per available gene. The
  adversarial points are ranked by the predictive variance at the point, Var(t̂), highest first, and their
  nearest genes are taken in that order, skipping a gene already taken (a union counts a gene once), until
  b are chosen. Equal variances go to the lower position. If all points together map to fewer than b
  genes, the rest are the unchosen starting genes in the same order.

The reference (genedisco 1.0.5, ``AdversarialBIM``) steps ``eta += 0.05·sign(∂Var/∂x)`` until
``‖eta‖ ≥ 0.35·‖x‖`` and takes the genes of smallest ``‖eta‖²``, which never looks at the variance (the
stopping norm follows from ‖x‖ and the step), of the first 100 available genes only: a bug, not the method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from gd_core import hookimpl
from gd_core.errors import GdError
from gd_plugins_builtin._checks import (check_batch_size, positive_float, positive_int, posterior_samples,
                                        real_numbers, refuse_non_finite)
from gd_plugins_builtin.acquisitions import posterior_variance
from gd_plugins_builtin.diversity import nearest_rows

# numpy loads inside the functions that compute: registering this plugin stays light (see __init__.py)
if TYPE_CHECKING:
    import numpy as np

    from gd_core.data import Pool

# Genes perturbed together: each of steps + 1 model calls sees at most this many rows.
_ROWS_PER_CALL = 1 << 14


@hookimpl
def gd_register_acquisitions(register):
    register("adversarialBIM", AdversarialBIMAcquisition)


class AdversarialBIMAcquisition:
    """Adversarial BIM: genes nearest the most uncertain points within ‖t̂ − t‖₂ ≤ γ‖t‖₂ (paper eqs. 11–13).

    Sign steps climb the predictive variance from every available gene inside its ball; each adversarial
    point is mapped to its nearest available gene, most uncertain point first.

    Args:
        gamma: radius of each gene's ball relative to its descriptor's norm (γ of eq. 12; the reference's
            0.35).
        steps: sign steps per gene (m of eq. 12).
        step_size: the L2 length of a full sign step as a fraction of the ball's radius (default 2.5 / steps).

    After ``select``, ``origins_`` holds, for each chosen gene, the position of the gene whose adversarial
    point nominated it, and ``scores_`` that point's predictive variance.
    """

    requires: tuple[str, ...] = ("input_gradient", "sample")

    def __init__(self, gamma: float = 0.35, steps: int = 10, step_size: float | None = None) -> None:
        self.gamma = positive_float("gamma", gamma, "0.35")
        self.steps = positive_int("steps", steps, "10")
        self.step_size = 2.5 / self.steps if step_size is None \
            else positive_float("step_size", step_size, f"{2.5 / self.steps:.3g}")
        self.origins_: np.ndarray | None = None
        self.scores_: np.ndarray | None = None

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, nominated by the most uncertain adversarial point first."""
        import numpy as np

        check_batch_size(batch_size, pool.available)
        available = pool.available
        gradient = _checked(model.input_gradient, "input_gradient", pool.X.shape[1])
        variance = _variance(model)
        # Keep the best `keep` adversarial points; a second pass with all of them is needed only when their
        # nearest genes coincide so much that fewer than batch_size distinct genes come out.
        keep = min(len(available), max(4 * batch_size, 256))
        while True:
            scores, index, points = self._best_points(pool, available, gradient, variance, keep)
            nearest = nearest_rows(pool.X, points, rows=available)
            chosen, origins = _union_in_order(nearest, index, batch_size)
            if len(chosen) == batch_size or keep == len(available):
                break
            keep = min(len(available), keep * 4)
        if len(chosen) < batch_size:  # every point mapped: fill with unchosen starting genes, same order
            taken = set(chosen.tolist())
            spare = [i for i in index.tolist() if i not in taken][:batch_size - len(chosen)]
            chosen, origins = np.concatenate([chosen, spare]), np.concatenate([origins, spare])
        order = {int(i): k for k, i in enumerate(index)}
        self.origins_ = available[origins]
        self.scores_ = scores[[order[int(i)] for i in origins]]
        return available[chosen]

    def _best_points(self, pool: Pool, available: np.ndarray, gradient: Callable, variance: Callable,
                     keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``keep`` adversarial points of highest variance: variances, indices into ``available``, points."""
        import numpy as np

        scores, index = np.empty(0), np.empty(0, dtype=np.int64)
        points = np.empty((0, pool.X.shape[1]), dtype=np.float32)
        for start in range(0, len(available), _ROWS_PER_CALL):
            rows = available[start:start + _ROWS_PER_CALL]
            adversarial = bim_perturb(gradient, pool.X[rows], self.gamma, self.steps, self.step_size)
            scores = np.concatenate([scores, variance(adversarial)])
            index = np.concatenate([index, np.arange(start, start + len(rows))])
            points = np.concatenate([points, adversarial])
            best = np.lexsort((index, -scores))[:keep]
            scores, index, points = scores[best], index[best], points[best]
        return scores, index, points


def bim_perturb(gradient: Callable[[np.ndarray], np.ndarray], t: np.ndarray, gamma: float, steps: int,
                step_size: float) -> np.ndarray:
    """Eq. 12: ``steps`` sign steps along ``gradient`` from each row of ``t``, each iterate projected onto
    the L2 ball ‖t̂ − t‖₂ ≤ γ‖t‖₂ (a gene with a zero descriptor stays where it is).

    Args:
        gradient: ∂Var/∂t for rows of descriptors, ``[len(t), d]``.
        t: starting descriptors ``[n, d]``.
        gamma: the ball's radius relative to ‖t‖₂.
        steps: number of sign steps.
        step_size: a full sign step's L2 length as a fraction of the radius.

    Returns:
        The adversarial descriptors ``[n, d]``, float32.
    """
    import numpy as np

    t = np.asarray(t, dtype=np.float64)
    radius = gamma * np.linalg.norm(t, axis=1)
    alpha = (step_size * radius / np.sqrt(t.shape[1]))[:, None]  # per gene, per feature
    moved = t.copy()
    for _ in range(steps):
        moved += alpha * np.sign(gradient(moved.astype(np.float32)))
        delta = moved - t
        length = np.linalg.norm(delta, axis=1)
        outside = length > radius
        # Projection onto the ball: pull the step back along its own direction to the radius.
        delta[outside] *= (radius[outside] / length[outside])[:, None]
        moved = t + delta
    return moved.astype(np.float32)


def _union_in_order(nearest: np.ndarray, index: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 13's union taken in rank order: the first ``batch_size`` distinct nearest genes, and who chose them."""
    import numpy as np

    _, first = np.unique(nearest, return_index=True)
    first = np.sort(first)[:batch_size]  # the best-ranked point of each distinct gene, in rank order
    return nearest[first], index[first]


def _variance(model: object) -> Callable[[np.ndarray], np.ndarray]:
    """Predictive variance over the model's own posterior samples (those ``input_gradient`` differentiates)."""

    def variance(x: np.ndarray) -> np.ndarray:
        samples = posterior_samples(model, x)
        refuse_non_finite(samples.T, "sample")
        return posterior_variance(samples)

    return variance


def _checked(method: Callable[[np.ndarray], np.ndarray], name: str, d: int) -> Callable[[np.ndarray], np.ndarray]:
    """``method`` as float32 ``[len(x), d]``, refusing a wrong shape or non-finite values with a GdError."""

    def call(x: np.ndarray) -> np.ndarray:
        import numpy as np

        g = real_numbers(method(x), name, f"[{len(x)}, {d}]").astype(np.float32, copy=False)
        if g.shape != (len(x), d):
            raise GdError(f"model.{name} returned shape {g.shape} for {len(x)} genes of {d} "
                          f"features; it must return [{len(x)}, {d}]")
        refuse_non_finite(g, name)
        return g

    return call
