"""Adversarial BIM: the genes whose predictive variance a small input perturbation raises most (eqs. 11–13).

The basic iterative method (Kurakin et al. 2017) climbs the model's predictive variance from each
available gene's descriptor, inside a box around it: the adversarial point is the nearby descriptor the
model is least sure about. We measure the real genes nearest the strongest adversarial points.

The reference (genedisco 1.0.5, ``AdversarialBIM``) steps ``eta += eps·sign(∂Var/∂x)`` (``eps = 0.05``)
until ``‖eta‖ ≥ gamma·‖x‖`` (``gamma = 0.35``, at most 1000 steps) and takes the genes of smallest
``‖eta‖²``. In regression there is no label to flip, so that rule never looks at the variance: ``‖eta‖``
follows from ``‖x‖`` and the step size, and it picks genes of small descriptor norm. It also scores only
the first 100 available genes. Here:

- The box is BIM's clip: feature j moves at most ``epsilon·σ_j``, σ_j its standard deviation over all
  genes of the descriptor, so one ε suits descriptors of any scale; the default 0.35 keeps the
  reference's ``gamma`` as the relative size of the neighbourhood.
- ``steps`` sign steps of ``step_size·σ_j`` climb the variance; the default step, ``2.5·epsilon/steps``
  (Madry et al.'s choice), reaches the edge of the box in 40% of the steps and slides along it after.
- A gene's score is the variance its perturbation gained, Var(x_adv) − Var(x), as the path integral of
  the gradient along the BIM path (trapezoid rule, exact for a quadratic variance), so the model needs
  only ``input_gradient``. Every available gene is scored, a block of rows at a time.
- The b best-scoring adversarial points, best first, each take their nearest available gene (Euclidean
  distance between descriptors; usually the gene they started from), a different gene each. Equal scores
  go to the lower position.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gd_core import hookimpl
from gd_core.data import Pool
from gd_core.errors import GdError
from gd_plugins_builtin._checks import check_batch_size, positive_float, positive_int, refuse_non_finite
from gd_plugins_builtin.diversity import nearest_distinct

# Genes perturbed together: each of steps + 1 input_gradient calls sees at most this many rows.
_ROWS_PER_CALL = 1 << 14


@hookimpl
def gd_register_acquisitions(register):
    register("adversarialBIM", AdversarialBIMAcquisition)


class AdversarialBIMAcquisition:
    """Adversarial BIM: genes nearest the points of largest variance gain within an ε-box (paper eqs. 11–13).

    Each available gene's descriptor x climbs the predictive variance by ``steps`` steps
    x ← clip_{x0, ε·σ}(x + step_size·σ·sign(∂Var/∂x)), σ being each feature's standard deviation; the
    genes nearest the adversarial points that gained most variance are chosen (the module docstring gives
    the reasoning and how it departs from the reference).
    """

    requires: tuple[str, ...] = ("input_gradient",)

    def __init__(self, epsilon: float = 0.35, steps: int = 10, step_size: float | None = None) -> None:
        self.epsilon = positive_float("epsilon", epsilon, "0.35")
        self.steps = positive_int("steps", steps, "10")
        self.step_size = 2.5 * self.epsilon / self.steps if step_size is None \
            else positive_float("step_size", step_size, f"{2.5 * self.epsilon / self.steps:.3g}")

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, for the strongest adversarial point first."""
        check_batch_size(batch_size, pool.available)
        available = pool.available
        scale = feature_scale(pool.X)
        radius, step = (self.epsilon * scale).astype(np.float32), (self.step_size * scale).astype(np.float32)
        gradient = _checked(model.input_gradient, pool.X.shape[1])
        # Keep a running top-b of (gain, index) and the adversarial points that go with it.
        gains, index = np.empty(0), np.empty(0, dtype=np.int64)
        points = np.empty((0, pool.X.shape[1]), dtype=np.float32)
        for start in range(0, len(available), _ROWS_PER_CALL):
            rows = available[start:start + _ROWS_PER_CALL]
            adversarial, gain = bim_perturb(gradient, pool.X[rows], radius, step, self.steps)
            gains = np.concatenate([gains, gain])
            index = np.concatenate([index, np.arange(start, start + len(rows))])
            points = np.concatenate([points, adversarial])
            keep = np.lexsort((index, -gains))[:batch_size]
            gains, index, points = gains[keep], index[keep], points[keep]
        chosen = nearest_distinct(pool.X, points, rows=available, serve=np.arange(batch_size))
        return available[chosen]


def feature_scale(X: np.ndarray) -> np.ndarray:
    """Standard deviation of each feature over all rows (float64, two passes over blocks of rows)."""
    total = np.zeros(X.shape[1])
    for start in range(0, len(X), _ROWS_PER_CALL):
        total += X[start:start + _ROWS_PER_CALL].sum(axis=0, dtype=np.float64)
    mean = total / max(len(X), 1)
    spread = np.zeros(X.shape[1])
    for start in range(0, len(X), _ROWS_PER_CALL):
        spread += ((X[start:start + _ROWS_PER_CALL] - mean) ** 2).sum(axis=0)
    return np.sqrt(spread / max(len(X), 1))


def bim_perturb(gradient: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, radius: np.ndarray,
                step: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The basic iterative method on the variance: adversarial points and the variance each gained.

    Args:
        gradient: ``∂Var/∂x`` for rows of inputs, ``[len(x), d]``.
        x0: starting descriptors ``[n, d]``.
        radius: how far each feature may move, ``[d]`` (the box is ``|x − x0| ≤ radius``).
        step: the size of a sign step per feature, ``[d]``.
        steps: number of steps.

    Returns:
        ``x [n, d]`` float32 inside the box, and the gain ``Var(x) − Var(x0)`` estimated by the
        trapezoid rule along the path (``steps + 1`` gradient calls).
    """
    x0 = np.asarray(x0, dtype=np.float32)
    low, high = x0 - radius, x0 + radius
    x, g = x0, gradient(x0)
    gain = np.zeros(len(x0))
    for _ in range(steps):
        # float32 and in place: on a million genes this loop is memory-bound, not arithmetic-bound.
        moved = np.sign(g).astype(np.float32, copy=False)
        moved *= step
        moved += x
        np.clip(moved, low, high, out=moved)
        g_moved = gradient(moved)
        gain += 0.5 * np.einsum("ij,ij->i", g + g_moved, moved - x)
        x, g = moved, g_moved
    return x, gain


def _checked(input_gradient: Callable[[np.ndarray], np.ndarray], d: int) -> Callable[[np.ndarray], np.ndarray]:
    """``input_gradient`` as float32, refusing a wrong shape or non-finite values with a GdError."""

    def gradient(x: np.ndarray) -> np.ndarray:
        g = np.asarray(input_gradient(x), dtype=np.float32)
        if g.shape != (len(x), d):
            raise GdError(f"model.input_gradient returned shape {g.shape} for {len(x)} genes of {d} "
                          f"features; it must return [{len(x)}, {d}]")
        refuse_non_finite(g, "input_gradient")
        return g

    return gradient
