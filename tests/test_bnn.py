"""The Bayesian MLP (``bnn``): it learns, it is reproducible, and each capability computes what it claims."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from gd_core import GdError
from gd_core.data import capabilities_of
from gd_core.loop import RunConfig, execute, prepare
from gd_plugins_builtin import bnn
from gd_plugins_builtin.bnn import BayesianMLP

QUICK = {"hidden_sizes": (32,), "max_epochs": 60}  # one width: no cross-validation, for tests about other things


def linear_screen(n: int = 700, d: int = 20, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y = X·w + noise: a target whose batch mean predicts nothing (correlation ≈ 0)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = X @ rng.standard_normal(d) + noise * rng.standard_normal(n)
    return X, y.astype(np.float32)


@pytest.fixture(scope="module")
def fitted() -> tuple[BayesianMLP, np.ndarray, np.ndarray]:
    """A default model (with its cross-validation) fitted on 500 genes of a linear screen, and 200 test genes."""
    X, y = linear_screen()
    return BayesianMLP().fit(X[:500], y[:500], np.random.default_rng(1)), X[500:], y[500:]


# --- it learns -----------------------------------------------------------------------------------------


def test_learns_a_linear_target_where_the_reference_learnt_the_batch_mean(fitted):
    model, X_test, y_test = fitted

    predicted = model.predict(X_test)

    # The reference's (B,1,1)-vs-(B,1) loss learnt the batch mean and scored a correlation of about 0.08.
    assert np.corrcoef(predicted, y_test)[0, 1] > 0.9
    assert np.std(predicted) > 0.5 * np.std(y_test)


def test_predictions_are_in_the_targets_units_whatever_the_scale_of_inputs_and_targets():
    X, y = linear_screen(n=600)
    X_scaled = X * np.float32(1000) + np.float32(7)
    X_scaled[:, 3] = 5.0  # a constant feature must not divide by zero
    y_scaled = y * np.float32(50) - np.float32(300)

    model = BayesianMLP(**QUICK).fit(X_scaled[:400], y_scaled[:400], np.random.default_rng(0))
    predicted = model.predict(X_scaled[400:])

    assert np.isfinite(predicted).all()
    assert np.corrcoef(predicted, y_scaled[400:])[0, 1] > 0.85
    assert abs(predicted.mean() - y_scaled[400:].mean()) < 0.2 * y_scaled.std()


def test_hand_written_gradients_match_autograd():
    G, B, d, width = 3, 7, 5, 4
    gen = torch.Generator().manual_seed(0)
    params = bnn._initial(G, d, width, gen)
    x, y = torch.randn(G, B, d, generator=gen), torch.randn(G, B, generator=gen)
    w = torch.ones(G, B)
    w[2, 5:] = 0.0  # padding rows of a shorter training set count for nothing
    keep = (torch.rand(G, B, width, generator=gen) >= 0.3) / 0.7

    grad = torch.full_like(params, float("nan"))  # every element must be written
    loss = bnn._loss_and_grad(params, d, width, x, y, w, keep, out=grad)

    leaf = params.clone().requires_grad_(True)
    W1, b1, w2, b2 = bnn._views(leaf, d, width)
    out = ((torch.relu(x @ W1.transpose(1, 2) + b1[:, None]) * keep) @ w2[:, :, None]).squeeze(2) + b2[:, None]
    expected = ((out - y) ** 2 * w).sum(dim=1) / w.sum(dim=1)
    (expected_grad,) = torch.autograd.grad(expected.sum(), leaf)
    torch.testing.assert_close(loss, expected.detach())
    torch.testing.assert_close(grad, expected_grad)


def test_the_hand_written_adam_steps_as_torch_adam_does():
    gen = torch.Generator().manual_seed(0)
    ours = torch.randn(2, 50, generator=gen)
    theirs = ours.clone().requires_grad_(True)
    adam = bnn._Adam(ours, lr=1e-2, weight_decay=1e-3)
    reference = torch.optim.Adam([theirs], lr=1e-2, weight_decay=1e-3)

    for _ in range(5):
        grad = torch.randn(2, 50, generator=gen)
        theirs.grad = grad.clone()
        adam.step(grad)  # overwrites grad
        reference.step()

    torch.testing.assert_close(ours, theirs.detach())


# --- reproducibility -----------------------------------------------------------------------------------


def every_output(model: BayesianMLP, X: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "predict": model.predict(X),
        "sample": model.sample(X),
        "sample_rng": model.sample(X, 7, rng=np.random.default_rng(3)),
        "embed": model.embed(X),
        "gradient_embedding": model.gradient_embedding(X, np.random.default_rng(4)),
        "input_gradient": model.input_gradient(X),
    }


def test_the_same_seed_gives_identical_outputs_and_another_seed_different_ones():
    X, y = linear_screen(n=300)
    params = {"hidden_sizes": (8, 16), "max_epochs": 20}

    first = every_output(BayesianMLP(**params).fit(X, y, np.random.default_rng(5)), X)
    again = every_output(BayesianMLP(**params).fit(X, y, np.random.default_rng(5)), X)
    other = every_output(BayesianMLP(**params).fit(X, y, np.random.default_rng(6)), X)

    for name in first:
        assert np.array_equal(first[name], again[name]), name
        assert not np.array_equal(first[name], other[name]), name


REPRODUCE = textwrap.dedent("""
    import hashlib, numpy as np
    from gd_plugins_builtin.bnn import BayesianMLP
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 10)).astype(np.float32)
    y = (X @ rng.standard_normal(10)).astype(np.float32)
    model = BayesianMLP(hidden_sizes=(8, 32), max_epochs=15).fit(X, y, np.random.default_rng(42))
    digest = hashlib.sha256()
    for out in (model.predict(X), model.sample(X), model.embed(X), model.input_gradient(X),
                model.gradient_embedding(X, np.random.default_rng(1))):
        digest.update(out.tobytes())
    print(model.hidden_size_, model.epochs_, digest.hexdigest())
""")


def test_two_fresh_processes_give_bit_identical_outputs():
    runs = [subprocess.run([sys.executable, "-c", REPRODUCE], capture_output=True, text=True, timeout=300)
            for _ in range(2)]

    assert all(run.returncode == 0 for run in runs), runs[0].stderr + runs[1].stderr
    assert runs[0].stdout == runs[1].stdout != ""


def test_fitting_and_predicting_leave_the_callers_torch_threads_alone():
    X, y = linear_screen(n=100)
    before = torch.get_num_threads()
    wanted = 1 if before > 1 else 2

    model = BayesianMLP(**QUICK, n_threads=wanted).fit(X, y, np.random.default_rng(0))
    model.predict(X)
    model.input_gradient(X)

    assert torch.get_num_threads() == before


def test_training_the_widths_in_threads_gives_the_same_bits_as_one_after_the_other():
    X, y = linear_screen(n=120)
    fits = [BayesianMLP(**{**QUICK, "hidden_sizes": (8, 32)}, n_threads=threads).fit(X, y, np.random.default_rng(3))
            for threads in (1, 2, 3)]

    assert fits[0].cv_scores_ and len(fits[0].cv_scores_) == 2  # both widths were cross-validated
    for other in fits[1:]:
        assert other.cv_scores_ == fits[0].cv_scores_ and other.cv_epochs_ == fits[0].cv_epochs_
        np.testing.assert_array_equal(other.sample(X), fits[0].sample(X))
        np.testing.assert_array_equal(other.embed(X), fits[0].embed(X))


def test_read_only_inputs_are_taken_without_a_warning():
    """The loop hands models read-only features (the test genes, the pool): torch must not warn about them."""
    import warnings

    X, y = linear_screen(n=60)
    X.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = BayesianMLP(**QUICK).fit(X, y, np.random.default_rng(0))
        model.predict(X), model.sample(X), model.embed(X), model.input_gradient(X)


# --- shapes, capabilities and the posterior ------------------------------------------------------------


def test_every_capability_has_its_shape_and_dtype(fitted):
    model, X, _ = fitted
    n, d, h = len(X), X.shape[1], model.hidden_size_

    assert capabilities_of(model) == ["predict", "sample", "embed", "gradient_embedding", "input_gradient"]
    shapes = {
        "predict": ((n,), np.float64),
        "sample": ((model.mc_samples, n), np.float64),
        "sample_rng": ((7, n), np.float64),
        "embed": ((n, h), np.float32),
        "gradient_embedding": ((n, h + 1), np.float32),
        "input_gradient": ((n, d), np.float32),
    }
    for name, out in every_output(model, X).items():
        assert (out.shape, out.dtype) == shapes[name], name
        assert np.isfinite(out).all(), name
    assert model.sample(X, n=5).shape == (5, n)


def test_predict_is_the_mean_of_the_dropout_samples(fitted):
    model, X, _ = fitted

    samples = model.sample(X)

    np.testing.assert_allclose(model.predict(X), samples.mean(axis=0), rtol=1e-5, atol=1e-5)
    assert (samples.var(axis=0) > 0).all()
    # Fresh masks give another estimate of the same mean.
    fresh = model.sample(X, 2000, rng=np.random.default_rng(0)).mean(axis=0)
    assert np.abs(fresh - model.predict(X)).max() < 0.1 * np.std(model.predict(X))


def test_samples_are_seeded_by_the_rng_and_fixed_without_it(fitted):
    model, X, _ = fitted

    assert np.array_equal(model.sample(X), model.sample(X))
    assert np.array_equal(model.sample(X, 9), model.sample(X, 9))
    def seeded(seed: int) -> np.ndarray:
        return model.sample(X, rng=np.random.default_rng(seed))

    assert np.array_equal(seeded(1), seeded(1))
    assert not np.array_equal(seeded(1), seeded(2))


def test_without_dropout_every_sample_is_the_same_function():
    X, y = linear_screen(n=200)

    model = BayesianMLP(**QUICK, dropout=0.0).fit(X, y, np.random.default_rng(0))

    samples = model.sample(X)
    assert (samples == samples[0]).all()
    assert np.abs(model.input_gradient(X)).max() < 1e-6 * np.abs(X).max()


def test_embeddings_are_the_deterministic_non_negative_hidden_layer(fitted):
    model, X, _ = fitted

    hidden = model.embed(X)

    assert np.array_equal(hidden, model.embed(X))
    assert (hidden >= 0).all() and (hidden > 0).any()


def test_rows_are_processed_in_chunks_without_changing_results(fitted, monkeypatch):
    model, X, _ = fitted
    whole = every_output(model, X)

    monkeypatch.setattr(bnn, "_ROWS_PER_CHUNK", 7)
    chunked = every_output(model, X)

    for name in whole:
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-5, atol=1e-5 * np.abs(whole[name]).max(),
                                   err_msg=name)


# --- training: early stopping and cross-validation ----------------------------------------------------


def test_early_stopping_watches_the_validation_loss_not_the_training_loss():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 30)).astype(np.float32)
    y = rng.standard_normal(300).astype(np.float32)  # pure noise: fitting it only hurts held-out genes

    model = BayesianMLP(hidden_sizes=(256,), patience=5, max_epochs=300, lr=3e-3, dropout=0.0).fit(
        X, y, np.random.default_rng(0))
    train, val = model.history_["train_loss"], model.history_["val_loss"]

    assert model.epochs_ < model.max_epochs
    assert model.epochs_ == model.best_epoch_ + model.patience == len(val) == len(train)
    assert model.best_epoch_ == int(np.argmin(val)) + 1
    # The training loss was still falling when training stopped: it was not the criterion.
    assert train[-1] < train[model.best_epoch_ - 1]


def test_on_a_pure_noise_screen_it_does_no_worse_than_predicting_the_mean():
    # Heavy-tailed outcomes with no relation to SVD-like features of decreasing variance: the case of most
    # genes in a real screen. The earlier fitting (every feature standardised, random output layer, weight
    # decay 1e-4, dropout 0.1, widths 16-256) had a 1.5% higher MSE than the mean here (2-3.5% at other seeds).
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((3600, 64)) * np.geomspace(1.0, 0.2, 64)).astype(np.float32)
    y = rng.standard_t(3, 3600).astype(np.float32)
    train, test = slice(0, 600), slice(600, None)

    model = BayesianMLP().fit(X[train], y[train], np.random.default_rng(0))

    mean_mse = np.mean((y[test] - y[train].mean()) ** 2)
    assert np.mean((model.predict(X[test]) - y[test]) ** 2) < 1.005 * mean_mse


def test_the_fitted_model_keeps_the_weights_of_its_best_epoch():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 10)).astype(np.float32)
    y = (X[:, 0] + rng.standard_normal(300)).astype(np.float32)
    params = {"hidden_sizes": (64,), "patience": 4, "max_epochs": 200}
    stopped = BayesianMLP(**params).fit(X, y, np.random.default_rng(0))
    assert stopped.best_epoch_ < stopped.epochs_

    # The same random stream cut at the best epoch ends with exactly the weights that were kept.
    cut = BayesianMLP(**{**params, "max_epochs": stopped.best_epoch_}).fit(X, y, np.random.default_rng(0))

    assert cut.epochs_ == cut.best_epoch_ == stopped.best_epoch_
    assert np.array_equal(cut.predict(X), stopped.predict(X))


def test_with_patience_1_on_noisy_data_training_stops_early():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 10)).astype(np.float32)
    y = (X[:, 0] + 2.0 * rng.standard_normal(200)).astype(np.float32)

    model = BayesianMLP(hidden_sizes=(64,), patience=1, max_epochs=100).fit(X, y, np.random.default_rng(0))

    assert model.epochs_ < 100
    assert model.epochs_ == model.best_epoch_ + 1


def test_cross_validation_chooses_the_width_of_lowest_held_out_error(fitted):
    model, _, _ = fitted

    assert set(model.cv_scores_) == set(model.cv_epochs_) == {128, 256}
    assert model.hidden_size_ == min(model.cv_scores_, key=model.cv_scores_.get)
    # The final network trains on every gene for the epochs the chosen width's pooled held-out loss was lowest.
    assert model.epochs_ == model.best_epoch_ == model.cv_epochs_[model.hidden_size_]
    assert model.history_["val_loss"] == [] and len(model.history_["train_loss"]) == model.epochs_
    assert model.embed(np.zeros((1, 20), dtype=np.float32)).shape == (1, model.hidden_size_)


def test_cross_validation_is_skipped_for_a_handful_of_genes():
    X, y = linear_screen(n=5)

    model = BayesianMLP(folds=3).fit(X, y, np.random.default_rng(0))

    assert model.cv_scores_ == {}
    assert model.hidden_size_ == 256  # the middle of (128, 256)
    assert np.isfinite(model.predict(X)).all()


def test_a_single_gene_is_enough_to_fit():
    X, y = linear_screen(n=1)

    model = BayesianMLP(**QUICK).fit(X, y, np.random.default_rng(0))

    assert model.epochs_ == model.max_epochs  # no validation split to stop on
    assert model.hidden_size_ == 32 and np.isfinite(model.predict(X)).all()


# --- gradients for acquisitions ------------------------------------------------------------------------


def test_badge_embeddings_are_a_unit_normal_multiple_of_hidden_and_one_as_in_eq_2(fitted):
    # ŷ ~ N(ĝ(x), σ² = 1): the loss gradient on the linear output layer is (ĝ − ŷ)·y_std·[h(x), 1] = −ε·y_std·[h, 1].
    model, X, _ = fitted
    hidden = model.embed(X).astype(np.float64)
    y_std = linear_screen()[1][:500].std(dtype=np.float64)  # the scale of the targets it was fitted on

    grad = model.gradient_embedding(X, np.random.default_rng(11)).astype(np.float64)

    multiple = grad[:, -1]  # the bias gradient is the multiple itself
    np.testing.assert_allclose(grad[:, :-1], multiple[:, None] * hidden, rtol=1e-5, atol=1e-6)
    eps = np.random.default_rng(11).standard_normal(len(X))
    np.testing.assert_allclose(multiple, -eps * y_std, rtol=1e-5)
    # The reference computes the same (a unit normal times the activations): not a bug.
    np.testing.assert_array_equal(model.gradient_embedding(X, np.random.default_rng(11), pseudo_label="likelihood"),
                                  grad.astype(np.float32))


def test_badge_mc_dropout_pseudo_labels_scale_each_gradient_by_the_genes_own_uncertainty(fitted):
    model, X, _ = fitted
    hidden = model.embed(X).astype(np.float64)
    y_std = linear_screen()[1][:500].std(dtype=np.float64)

    grad = model.gradient_embedding(X, np.random.default_rng(11), pseudo_label="mc_dropout").astype(np.float64)

    multiple = grad[:, -1]
    np.testing.assert_allclose(grad[:, :-1], multiple[:, None] * hidden, rtol=1e-5, atol=1e-6)
    # ŷ ~ N(ĝ, Var_ω): the multiple is −σ_MC(x)·ε·y_std, σ_MC the sd of the dropout passes.
    sigma = model.sample(X).std(axis=0)
    eps = np.random.default_rng(11).standard_normal(len(X))
    np.testing.assert_allclose(multiple, -sigma * eps * y_std, rtol=1e-3, atol=1e-7)
    with pytest.raises(ValueError, match="pseudo_label must be one of"):
        model.gradient_embedding(X, np.random.default_rng(0), pseudo_label="mean")


def test_input_gradient_matches_finite_differences_of_the_sampled_variance():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((80, 4)) * [1.0, 3.0, 0.5, 10.0] + [0.0, 5.0, -2.0, 100.0]).astype(np.float32)
    y = (X @ [1.0, -0.5, 2.0, 0.1] + 0.3 * rng.standard_normal(80)).astype(np.float32) * 10
    model = BayesianMLP(hidden_sizes=(8,), mc_samples=30, dropout=0.3, max_epochs=40).fit(X, y, rng)
    points = X[:10]

    analytic = model.input_gradient(points).astype(np.float64)

    def variance(x: np.ndarray) -> float:
        return float(model.sample(x[None].astype(np.float32)).var())

    steps = X.std(axis=0) * 1e-2
    numeric = np.array([[(variance(p + step * e) - variance(p - step * e)) / (2 * step)
                         for step, e in zip(steps, np.eye(4))] for p in points])
    scale = np.abs(numeric).max(axis=1, keepdims=True)
    close = np.abs(analytic - numeric) <= 1e-3 * scale
    assert close.mean() > 0.9, (analytic, numeric)  # a ReLU kink between x ± step may spoil an entry
    assert np.abs(analytic).max() > 0


# --- parameters and inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(("param", "value"), [
    ("hidden_sizes", ()), ("hidden_sizes", [16, 0]), ("hidden_sizes", "wide"), ("hidden_sizes", [8, 8]),
    ("dropout", 1.0), ("dropout", -0.1), ("mc_samples", 0), ("max_epochs", 0), ("patience", 0), ("lr", 0.0),
    ("batch_size", 0), ("l2", -1.0), ("l2", float("inf")), ("l2", "strong"), ("folds", 1),
    ("validation_fraction", 1.0), ("n_threads", 0),
    ("dropout", True), ("lr", float("nan")), ("mc_samples", 2.5),
])
def test_bad_parameter_values_are_refused_by_name(param, value):
    with pytest.raises(ValueError, match=param):
        BayesianMLP(**{param: value})


def test_hidden_sizes_accept_one_width_or_a_list():
    assert BayesianMLP(hidden_sizes=32).hidden_sizes == (32,)
    assert BayesianMLP(hidden_sizes=[256, 16]).hidden_sizes == (16, 256)


def test_the_registered_factory_names_the_parameters_it_takes(builtin_host):
    entry = builtin_host.registries.models.get("bnn")

    assert isinstance(entry.create(dropout=0.2, hidden_sizes=[8, 16]), BayesianMLP)
    with pytest.raises(GdError, match="no parameter 'hidden_size'; did you mean 'hidden_sizes'.*dropout = 0.5"):
        entry.create(hidden_size=8)
    with pytest.raises(GdError, match="model 'bnn': dropout"):
        entry.create(dropout=2)


def test_bad_inputs_are_refused():
    X, y = linear_screen(n=50)
    model = BayesianMLP(**QUICK)

    with pytest.raises(RuntimeError, match="before fit"):
        model.predict(X)
    with pytest.raises(ValueError, match="X"):
        model.fit(X[:, 0], y, np.random.default_rng(0))
    with pytest.raises(ValueError):
        model.fit(X, y[:-1], np.random.default_rng(0))
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, bad, np.random.default_rng(0))
    model.fit(X, y, np.random.default_rng(0))
    with pytest.raises(ValueError, match="20"):
        model.predict(X[:, :5])


# --- in gd ---------------------------------------------------------------------------------------------


def test_listing_plugins_does_not_import_torch():
    code = ("import sys\n"
            "from gd_core.plugins import PluginHost\n"
            "import gd_plugins_builtin.models\n"
            "PluginHost(entry_points=False).registries.models.get('bnn')\n"
            "print('torch' in sys.modules)\n")

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_run_through_the_core_with_bnn_completes():
    from gd_core.plugins import PluginHost

    host = PluginHost(entry_points=False)
    config = RunConfig(assay="simulated", descriptor="simulated", model="bnn", acquisition="random",
                       batch_size=32, cycles=3, seed=0,
                       params={"descriptor": {"n_genes": 2000, "n_features": 16}, "assay": {"n_genes": 2000}})

    result = execute(prepare(config, host.registries, on_status=lambda message: None))

    assert sorted(result.metrics.cycle.unique()) == [0, 1, 2]
    assert list(result.metrics.groupby("cycle").n_acquired.first()) == [32, 64, 96]
    assert np.isfinite(result.metrics.value[result.metrics.metric == "mse"]).all()
    assert len(result.selections) == 96
