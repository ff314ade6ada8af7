"""Exact Gaussian-process regression (``gp``), one of the strongest known baselines for gene discovery.

Gupta et al. (EMNLP Findings 2025) found Gaussian processes and linear bandits ahead of LLM agents on
BioDiscoveryAgent's screens. A run measures a few hundred to a few thousand genes, which an exact GP handles
with one Cholesky factorisation. Imported only when a run builds the ``gp`` model (see ``models.py``), so
numpy and scipy stay out of ``gd list``.

Modelling choices (the paper leaves them open):

- Outcomes are standardised with the training genes' mean and standard deviation (1 when they are all
  equal); the prior mean is that training mean, a constant.
- Features are centred on the training genes' mean and otherwise used as given: no per-feature scaling. An
  isotropic RBF kernel is unchanged by a shift, and a common scale goes into the lengthscale; scaling each
  feature to unit variance would lift the weak, mostly-noise tail of an SVD descriptor to the level of its
  leading components (measured for the ``bnn``, see ``gd_plugins_builtin.bnn``).
- Kernel: k(x, x') = s · exp(−‖x − x'‖² / (2ℓ²)), one lengthscale ℓ for all features (one per feature, ARD,
  over ~800 features is slow and overfits a few hundred genes), plus noise variance σ² on the diagonal.
- ℓ, s and σ² maximise the log marginal likelihood (L-BFGS-B on their logarithms, analytic gradients) from
  a deterministic start: ℓ the median distance between training genes, s = σ² = 0.5 (half the variance
  signal, half noise). Bounds: ℓ within a factor 100 of that median, s in [1e-6, 1e3] and σ² in
  [``min_noise``, 10], all in standardised outcome units. Above ``hyperparameter_rows`` training genes the
  likelihood is that of a random subset of them (drawn with the fit's ``rng``), which bounds the fit's cost;
  the posterior always conditions on every gene.
- All linear algebra is in float64.
- The posterior is that of the latent function f, not of a noisy outcome: the noise is the same for every
  gene, so it would only dilute the uncertainty acquisitions' scores (as the forest's trees and the bnn's
  dropout passes, the samples are of the mean function).
- Samples are marginal: each gene's column is drawn from its own posterior N(μ(x), v(x)), without the
  correlations between genes. Without ``rng`` they are the n normal quantiles, standardised to mean 0 and
  variance 1 exactly, z_j, the same for every gene: column x is μ(x) + z_j·√v(x), whose mean is ``predict``
  and whose variance is v(x) exactly, so ``topuncertain`` ranks genes by the posterior variance itself,
  without Monte-Carlo noise. With ``rng`` they are fresh standard normals, independent between genes and
  draws, each a hash of a seed drawn from ``rng``, of the gene's feature row and of the draw's number: a
  gene's draws do not depend on the other rows of the call, equal generator states give equal samples, and
  one draw evaluated over a pool in blocks is one draw.
- ``embed``: φ(x) = L⁻¹ k(X, x) with L Lᵀ = K + σ²I over the training genes X: the kernel's Nyström feature
  map on the training genes, regularised by the noise, so that φ(x)·φ(x') = k(x, X)(K + σ²I)⁻¹k(X, x'),
  which approaches k(x, x') where the data pin the function down, and ‖φ(x)‖² = s − v(x). Its width is the
  number of training genes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg, optimize, special

from gd_core.errors import GdError
from gd_plugins_builtin._checks import number, training_data, whole

# Cross-kernel cells computed per block of rows at prediction (2^22 float64: 32 MB), whatever the pool.
_CELLS_PER_CHUNK = 1 << 22
_LENGTHSCALE_RANGE = 100.0  # ℓ within this factor of the median distance either way
_SIGNAL_BOUNDS = (1e-6, 1e3)
_MAX_NOISE = 10.0
_START = (0.5, 0.5)  # signal and noise variance (standardised units) the optimiser starts from
# L-BFGS-B stops when the likelihood improves by less than this fraction of itself (its default, 2e-9, spends
# evaluations on changes far below a nat) or every projected gradient component is below _GTOL.
_FTOL, _GTOL = 1e-7, 1e-4
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class GaussianProcess:
    """Exact GP regression: isotropic RBF kernel plus noise, hyperparameters by marginal likelihood at each fit.

    Args:
        n_samples: posterior samples per gene that ``sample`` returns without ``n``.
        min_noise: lower bound of the noise variance, as a fraction of the training outcomes' variance.
        max_iter: most L-BFGS-B iterations of the hyperparameter search.
        hyperparameter_rows: most training genes whose marginal likelihood chooses the hyperparameters (a
            random subset of them above it); the posterior conditions on every gene.
    """

    def __init__(self, n_samples: int = 100, min_noise: float = 1e-4, max_iter: int = 100,
                 hyperparameter_rows: int = 1000) -> None:
        # checked here, so a bad value stops a run before any cycle
        self.n_samples = whole("n_samples", n_samples, minimum=1, example="100")
        self.min_noise = number("min_noise", min_noise, low=1e-6, high=1.0, example="1e-4")
        self.max_iter = whole("max_iter", max_iter, minimum=1, example="100")
        self.hyperparameter_rows = whole("hyperparameter_rows", hyperparameter_rows, minimum=2, example="1000")
        self._chol: np.ndarray | None = None
        #: After ``fit``: the lengthscale (feature units), signal and noise variance (outcome units²) and the
        #: log marginal likelihood of the standardised outcomes of the genes that chose them.
        self.lengthscale_: float | None = None
        self.signal_variance_: float | None = None
        self.noise_variance_: float | None = None
        self.log_marginal_likelihood_: float | None = None

    def fit(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> GaussianProcess:
        """Choose the hyperparameters by marginal likelihood, then condition on every gene."""
        X, y = training_data(X, y, "gp", np.float64)
        self._x_mean = X.mean(axis=0)
        train = X - self._x_mean
        self._y_mean = float(y.mean())
        y_std = float(y.std())
        self._y_std = y_std if y_std > 1e-12 * max(1.0, abs(self._y_mean)) else 1.0
        ys = (y - self._y_mean) / self._y_std
        self._train = train
        self._train_sq = np.einsum("ij,ij->i", train, train)
        sq_dist = _squared_distances(train, self._train_sq, train, self._train_sq)
        np.fill_diagonal(sq_dist, 0.0)

        n = len(ys)
        rows = (np.arange(n) if n <= self.hyperparameter_rows
                else np.sort(rng.choice(n, self.hyperparameter_rows, replace=False)))
        sub = sq_dist[np.ix_(rows, rows)]
        start = _median_distance(sub, train)
        log_ell, log_s, log_noise, lml = _maximise_likelihood(sub, ys[rows], start, self.min_noise, self.max_iter)
        self._ell, self._s, self._noise = math.exp(log_ell), math.exp(log_s), math.exp(log_noise)
        self.log_marginal_likelihood_ = lml

        K = self._s * np.exp(sq_dist * (-0.5 / self._ell ** 2))
        K[np.diag_indices_from(K)] += self._noise
        self._chol = _cholesky(K)
        self._alpha = linalg.cho_solve((self._chol, True), ys)
        self.lengthscale_ = self._ell
        self.signal_variance_ = self._s * self._y_std ** 2
        self.noise_variance_ = self._noise * self._y_std ** 2
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The posterior mean, float64 ``[len(X)]`` in the outcome's units."""
        mean = np.empty(len(X))
        for rows, cross in self._cross_kernels(X, "predict"):
            mean[rows] = cross @ self._alpha
        return mean * self._y_std + self._y_mean

    def sample(self, X: np.ndarray, n: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        """Marginal posterior samples of f, float64 ``[n, len(X)]``: the fixed quantile draws without ``rng``,
        fresh draws (independent between genes) from ``rng`` with it (see the module docstring)."""
        n = self.n_samples if n is None else whole("n", n, minimum=1)
        mean, variance = self._moments(X)
        sd = np.sqrt(variance)
        if rng is None:
            z = _standard_quantiles(n)[:, None]
        else:
            z = _hashed_normals(_float32_rows(X), n, np.uint64(rng.integers(2**63 - 1)))
        return mean[None, :] + z * sd[None, :]

    def posterior_variance(self, X: np.ndarray) -> np.ndarray:
        """The posterior variance of f at each row, float64 ``[len(X)]`` in outcome units²."""
        return self._moments(X)[1]

    def embed(self, X: np.ndarray) -> np.ndarray:
        """The noise-regularised Nyström feature map L⁻¹k(X_train, x), float32 ``[len(X), n_train]``."""
        out = np.empty((len(X), len(self._train)), dtype=np.float32)
        for rows, cross in self._cross_kernels(X, "embed"):
            out[rows] = linalg.solve_triangular(self._chol, cross.T, lower=True, check_finite=False).T
        return out

    # --- internals -------------------------------------------------------------------------------------

    def _moments(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of f, in the outcome's units."""
        mean, variance = np.empty(len(X)), np.empty(len(X))
        for rows, cross in self._cross_kernels(X, "sample"):
            mean[rows] = cross @ self._alpha
            v = linalg.solve_triangular(self._chol, cross.T, lower=True, check_finite=False)
            variance[rows] = self._s - np.einsum("ij,ij->j", v, v)
        # Rounding can leave a tiny negative variance at a training gene.
        return mean * self._y_std + self._y_mean, np.maximum(variance, 0.0) * self._y_std ** 2

    def _cross_kernels(self, X: np.ndarray, method: str):
        """Blocks of rows with their kernel against the training genes, ``(slice, [rows, n_train])``."""
        if self._chol is None:
            raise RuntimeError(f"GaussianProcess.{method} called before fit")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self._x_mean):
            raise ValueError(f"X must be [m, {len(self._x_mean)}] (the features the model was fitted on), "
                             f"got shape {X.shape}")
        step = max(1, _CELLS_PER_CHUNK // len(self._train))
        for start in range(0, len(X), step):
            rows = slice(start, min(start + step, len(X)))
            block = X[rows].astype(np.float64) - self._x_mean
            sq = np.einsum("ij,ij->i", block, block)
            cross = _squared_distances(block, sq, self._train, self._train_sq)
            cross *= -0.5 / self._ell ** 2
            yield rows, self._s * np.exp(cross, out=cross)


def _squared_distances(a: np.ndarray, a_sq: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """‖a_i − b_j‖² ``[len(a), len(b)]`` from one matrix product, clipped at 0 against rounding."""
    out = a @ b.T
    out *= -2.0
    out += a_sq[:, None]
    out += b_sq[None, :]
    return np.maximum(out, 0.0, out=out)


def _median_distance(sq_dist: np.ndarray, train: np.ndarray) -> float:
    """The lengthscale's start: the median distance between distinct training genes (positive ones only).

    A single gene, or genes that all share one row, has none: then the root mean square norm of the centred
    rows, else 1.
    """
    upper = sq_dist[np.triu_indices(len(sq_dist), k=1)]
    upper = upper[upper > 0]
    if len(upper):
        return float(np.sqrt(np.median(upper)))
    spread = float(np.sqrt(np.mean(np.einsum("ij,ij->i", train, train))))
    return spread if spread > 0 else 1.0


def _cholesky(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of K, adding a growing jitter to the diagonal if rounding breaks positivity."""
    jitter = 0.0
    for attempt in range(8):
        try:
            return linalg.cholesky(K + jitter * np.eye(len(K)) if jitter else K, lower=True, check_finite=False)
        except linalg.LinAlgError:
            jitter = 1e-10 * float(np.mean(np.diag(K))) * 10.0 ** attempt
    raise GdError("gp: the kernel matrix is not positive definite even with jitter; raise model.min_noise")


def _negative_lml(theta: np.ndarray, sq_dist: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood and its gradient in (log ℓ, log s, log σ²)."""
    ell, s, noise = np.exp(theta)
    n = len(y)
    corr = np.multiply(sq_dist, -0.5 / ell ** 2)
    np.exp(corr, out=corr)  # the correlation matrix C, K = sC + σ²I
    K = corr * s
    K[np.diag_indices(n)] += noise
    L = _cholesky(K)
    alpha = linalg.cho_solve((L, True), y, check_finite=False)
    lml = -0.5 * float(y @ alpha) - float(np.log(np.diag(L)).sum()) - 0.5 * n * math.log(2 * math.pi)
    # K⁻¹ in its lower triangle (the upper one is L's, zero): only its sums against symmetric matrices are needed.
    inverse, info = linalg.lapack.dpotri(L, lower=1, overwrite_c=1)
    if info != 0:
        raise GdError("gp: could not invert the kernel matrix; raise model.min_noise")
    diagonal = np.diag(inverse).copy()

    def trace_with(A: np.ndarray, a_diagonal: np.ndarray | float) -> float:
        """tr(K⁻¹A) for a symmetric A, from K⁻¹'s lower triangle."""
        return 2.0 * float(np.einsum("ij,ij->", inverse, A)) - float(np.sum(diagonal * a_diagonal))

    # ∂lml/∂θ = ½ (αᵀ ∂K/∂θ α − tr(K⁻¹ ∂K/∂θ)): ∂K/∂log s = sC, ∂K/∂log ℓ = sC ∘ D²/ℓ², ∂K/∂log σ² = σ²I.
    grad_s = 0.5 * s * (float(alpha @ (corr @ alpha)) - trace_with(corr, 1.0))
    corr *= sq_dist
    grad_ell = 0.5 * s / ell ** 2 * (float(alpha @ (corr @ alpha)) - trace_with(corr, 0.0))
    grad_noise = 0.5 * noise * (float(alpha @ alpha) - float(diagonal.sum()))
    return -lml, -np.array([grad_ell, grad_s, grad_noise])


def _maximise_likelihood(sq_dist: np.ndarray, y: np.ndarray, ell0: float, min_noise: float,
                         max_iter: int) -> tuple[float, float, float, float]:
    """(log ℓ, log s, log σ², lml) maximising the marginal likelihood from the deterministic start."""
    theta0 = np.array([math.log(ell0), math.log(_START[0]), math.log(max(_START[1], min_noise))])
    spread = math.log(_LENGTHSCALE_RANGE)
    bounds = [(theta0[0] - spread, theta0[0] + spread), tuple(map(math.log, _SIGNAL_BOUNDS)),
              (math.log(min_noise), math.log(_MAX_NOISE))]
    result = optimize.minimize(_negative_lml, theta0, args=(sq_dist, y), jac=True, method="L-BFGS-B",
                               bounds=bounds, options={"maxiter": max_iter, "ftol": _FTOL, "gtol": _GTOL})
    theta = result.x if np.isfinite(result.fun) else theta0
    return float(theta[0]), float(theta[1]), float(theta[2]), -float(result.fun)


def _standard_quantiles(n: int) -> np.ndarray:
    """The n normal quantiles at (j + ½)/n, shifted and scaled to mean 0 and variance 1 exactly (n = 1: 0)."""
    if n == 1:
        return np.zeros(1)
    z = special.ndtri((np.arange(n) + 0.5) / n)
    z -= z.mean()
    return z / z.std()


def _float32_rows(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X, dtype=np.float32)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 that spreads every input bit over the output."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _hashed_normals(X: np.ndarray, n: int, seed: np.uint64) -> np.ndarray:
    """Standard normals ``[n, len(X)]``, each a function of the seed, the row's bytes and the draw's number.

    The row is hashed by a multilinear hash (its 32-bit words times odd 64-bit keys derived from the seed,
    summed modulo 2⁶⁴) and mixed; draw j takes the mixed hash plus j times the golden-ratio constant through
    splitmix64 again, a 53-bit uniform in (0, 1) and the normal quantile function.
    """
    words = X.view(np.uint32)
    keys = _mix(seed + np.arange(1, words.shape[1] + 1, dtype=np.uint64) * _GOLDEN) | np.uint64(1)
    row_hash = np.empty(len(X), dtype=np.uint64)
    step = max(1, _CELLS_PER_CHUNK // max(1, words.shape[1]))
    for start in range(0, len(X), step):
        block = words[start:start + step].astype(np.uint64)
        row_hash[start:start + step] = (block * keys).sum(axis=1, dtype=np.uint64)
    row_hash = _mix(row_hash ^ seed)
    draws = _mix(row_hash[None, :] + np.arange(1, n + 1, dtype=np.uint64)[:, None] * _GOLDEN)
    uniform = ((draws >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53
    return special.ndtri(uniform)
