"""Bayesian linear regression (``bayesian_linear``): the linear bandit's model, one of the strongest known baselines.

Gupta et al. (EMNLP Findings 2025) found linear bandits and Gaussian processes ahead of LLM agents on
BioDiscoveryAgent's screens. Imported only when a run builds the ``bayesian_linear`` model (see
``models.py``), so numpy stays out of ``gd list``.

The model is y = w·x + b + ε with w ~ N(0, α⁻¹I), a flat prior on b and ε ~ N(0, β⁻¹). Choices:

- Features are centred on the training genes' mean and divided by one scale for all of them, the root mean
  square of their standard deviations (as the ``bnn``; see ``gd_plugins_builtin.bnn`` for why not one per
  feature). With an isotropic prior a common scale changes nothing but α's units; outcomes are standardised
  likewise. Every output is in the outcome's units.
- The flat prior on b is handled by centring: b's posterior is N(ȳ − w·x̄, 1/(βn)), independent of w, and
  the evidence is that of the centred outcomes, n − 1 numbers.
- α and β maximise the evidence by MacKay's fixed-point updates (Bishop, PRML §3.5.2): γ = Σᵢ βλᵢ/(α + βλᵢ),
  α ← γ/‖m‖², β ← (n − 1 − γ)/‖y − Xm‖², with λᵢ the eigenvalues of XᵀX and m the posterior mean, from
  α = d, β = 1 (prior signal and noise each of the outcomes' variance), until both change by less than 1e-9
  relatively or ``max_iter`` updates (convergence is linear, and slow where the evidence is flat: 3,300
  updates, 30 ms, on 640 genes of an 808-feature descriptor with a weak signal). The eigendecomposition is
  done once, of the n×n Gram matrix XXᵀ when d > n (the dual form) and of XᵀX otherwise, after which an
  update costs O(min(n, d)). Both are kept in
  [1e-4, 1e8] times their start: constant outcomes or noiseless data would send one to infinity. A single
  gene has no evidence: the start is kept.
- ``sample`` draws whole linear functions, w and b jointly from the posterior: a draw is consistent across
  genes and blocks. Without ``rng`` they are ``n_samples`` draws fixed at ``fit`` (from its ``rng``), shifted
  to average exactly the posterior mean and scaled by √(n/(n−1)) to keep their variance unbiased, so that
  ``predict`` is their mean; with ``rng`` they are drawn afresh from it, as they are.
- ``embed`` is (x − x̄)·diag(|w|), w the posterior mean: each feature weighted by how much the model uses it.
- ``gradient_embedding`` is BADGE's for a linear last layer on h(x) = the centred, scaled features:
  (ĝ(x) − ŷ)·[h(x), 1] with ŷ ~ N(ĝ(x), σ²), σ² = 1 (standardised units), one pseudo-label per row from
  ``rng``; ``pseudo_label="mc_dropout"`` (badge's name for "the model's own predictive variance") takes σ²
  the posterior variance of f(x) instead.
"""

from __future__ import annotations

import math

import numpy as np

from gd_plugins_builtin._checks import one_of, training_data, whole

# α and β stay within these factors of their start (see the module docstring).
_LOW, _HIGH = 1e-4, 1e8
_TOLERANCE = 1e-9
# An eigenvalue below this fraction of the largest is rounding of a zero: its direction holds no data.
_RANK_TOLERANCE = 1e-10
_FIXED, _EXTRA = 0, 1  # streams for the fixed draws and for fixed sets of another size
PSEUDO_LABELS = ("likelihood", "mc_dropout")


class BayesianLinear:
    """Bayesian linear regression with Gaussian prior and noise precisions chosen by evidence maximisation.

    Args:
        n_samples: posterior draws of (w, b) that ``sample`` returns without ``n``.
        max_iter: most MacKay fixed-point updates of α and β.
    """

    def __init__(self, n_samples: int = 100, max_iter: int = 10000) -> None:
        # checked here, so a bad value stops a run before any cycle
        self.n_samples = whole("n_samples", n_samples, minimum=1, example="100")
        self.max_iter = whole("max_iter", max_iter, minimum=1, example="10000")
        self._mean_s: np.ndarray | None = None
        #: After ``fit``: the prior precision of the weights (per unit of scaled feature, standardised
        #: outcome), the noise precision (per standardised outcome unit²), the updates run, the log evidence
        #: of the standardised centred outcomes, and the posterior mean weights in the outcome's units per
        #: feature unit.
        self.alpha_: float | None = None
        self.beta_: float | None = None
        self.n_iter_: int | None = None
        self.log_evidence_: float | None = None
        self.coef_: np.ndarray | None = None

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> BayesianLinear:
        """Choose α and β by evidence maximisation, then fix the posterior and its ``n_samples`` draws."""
        X, y = training_data(X, y, "bayesian_linear", np.float64)
        n, d = X.shape
        self._x_mean = X.mean(axis=0)
        centred = X - self._x_mean
        scale = math.sqrt(float(centred.var(axis=0).mean()))
        self._x_scale = scale if scale > 1e-12 else 1.0
        self._y_mean = float(y.mean())
        y_std = float(y.std())
        self._y_std = y_std if y_std > 1e-12 * max(1.0, abs(self._y_mean)) else 1.0
        xs = centred / self._x_scale
        ys = (y - self._y_mean) / self._y_std

        lam, U, V = _eigen(xs)
        S = np.sqrt(lam)
        z = U.T @ ys  # the outcomes' coordinates along the data's principal directions
        rest = max(0.0, float(ys @ ys - z @ z))  # what lies in directions without data
        alpha, beta, self.n_iter_ = _mackay(lam, S, z, rest, n - 1, float(d), self.max_iter)
        self.alpha_, self.beta_, self._n, self._lam = alpha, beta, n, lam
        self.log_evidence_ = _log_evidence(alpha, beta, lam, z, rest, n - 1)

        # Posterior of w (scaled features, standardised outcome): mean V t, covariance
        # V diag(1/(α + βλ) − 1/α) Vᵀ + I/α; of b: N(0, 1/(βn)).
        self._V = V
        self._mean_s = V @ (beta * S * z / (alpha + beta * lam))
        self._root_gap = 1.0 / np.sqrt(alpha + beta * lam) - 1.0 / math.sqrt(alpha)
        self.coef_ = self._mean_s * self._y_std / self._x_scale
        root = int(rng.integers(2**63 - 1))
        self._root = root
        self._fixed = self._fixed_draws(self.n_samples, np.random.default_rng([root, _FIXED]))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The posterior mean w·x + b, float64 ``[len(X)]`` in the outcome's units."""
        return self._scaled(X, "predict") @ self._mean_s * self._y_std + self._y_mean

    def sample(self, X: np.ndarray, n: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Posterior draws of the linear function, float64 ``[n, len(X)]``: the fixed ones without ``rng``
        (``n_samples`` of them, or a fixed set of ``n`` derived from the fit), fresh ones from ``rng`` with it."""
        xs = self._scaled(X, "sample")
        n = self.n_samples if n is None else whole("n", n, minimum=1)
        if rng is not None:
            weights, intercepts = self._draws(rng.standard_normal((n, len(self._mean_s))), rng.standard_normal(n))
        elif n == self.n_samples:
            weights, intercepts = self._fixed
        else:
            weights, intercepts = self._fixed_draws(n, np.random.default_rng([self._root, _EXTRA, n]))
        return (xs @ weights.T + intercepts).T * self._y_std + self._y_mean

    def posterior_variance(self, X: np.ndarray) -> np.ndarray:
        """The posterior variance of f(x) = w·x + b, float64 ``[len(X)]`` in outcome units²."""
        return self._variance_s(self._scaled(X, "posterior_variance")) * self._y_std ** 2

    def embed(self, X: np.ndarray) -> np.ndarray:
        """(x − x̄)·diag(|w|), w the posterior mean in outcome units per feature unit: float32 ``[len(X), d]``."""
        return (self._centred(X, "embed") * np.abs(self.coef_)).astype(np.float32)

    def gradient_embedding(self, X: np.ndarray, rng: np.random.Generator,
                           pseudo_label: str = "likelihood") -> np.ndarray:
        """BADGE embeddings: (ĝ(x) − ŷ)·[h(x), 1] = −σε·[h(x), 1], ε = ``rng.standard_normal(len(X))``.

        h(x) is the centred, scaled features, σ = 1 (``"likelihood"``, the paper) or the posterior sd of f(x)
        in standardised units (``"mc_dropout"``). float32 ``[len(X), d + 1]``.
        """
        one_of("pseudo_label", pseudo_label, PSEUDO_LABELS)
        xs = self._scaled(X, "gradient_embedding")
        residual = -rng.standard_normal(len(xs))
        if pseudo_label != "likelihood":
            residual *= np.sqrt(self._variance_s(xs))
        out = np.empty((len(xs), xs.shape[1] + 1), dtype=np.float32)
        out[:, :-1] = residual[:, None] * xs
        out[:, -1] = residual
        return out

    # --- internals -------------------------------------------------------------------------------------

    def _draws(self, xi: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior draws (w ``[k, d]``, b ``[k]``) from standard normals ξ ``[k, d]`` and η ``[k]``:
        w = m + Σ^½ξ with Σ^½ = V diag(1/√(α + βλ) − 1/√α) Vᵀ + I/√α, b = η/√(βn)."""
        weights = self._mean_s + ((xi @ self._V) * self._root_gap) @ self._V.T + xi / math.sqrt(self.alpha_)
        return weights, eta / math.sqrt(self.beta_ * self._n)

    def _fixed_draws(self, n: int, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws whose normals are centred over the draws and rescaled, so their mean is the posterior mean."""
        xi = generator.standard_normal((n, len(self._mean_s)))
        eta = generator.standard_normal(n)
        if n > 1:
            factor = math.sqrt(n / (n - 1))
            xi = (xi - xi.mean(axis=0)) * factor
            eta = (eta - eta.mean()) * factor
        return self._draws(xi, eta)

    def _variance_s(self, xs: np.ndarray) -> np.ndarray:
        """xᵀΣx + 1/(βn) for scaled rows, in standardised outcome units."""
        projected = xs @ self._V
        quadratic = (projected ** 2) @ (1.0 / (self.alpha_ + self.beta_ * self._lam))
        outside = np.maximum(np.einsum("ij,ij->i", xs, xs) - np.einsum("ij,ij->i", projected, projected), 0.0)
        return quadratic + outside / self.alpha_ + 1.0 / (self.beta_ * self._n)

    def _centred(self, X: np.ndarray, method: str) -> np.ndarray:
        if self._mean_s is None:
            raise RuntimeError(f"BayesianLinear.{method} called before fit")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self._x_mean):
            raise ValueError(f"X must be [m, {len(self._x_mean)}] (the features the model was fitted on), "
                             f"got shape {X.shape}")
        return X.astype(np.float64) - self._x_mean

    def _scaled(self, X: np.ndarray, method: str) -> np.ndarray:
        return self._centred(X, method) / self._x_scale


def _eigen(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The data's nonzero eigenvalues λ (of XᵀX, equally of XXᵀ) with their unit eigenvectors on both sides:
    U ``[n, r]`` (XXᵀ's) and V ``[d, r]`` (XᵀX's), X V = U diag(√λ). The smaller Gram matrix is decomposed."""
    n, d = xs.shape
    if n <= d:
        lam, U = np.linalg.eigh(xs @ xs.T)
    else:
        lam, V = np.linalg.eigh(xs.T @ xs)
    keep = (lam > 0) & (lam > _RANK_TOLERANCE * float(lam.max()))
    lam = lam[keep]
    root = np.sqrt(lam)
    if n <= d:
        U = U[:, keep]
        V = (xs.T @ U) / root
    else:
        V = V[:, keep]
        U = (xs @ V) / root
    return lam, U, V


def _mackay(lam: np.ndarray, S: np.ndarray, z: np.ndarray, rest: float, dof: int, d: float,
            max_iter: int) -> tuple[float, float, int]:
    """MacKay's fixed point for (α, β) on the centred data's spectrum, clamped; returns (α, β, updates run)."""
    alpha, beta = d, 1.0
    alpha_range, beta_range = (d * _LOW, d * _HIGH), (_LOW, _HIGH)
    if dof < 1:
        return alpha, beta, 0
    for iteration in range(1, max_iter + 1):
        denominator = alpha + beta * lam
        t = beta * S * z / denominator  # the posterior mean's coordinates along V
        gamma = float(np.sum(beta * lam / denominator))  # the effective number of parameters
        norm = float(t @ t)
        residual = float(np.sum((z - S * t) ** 2)) + rest
        new_alpha = gamma / norm if norm > 0 else alpha_range[1]
        new_beta = (dof - gamma) / residual if residual > 0 else beta_range[1]
        # clamped: constant outcomes or noiseless data would send α or β to infinity
        new_alpha = min(max(new_alpha, alpha_range[0]), alpha_range[1])
        new_beta = min(max(new_beta, beta_range[0]), beta_range[1])
        done = abs(new_alpha - alpha) <= _TOLERANCE * alpha and abs(new_beta - beta) <= _TOLERANCE * beta
        alpha, beta = new_alpha, new_beta
        if done:
            break
    return float(alpha), float(beta), iteration


def _log_evidence(alpha: float, beta: float, lam: np.ndarray, z: np.ndarray, rest: float, dof: int) -> float:
    """log p(centred y | α, β): the centred outcomes are N(0, XXᵀ/α + I/β) on their ``dof`` dimensions."""
    if dof < 1:
        return 0.0
    variance = lam / alpha + 1.0 / beta
    empty = max(0, dof - len(lam))  # directions with noise only
    return -0.5 * (float(np.sum(z ** 2 / variance)) + beta * rest + float(np.sum(np.log(variance)))
                   - empty * math.log(beta) + dof * math.log(2 * math.pi))
