"""gd_core.testing's checkers: every built-in passes them, and each one catches the broken component it is for.

Built-ins are found in the registries, not listed by hand, so a new built-in is checked (or a test fails
asking for its tiny parameters); the only datasets not checked are those that need the network or a user's
import, and a test names them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gd_core import GdError, hookimpl
from gd_core.data import check_compatible
from gd_core.plugins import PluginHost
from gd_core.testing import (check_acquisition, check_assay, check_descriptor, check_metric, check_model,
                             fitted_model, run_tiny, tiny_dataset, tiny_pool)

# Small settings for each built-in model, so the whole file runs in seconds.
MODEL_PARAMS = {
    "random_forest": {"n_estimators": 10, "n_jobs": 1},
    "bnn": {"hidden_sizes": [8, 16], "max_epochs": 5, "mc_samples": 8, "n_threads": 1},
    "gp": {},
    "bayesian_linear": {},
}
SIMULATED = {"descriptor": {"n_genes": 500, "n_features": 8}, "assay": {"n_genes": 500}}
# Datasets that cannot be checked offline: each needs a download or the user's own import.
NOT_OFFLINE = {("descriptor", "achilles"): "download", ("descriptor", "ccle"): "download",
               ("descriptor", "string"): "download", ("assay", "shifrut_2018"): "import",
               **{("assay", name): "download" for name in (  # tests/test_screens.py checks them on local bytes
                   "bda_ifng", "bda_il2", "carnevale_2022_adenosine", "sanchez_2021_tau_down",
                   "scharenberg_2022_choline", "shifrut_2018_fitdb", "steinhart_crispra_gd2_d22")}}


@pytest.fixture(scope="module")
def builtins() -> PluginHost:
    return PluginHost(builtins=True, entry_points=False)


@pytest.fixture(scope="module")
def tiny():
    data = tiny_dataset(n_genes=240, n_features=8)
    return data, tiny_pool(data, n_acquired=40)


@pytest.fixture(scope="module")
def fitted(builtins, tiny):
    data, pool = tiny
    return {name: fitted_model(builtins.registries.models.get(name), pool, data, **MODEL_PARAMS[name])
            for name in builtins.registries.models.names()}


# --- the built-ins pass -------------------------------------------------------------------------------------


def test_every_builtin_model_has_tiny_settings_here(builtins):
    assert set(builtins.registries.models.names()) == set(MODEL_PARAMS)


@pytest.mark.parametrize("name", sorted(MODEL_PARAMS))
def test_builtin_model_keeps_the_contract(builtins, name):
    model = check_model(builtins.registries.models.get(name), **MODEL_PARAMS[name])
    assert np.isfinite(model.predict(tiny_dataset(n_genes=20).X)).all()


def test_the_forest_keeps_the_contract_with_scikit_learn_trees(builtins):
    check_model(builtins.registries.models.get("random_forest"), backend="sklearn", **MODEL_PARAMS["random_forest"])


def _pairs() -> list[tuple[str, str]]:
    host = PluginHost(builtins=True, entry_points=False)
    return [(a, m) for a in host.registries.acquisitions.names() for m in host.registries.models.names()]


@pytest.mark.parametrize(("acquisition", "model"), _pairs())
def test_builtin_acquisition_keeps_the_contract_with_each_model_it_accepts(builtins, tiny, fitted, acquisition,
                                                                          model):
    data, pool = tiny
    chosen = builtins.registries.acquisitions.create(acquisition)
    try:
        check_compatible(model, fitted[model], acquisition, chosen)
    except GdError as refusal:  # a pairing the run refuses is refused in words, and the checker agrees
        assert "does not offer" in str(refusal)
        with pytest.raises(AssertionError, match="does not offer"):
            check_acquisition(chosen, fitted[model], pool=pool, dataset=data, batch_size=6)
        return
    selection = check_acquisition(chosen, fitted[model], pool=pool, dataset=data, batch_size=6)
    assert len(selection) == 6


def test_every_builtin_acquisition_is_checked_with_at_least_one_builtin_model(builtins, fitted):
    def accepts(acquisition: str, model: str) -> bool:
        try:
            check_compatible(model, fitted[model], acquisition, builtins.registries.acquisitions.create(acquisition))
        except GdError:
            return False
        return True

    unchecked = [a for a in builtins.registries.acquisitions.names() if not any(accepts(a, m) for m in fitted)]
    assert unchecked == []


@pytest.mark.parametrize("name", ["hit_ratio", "mse", "spearman"])
def test_builtin_metric_keeps_the_contract_and_its_direction(builtins, name):
    values = check_metric(builtins.registries.metrics.get(name))
    assert values["good"] != values["bad"]


def test_every_builtin_metric_is_checked_above(builtins):
    assert builtins.registries.metrics.names() == ["hit_ratio", "mse", "spearman"]


def _datasets() -> list[tuple[str, str]]:
    host = PluginHost(builtins=True, entry_points=False)
    return [(r.kind, e.name) for r in (host.registries.descriptors, host.registries.assays) for e in r]


@pytest.mark.parametrize(("kind", "name"), [d for d in _datasets() if d not in NOT_OFFLINE])
def test_offline_builtin_dataset_keeps_the_contract(builtins, kind, name):
    table = builtins.registries.of(kind).create(name, **SIMULATED[kind] if name == "simulated" else {})
    (check_descriptor if kind == "descriptor" else check_assay)(table, name)


def test_only_datasets_needing_the_network_or_an_import_are_left_unchecked(builtins):
    unchecked = {(kind, name): builtins.registries.of(kind).get(name).metadata.get("source")
                 for kind, name in _datasets() if (kind, name) in NOT_OFFLINE}
    assert unchecked == NOT_OFFLINE
    checked = {builtins.registries.of(k).get(n).metadata.get("source") for k, n in _datasets()
               if (k, n) not in NOT_OFFLINE}
    assert checked == {"bundled", "simulated"}


# --- each checker can fail: models ----------------------------------------------------------------------------


class MeanModel:
    """A correct model to break one rule at a time: predicts a ridge fit; samples are fixed jitters of it."""

    def fit(self, X, y, rng):
        X = np.asarray(X, dtype=np.float64)
        self.w = np.linalg.solve(X.T @ X + np.eye(X.shape[1]), X.T @ (y - y.mean()))
        self.b = float(y.mean())
        self.jitter = rng.normal(0.0, 0.1, size=(5, 1))
        return self

    def predict(self, X):
        return np.asarray(X, dtype=np.float64) @ self.w + self.b

    def sample(self, X, n=None, rng=None):
        jitter = self.jitter if rng is None else rng.normal(0.0, 0.1, size=(n or 5, 1))
        return self.predict(X)[None, :] + jitter[: n or 5]

    def embed(self, X):
        return np.asarray(X, dtype=np.float32) * np.abs(self.w).astype(np.float32)


def test_check_model_accepts_a_correct_plugin_model():
    model = check_model(MeanModel)
    assert model.predict(np.zeros((3, 8), dtype=np.float32)).shape == (3,)


class PredictsAColumn(MeanModel):
    def predict(self, X):
        return super().predict(X)[:, None]


class PredictsNaN(MeanModel):
    def predict(self, X):
        out = super().predict(X)
        out[0] = np.nan
        return out


class Unseeded(MeanModel):
    def fit(self, X, y, rng):
        return super().fit(X, y + np.random.default_rng().normal(size=len(y)), rng)


class CentresItsInputInPlace(MeanModel):
    def fit(self, X, y, rng):
        X -= X.mean(axis=0)
        return super().fit(X, y, rng)


class ScalesPredictInputInPlace(MeanModel):
    def predict(self, X):
        X *= 1.0
        return super().predict(X)


class SamplesGenesByRows(MeanModel):
    def sample(self, X, n=None, rng=None):
        return super().sample(X, n, rng).T


class FreshSamplesEveryCall(MeanModel):
    def sample(self, X, n=None, rng=None):
        return super().sample(X, n, rng if rng is not None else np.random.default_rng())


class EmbedsRelativeToTheCall(MeanModel):
    def embed(self, X):
        return super().embed(X) - super().embed(X).mean(axis=0)


class EmbedsTheInput(MeanModel):
    def embed(self, X):
        return np.asarray(X, dtype=np.float32)


class EmbedsEveryGeneAtOnePoint(MeanModel):
    def embed(self, X):
        return np.zeros((len(X), 4), dtype=np.float32)


class NeedsTenGenes(MeanModel):
    def fit(self, X, y, rng):
        if len(X) < 10:
            raise ValueError("need at least 10 genes")
        return super().fit(X, y, rng)


@pytest.mark.parametrize(("model", "complaint"), [
    (PredictsAColumn, r"predict returned shape \(40, 1\) for 40 genes; it must return \[40\]"),
    (PredictsNaN, "predict returned 1 NaN or infinite value"),
    (Unseeded, "predict differed between two calls that must agree"),
    (CentresItsInputInPlace, "fit changed its X or y argument"),
    (ScalesPredictInputInPlace, "read-only"),
    (SamplesGenesByRows, r"sample returned shape \(40, 5\)"),
    (FreshSamplesEveryCall, "model's fixed samples"),
    (EmbedsRelativeToTheCall, "embed gave the first 7 genes different results alone"),
    (EmbedsTheInput, "embed returned the input features"),
    (EmbedsEveryGeneAtOnePoint, "embed put every gene at the same point"),
    (NeedsTenGenes, "fit on 4 genes"),
    (lambda: object(), "has no fit/predict"),
])
def test_check_model_catches_a_broken_model(model, complaint):
    with pytest.raises(AssertionError, match=complaint) as failure:
        check_model(model, name="broken")
    assert str(failure.value).startswith("model 'broken'")


def test_check_model_refuses_a_parameter_the_model_lacks(builtins):
    with pytest.raises(GdError, match="has no parameter 'trees'"):
        check_model(builtins.registries.models.get("random_forest"), trees=3)


# --- each checker can fail: acquisitions --------------------------------------------------------------------


class NeedsEmbeddings:
    requires = ("embed",)

    def select(self, pool, model, batch_size, rng):
        return pool.available[:batch_size]


class NeedsAnUnknownCapability(NeedsEmbeddings):
    requires = ("telepathy",)


class LowestPositions:
    requires = ()

    def select(self, pool, model, batch_size, rng):
        return pool.available[:batch_size]


class ShufflesThePool(NeedsEmbeddings):
    requires = ()

    def select(self, pool, model, batch_size, rng):
        rng.shuffle(pool.available)
        return np.sort(pool.available[:batch_size])


class RequiresAString(NeedsEmbeddings):
    requires = ("sample")


@pytest.mark.parametrize(("acquisition", "complaint"), [
    (NeedsEmbeddings(), "requires embed, which the model given to the check"),
    (RequiresAString(), r"requires = 'sample' is a string; write a tuple: \('sample',\)"),
    (NeedsAnUnknownCapability(), "unknown capability 'telepathy'"),
    (ShufflesThePool(), "changed pool.available"),
])
def test_check_acquisition_catches_a_broken_acquisition(acquisition, complaint):
    with pytest.raises(AssertionError, match=complaint):
        check_acquisition(acquisition, batch_size=5)


def test_a_run_refuses_requires_written_as_a_string():
    with pytest.raises(GdError, match=r"declares requires = 'sample', a string; write a tuple"):
        check_compatible("m", MeanModel(), "a", RequiresAString())


# --- each checker can fail: metrics -------------------------------------------------------------------------


class MeanAbsoluteError:
    """docs/plugins.md's example: lower is better."""

    def __call__(self, pool, model, truth):
        return float(np.mean(np.abs(truth.predicted_test - truth.y_test)))


def test_check_metric_accepts_a_lower_is_better_metric_registered_so():
    values = check_metric(MeanAbsoluteError, better="lower")
    assert values["good"] == 0.0 < values["bad"]


def test_check_metric_reads_the_direction_from_a_registry_entry(host_with):
    class Plugin:
        @hookimpl
        def gd_register_metrics(self, register):
            register("mae", MeanAbsoluteError, better="lower")
            register("mae_backwards", MeanAbsoluteError)

    metrics = host_with(Plugin()).registries.metrics
    check_metric(metrics.get("mae"))
    with pytest.raises(AssertionError, match=r"metric 'mae_backwards' is registered better='higher'.*better='lower'"):
        check_metric(metrics.get("mae_backwards"))


@pytest.mark.parametrize(("metric", "better", "complaint"), [
    (MeanAbsoluteError, "higher", "register it with better='lower'"),
    (lambda: lambda pool, model, truth: 0.5, "up", "better='up' is not a direction"),
    (lambda: lambda pool, model, truth: float("nan"), "higher", "must be a finite number"),
    (lambda: lambda pool, model, truth: np.inf, "higher", "must be a finite number"),
    (lambda: lambda pool, model, truth: "0.5", "higher", "returned str, not a number"),
    (lambda: lambda pool, model, truth: np.random.default_rng().random(), "higher", "must be deterministic"),
    (lambda scale: lambda pool, model, truth: scale, "higher", "factory"),
])
def test_check_metric_catches_a_broken_metric(metric, better, complaint):
    with pytest.raises(AssertionError, match=complaint):
        check_metric(metric, better=better, name="broken")


def test_a_metric_that_sees_neither_prediction_nor_hits_passes_without_a_direction():
    assert check_metric(lambda pool, model, truth: float(len(pool.acquired)), better="lower") == \
        {"good": 16.0, "bad": 16.0}


# --- each checker can fail: descriptors and assays ----------------------------------------------------------


def _descriptor(**changes) -> pd.DataFrame:
    frame = pd.DataFrame({"f0": [0.1, 0.2, 0.3], "f1": [1.0, 2.0, 3.0]}, index=["A", "B", "C"])
    for key, value in changes.items():
        if key == "index":
            frame.index = value
        else:
            frame[key] = value
    return frame


def test_check_descriptor_accepts_a_valid_table():
    assert check_descriptor(_descriptor(), "tiny").shape == (3, 2)


@pytest.mark.parametrize(("table", "complaint"), [
    (_descriptor(index=["A", "B", "A"]), r"lists 1 gene\(s\) more than once \(e.g. \['A'\]\)"),
    (_descriptor(f1=[1.0, np.nan, 3.0]), r"NaN or infinite features for 1 gene\(s\) \(e.g. \['B'\]\)"),
    (_descriptor(f1=[1.0, np.inf, 3.0]), "NaN or infinite features"),
    (_descriptor(index=[1, 2, 3]), "non-string labels"),
    (_descriptor(index=["A", "B ", "C"]), "space-padded"),
    (_descriptor(f2=["x", "y", "z"]), r"non-numeric columns \(e.g. \['f2'\]"),
    (_descriptor().iloc[:0], "is empty"),
    (pd.Series([1.0], index=["A"]), "is a Series; a descriptor is a pandas DataFrame"),
])
def test_check_descriptor_catches_a_broken_table(table, complaint):
    with pytest.raises(AssertionError, match=complaint) as failure:
        check_descriptor(table, "broken")
    assert str(failure.value).startswith("descriptor 'broken'")


def test_check_assay_accepts_a_valid_series():
    assert len(check_assay(pd.Series([0.5, -1.0], index=["A", "B"]), "tiny")) == 2


@pytest.mark.parametrize(("series", "complaint"), [
    (pd.Series([0.5, 1.0], index=["A", "A"]), "more than once"),
    (pd.Series([0.5, np.nan], index=["A", "B"]), "NaN or infinite values"),
    (pd.Series([True, False], index=["A", "B"]), "dtype bool"),
    (pd.Series(["0.5", "1"], index=["A", "B"]), "real numbers"),
    (pd.Series([], dtype=float), "is empty"),
    (pd.DataFrame({"v": [0.5]}, index=["A"]), "is a DataFrame; an assay is a pandas Series"),
])
def test_check_assay_catches_a_broken_series(series, complaint):
    with pytest.raises(AssertionError, match=complaint) as failure:
        check_assay(series, "broken")
    assert str(failure.value).startswith("assay 'broken'")


# --- run_tiny -----------------------------------------------------------------------------------------------


def test_run_tiny_runs_the_real_loop_and_repeats_itself():
    first = run_tiny(cycles=3, batch_size=5, seed=2)
    again = run_tiny(cycles=3, batch_size=5, seed=2)

    assert first.selections.groupby("cycle").size().tolist() == [5, 5, 5]
    assert first.metrics.groupby("metric")["n_acquired"].apply(list).to_dict() == \
        {"hit_ratio": [5, 10, 15], "mse": [5, 10, 15], "spearman": [5, 10, 15]}
    assert first.selections.equals(again.selections) and first.metrics.equals(again.metrics)
    assert not first.selections.equals(run_tiny(cycles=3, batch_size=5, seed=3).selections)


def test_run_tiny_loads_a_plugin_file(tmp_path):
    plugin = tmp_path / "lowest.py"
    plugin.write_text(
        "from gd_core import hookimpl\n\n"
        "class Lowest:\n"
        "    requires = ()\n\n"
        "    def select(self, pool, model, batch_size, rng):\n"
        "        return pool.available[:batch_size]\n\n"
        "@hookimpl\n"
        "def gd_register_acquisitions(register):\n"
        "    register('lowest', Lowest)\n"
    )
    result = run_tiny(acquisition="lowest", plugins=[plugin], cycles=2, batch_size=4)
    assert len(result.selections) == 8
    later = result.selections[result.selections.cycle == 1].gene.tolist()
    assert later == sorted(later)  # the lowest positions are the first genes in sorted order


def test_run_tiny_takes_components_as_objects():
    data = tiny_dataset(n_genes=120, n_features=4)
    descriptor = pd.DataFrame(data.X, index=data.genes)
    assay = pd.Series(data.y, index=data.genes)

    result = run_tiny(descriptor, assay, model=MeanModel, acquisition=LowestPositions(), cycles=2,
                      metrics=["mse"])
    assert result.metrics.metric.tolist() == ["mse", "mse"]
    assert result.plan.dataset.n == 120


def test_run_tiny_refuses_bad_settings_as_gd_run_does():
    with pytest.raises(GdError, match="unknown acquisition 'randm'; did you mean 'random'"):
        run_tiny(acquisition="randm")
    with pytest.raises(GdError, match="--batch-size must be a positive whole number"):
        run_tiny(batch_size=0)
