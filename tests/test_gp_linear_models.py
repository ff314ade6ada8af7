"""The ``gp`` and ``bayesian_linear`` models: the contract, behaviour checkable by hand, and runs through the loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gd_core.data import capabilities_of
from gd_core.plugins import PluginHost
from gd_core.registry import BadParameter
from gd_core.testing import check_model, run_tiny
from gd_plugins_builtin.gp import GaussianProcess
from gd_plugins_builtin.linear import BayesianLinear, _log_evidence


@pytest.fixture(scope="module")
def models():
    return PluginHost(builtins=True, entry_points=False).registries.models


def read_only(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.float32)
    array.setflags(write=False)
    return array


def feature_scale(X: np.ndarray) -> float:
    """The one scale bayesian_linear divides every centred feature by: the RMS of their standard deviations."""
    return math.sqrt(float(np.var(X.astype(np.float64), axis=0).mean()))


def linear_data(n: int, seed: int = 0, noise: float = 0.1):
    """y = 1·x0 − 2·x1 + 0.5·x2 + 0·x3 + 3·x4 + 0.7 + noise, features standard normal."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5)).astype(np.float32)
    y = X.astype(np.float64) @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.7 + noise * rng.standard_normal(n)
    return read_only(X), read_only(y)


def sine_data(n: int = 25):
    """sin on [0, 10], noiseless, one feature."""
    x = np.linspace(0.0, 10.0, n)
    return read_only(x[:, None]), read_only(np.sin(x))


# --- the contract ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "capabilities"), [
    ("gp", ["predict", "sample", "embed"]),
    ("bayesian_linear", ["predict", "sample", "embed", "gradient_embedding"]),
])
def test_keeps_the_model_contract(models, name, capabilities):
    model = check_model(models.get(name))

    assert capabilities_of(model) == capabilities


@pytest.mark.parametrize("name", ["gp", "bayesian_linear"])
def test_keeps_the_contract_with_a_single_draw_after_a_single_gene(models, name):
    check_model(models.get(name), n_samples=1, n_small=1)


@pytest.mark.parametrize("cls", [GaussianProcess, BayesianLinear])
@pytest.mark.parametrize("y", [[2.5], [1.0, 1.0, 1.0]], ids=["one gene", "constant outcomes"])
def test_fits_a_single_gene_and_constant_outcomes(cls, y):
    X = read_only(np.arange(3 * len(y), dtype=np.float32).reshape(len(y), 3))
    model = cls().fit(X, read_only(np.array(y)), np.random.default_rng(0))
    new = read_only(np.array([[0, 1, 2], [5, -1, 3]], dtype=np.float32))

    assert np.allclose(model.predict(new), y[0])
    assert np.isfinite(model.sample(new)).all() and np.isfinite(model.sample(new, 3, np.random.default_rng(1))).all()
    assert np.isfinite(model.embed(new)).all()


@pytest.mark.parametrize("cls, bad", [(GaussianProcess, {"n_samples": 0}), (GaussianProcess, {"min_noise": 0.0}),
                                      (GaussianProcess, {"hyperparameter_rows": 1}),
                                      (BayesianLinear, {"max_iter": 1.5})])
def test_refuses_bad_parameters(cls, bad):
    with pytest.raises(BadParameter):
        cls(**bad)


# --- bayesian_linear ------------------------------------------------------------------------------------


def test_bayesian_linear_recovers_the_weights_the_intercept_and_the_noise():
    X, y = linear_data(400)
    model = BayesianLinear().fit(X, y, np.random.default_rng(0))

    assert np.allclose(model.coef_, [1.0, -2.0, 0.5, 0.0, 3.0], atol=0.03)
    assert model.predict(read_only(np.zeros((1, 5))))[0] == pytest.approx(0.7, abs=0.02)
    noise_sd = float(np.std(y)) / math.sqrt(model.beta_)  # β is per standardised outcome unit²
    assert noise_sd == pytest.approx(0.1, rel=0.15)


def test_bayesian_linear_posterior_sd_shrinks_with_n_as_least_squares_says():
    """With a weak prior the posterior variance of f(x) is least squares': σ²(1/n + (x − x̄)ᵀ(XcᵀXc)⁻¹(x − x̄))."""
    probe = read_only(np.eye(5))
    sds = []
    for n in (25, 100, 400):
        X, y = linear_data(n)
        sd = np.sqrt(BayesianLinear().fit(X, y, np.random.default_rng(0)).posterior_variance(probe))
        centred = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
        offsets = probe - X.mean(axis=0, dtype=np.float64)
        expected = 0.1 * np.sqrt(1 / n + np.einsum("ij,jk,ik->i", offsets, np.linalg.inv(centred.T @ centred), offsets))
        assert np.allclose(sd, expected, rtol=0.3)  # ± the noise estimate from n − 6 residuals
        sds.append(sd)

    assert (sds[1] < sds[0]).all() and (sds[2] < sds[1]).all()


def test_bayesian_linear_sample_variance_matches_the_posterior_variance():
    X, y = linear_data(50)
    model = BayesianLinear(n_samples=4000).fit(X, y, np.random.default_rng(0))
    probe = read_only(np.random.default_rng(1).standard_normal((6, 5)))

    assert np.allclose(model.sample(probe).var(axis=0), model.posterior_variance(probe), rtol=0.1)


def test_bayesian_linear_evidence_is_at_its_maximum():
    """MacKay's fixed point is where the evidence is highest: moving α or β either way lowers it."""
    X, y = linear_data(30, noise=0.5)
    model = BayesianLinear().fit(X, y, np.random.default_rng(0))
    X, y = X.astype(np.float64), y.astype(np.float64)
    xs = (X - X.mean(axis=0)) / feature_scale(X)
    ys = (y - y.mean()) / y.std()
    lam, vectors = np.linalg.eigh(xs.T @ xs)
    z = (xs @ vectors).T @ ys / np.sqrt(lam)
    rest = float(ys @ ys - z @ z)
    best = _log_evidence(model.alpha_, model.beta_, lam, z, rest, 29)

    assert best == pytest.approx(model.log_evidence_)
    for factor_a, factor_b in ((1.01, 1), (1 / 1.01, 1), (1, 1.01), (1, 1 / 1.01)):
        assert _log_evidence(model.alpha_ * factor_a, model.beta_ * factor_b, lam, z, rest, 29) < best


def test_bayesian_linear_uses_the_dual_form_when_features_outnumber_genes():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 200)).astype(np.float32)
    w = np.zeros(200)
    w[:3] = [2.0, -1.0, 1.5]
    y = X @ w + 0.05 * rng.standard_normal(60)
    model = BayesianLinear().fit(read_only(X), read_only(y), np.random.default_rng(0))
    new = rng.standard_normal((500, 200)).astype(np.float32)

    # 60 genes pin down 60 of 200 directions: the prediction of new genes is partly right, and its uncertainty
    # (from the 140 unseen directions) is far above the noise.
    assert np.corrcoef(model.predict(new), new @ w)[0, 1] > 0.4
    assert np.sqrt(model.posterior_variance(new)).min() > 0.5


def test_bayesian_linear_draws_are_whole_linear_functions():
    X, y = linear_data(40)
    model = BayesianLinear().fit(X, y, np.random.default_rng(0))
    a, b = read_only(np.random.default_rng(1).standard_normal((5, 5))), read_only(np.zeros((1, 5)))
    draws = model.sample(np.concatenate([a, b, 2 * a - b]), 3, np.random.default_rng(7))

    # f(2a − b) = 2 f(a) − f(b) for each draw of a linear function; blocks with equal generators agree.
    assert np.allclose(draws[:, 6:], 2 * draws[:, :5] - draws[:, 5:6])
    assert np.allclose(model.sample(a, 3, np.random.default_rng(7)), draws[:, :5], rtol=1e-12, atol=1e-12)


def test_bayesian_linear_gradient_embedding_is_a_normal_multiple_of_the_features_and_one():
    X, y = linear_data(40)
    model = BayesianLinear().fit(X, y, np.random.default_rng(0))
    gradients = model.gradient_embedding(X[:10], np.random.default_rng(3))
    eps = np.random.default_rng(3).standard_normal(10)

    assert gradients.shape == (10, 6) and gradients.dtype == np.float32
    assert np.allclose(gradients[:, -1], -eps, atol=1e-6)
    assert np.allclose(gradients[:, :-1], -eps[:, None] * (X[:10] - X.mean(axis=0)) / feature_scale(X), atol=1e-5)
    spread = model.gradient_embedding(X[:10], np.random.default_rng(3), pseudo_label="mc_dropout")
    assert np.allclose(spread[:, -1], -eps * np.sqrt(model.posterior_variance(X[:10])) / float(np.std(y)),
                       rtol=1e-5)


def test_bayesian_linear_embedding_weights_features_by_their_use():
    X, y = linear_data(400)
    model = BayesianLinear().fit(X, y, np.random.default_rng(0))
    embedded = model.embed(X)

    spread = embedded.std(axis=0)
    assert np.allclose(spread / X.std(axis=0), np.abs(model.coef_), rtol=1e-4)
    assert spread[4] > spread[0] > spread[2] > spread[3]  # |w| = 3, 1, 0.5, ≈0


# --- gp -------------------------------------------------------------------------------------------------


def test_gp_interpolates_a_smooth_function():
    X, y = sine_data()
    model = GaussianProcess().fit(X, y, np.random.default_rng(0))
    between = np.linspace(0.2, 9.8, 50)

    assert np.abs(model.predict(read_only(between[:, None])) - np.sin(between)).max() < 0.02
    assert model.noise_variance_ < 1e-3


def test_gp_chooses_hyperparameters_on_a_subset_and_conditions_on_every_gene():
    X, y = sine_data(40)
    model = GaussianProcess(hyperparameter_rows=12).fit(X, y, np.random.default_rng(0))
    again = GaussianProcess(hyperparameter_rows=12).fit(X, y, np.random.default_rng(0))
    between = np.linspace(0.2, 9.8, 50)

    assert np.abs(model.predict(read_only(between[:, None])) - np.sin(between)).max() < 0.02
    assert model.lengthscale_ == again.lengthscale_  # the subset comes from the fit's rng


def test_gp_is_sure_near_its_genes_and_unsure_far_away():
    X, y = sine_data()
    model = GaussianProcess().fit(X, y, np.random.default_rng(0))
    sd = np.sqrt(model.posterior_variance(read_only(np.array([[5.0], [5.2], [13.0], [40.0]]))))

    assert sd[0] < 0.05 and sd[1] < 0.05
    assert sd[2] > 10 * sd[1]
    assert sd[3] == pytest.approx(math.sqrt(model.signal_variance_), rel=1e-3)  # the prior, far from all data
    assert model.predict(read_only(np.array([[40.0]])))[0] == pytest.approx(float(np.mean(y)), abs=1e-6)


def test_gp_fixed_samples_have_the_posterior_mean_and_variance_exactly():
    X, y = sine_data()
    model = GaussianProcess().fit(X, y, np.random.default_rng(0))
    probe = read_only(np.array([[0.3], [4.1], [12.0]]))
    samples = model.sample(probe)

    assert samples.shape == (100, 3)
    assert np.allclose(samples.mean(axis=0), model.predict(probe), atol=1e-9)
    assert np.allclose(samples.var(axis=0), model.posterior_variance(probe), rtol=1e-9)


def test_gp_drawn_samples_are_marginal_posterior_draws():
    X, y = sine_data()
    model = GaussianProcess().fit(X, y, np.random.default_rng(0))
    probe = read_only(np.array([[11.0], [12.0], [13.0]]))
    draws = model.sample(probe, 4000, np.random.default_rng(5))
    standardised = (draws - model.predict(probe)) / np.sqrt(model.posterior_variance(probe))

    assert np.allclose(standardised.mean(axis=0), 0.0, atol=0.06)
    assert np.allclose(standardised.std(axis=0), 1.0, atol=0.04)
    assert abs(np.corrcoef(standardised.T)[0, 1]) < 0.06  # independent between genes


def test_gp_drawn_samples_of_a_gene_do_not_depend_on_its_block():
    X, y = sine_data()
    model = GaussianProcess().fit(X, y, np.random.default_rng(0))
    pool = read_only(np.linspace(10, 12, 8)[:, None])
    whole_pool = model.sample(pool, 5, np.random.default_rng(9))

    in_blocks = np.concatenate([model.sample(pool[:3], 5, np.random.default_rng(9)),
                                model.sample(pool[3:], 5, np.random.default_rng(9))], axis=1)
    assert np.allclose(in_blocks, whole_pool, rtol=1e-12, atol=1e-12)  # up to the rounding of matrix products
    assert not np.allclose(model.sample(pool, 5, np.random.default_rng(10)), whole_pool, atol=0.01)


def test_gp_embedding_is_a_feature_map_of_its_posterior():
    """φ(x)·φ(x') is the covariance the data explain, so ‖φ(x)‖² = prior − posterior variance (standardised)."""
    X, y = sine_data()
    model = GaussianProcess().fit(X, y, np.random.default_rng(0))
    probe = read_only(np.array([[0.5], [5.0], [30.0]]))
    embedded = model.embed(probe).astype(np.float64)
    explained = (model.signal_variance_ - model.posterior_variance(probe)) / float(np.std(y)) ** 2

    assert embedded.shape == (3, 25)
    assert np.allclose((embedded ** 2).sum(axis=1), explained, atol=1e-5)


def test_gp_learns_no_signal_from_noise():
    rng = np.random.default_rng(0)
    X = read_only(rng.standard_normal((200, 10)))
    y = read_only(rng.standard_normal(200))
    model = GaussianProcess().fit(X, y, np.random.default_rng(0))

    assert model.noise_variance_ > 0.8 * float(np.var(y))
    assert np.std(model.predict(read_only(rng.standard_normal((100, 10))))) < 0.2


# --- both -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GaussianProcess, BayesianLinear])
def test_same_rng_gives_the_same_bytes_and_other_generators_other_draws(cls):
    X, y = linear_data(80)
    a, b = (cls().fit(X, y, np.random.default_rng(4)) for _ in range(2))
    probe = read_only(np.random.default_rng(2).standard_normal((30, 5)))

    for method in (lambda m: m.predict(probe), lambda m: m.sample(probe), lambda m: m.embed(probe),
                   lambda m: m.sample(probe, 7), lambda m: m.sample(probe, 3, np.random.default_rng(1))):
        assert method(a).tobytes() == method(b).tobytes()
    first, second = (a.sample(probe, 3, np.random.default_rng(seed)) for seed in (1, 2))
    assert not np.allclose(first, second)


@pytest.mark.parametrize("cls", [GaussianProcess, BayesianLinear])
def test_sample_mean_is_about_the_prediction(cls):
    X, y = linear_data(80, noise=0.5)
    model = cls().fit(X, y, np.random.default_rng(0))
    probe = read_only(np.random.default_rng(2).standard_normal((30, 5)))
    prediction, sd = model.predict(probe), np.sqrt(model.posterior_variance(probe))

    assert np.allclose(model.sample(probe).mean(axis=0), prediction, atol=1e-9)
    # Fresh draws: the mean of 400 is within 4 standard errors.
    drawn = model.sample(probe, 400, np.random.default_rng(3)).mean(axis=0)
    assert (np.abs(drawn - prediction) < 4 * sd / math.sqrt(400)).all()


@pytest.mark.parametrize("model", ["gp", "bayesian_linear"])
@pytest.mark.parametrize("acquisition", ["topuncertain", "kmeans_embedding"])
def test_runs_through_the_loop(model, acquisition):
    result = run_tiny(model=model, acquisition=acquisition, cycles=3)

    assert result.selections.groupby("cycle").size().tolist() == [4, 4, 4]  # the random start, then two picks
    assert np.isfinite(result.metrics["value"].dropna()).all()


@pytest.mark.parametrize("pseudo_label", ["likelihood", "mc_dropout"])
def test_bayesian_linear_runs_with_badge(pseudo_label):
    result = run_tiny(model="bayesian_linear", acquisition="badge", cycles=3,
                      params={"acquisition": {"pseudo_label": pseudo_label}})

    assert len(result.selections) == 12
