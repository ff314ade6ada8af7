"""The active-learning loop: alignment, split, hits, first batch, cycles, and every refusal of ``prepare``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gd_core import GdError, hookimpl
from gd_core.loop import RunConfig, execute, prepare

SMALL_SIMULATED = {"descriptor": {"n_genes": 600, "n_features": 8}, "assay": {"n_genes": 600}}


def gene_table(n: int = 600, *, seed: int = 0, order: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """A descriptor and an assay over ``n`` genes, rows shuffled differently in each.

    Column ``y`` of the descriptor equals the outcome and column ``id`` is the gene's number, so a test can
    see from any feature row which gene it describes and what its label must be.
    """
    rng = np.random.default_rng(seed)
    genes = [f"G{i:04d}" for i in range(n)]
    y = rng.standard_normal(n).astype(np.float32)  # signed, so |y| and y rank genes differently
    descriptor = pd.DataFrame(
        {"y": y, "id": np.arange(n, dtype=np.float32), "noise": rng.standard_normal(n).astype(np.float32)},
        index=genes,
    )
    assay = pd.Series(y, index=genes, name="outcome")
    return descriptor.sample(frac=1.0, random_state=order), assay.sample(frac=1.0, random_state=order + 100)


class Table:
    """Registers a fixed descriptor and assay, both as 'table'."""

    def __init__(self, descriptor: pd.DataFrame | None = None, assay: pd.Series | None = None) -> None:
        if descriptor is None or assay is None:
            descriptor, assay = gene_table()
        self.descriptor, self.assay = descriptor, assay

    @hookimpl
    def gd_register_treatment_descriptors(self, register):
        register("table", lambda: self.descriptor)

    @hookimpl
    def gd_register_assays(self, register):
        register("table", lambda: self.assay)


class MeanModel:
    """Predicts its training mean and remembers every fit."""

    def __init__(self) -> None:
        self.fits: list[tuple[np.ndarray, np.ndarray, object]] = []
        self.mean = 0.0

    def fit(self, X, y, rng):
        self.fits.append((np.array(X), np.array(y), rng))
        self.mean = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean)


class Recorder:
    """Registers model 'recording' and keeps every model object it built."""

    def __init__(self) -> None:
        self.built: list[MeanModel] = []

    @hookimpl
    def gd_register_models(self, register):
        register("recording", self._build)

    def _build(self) -> MeanModel:
        model = MeanModel()
        self.built.append(model)
        return model

    @property
    def fitted(self) -> list[MeanModel]:
        return [m for m in self.built if m.fits]


class Tripwire:
    """Registers model 'tripwire', which fails the test if anything fits it."""

    @hookimpl
    def gd_register_models(self, register):
        register("tripwire", TripwireModel)


class TripwireModel:
    def fit(self, X, y, rng):
        raise AssertionError("a model was fitted although the run should have been refused")

    def predict(self, X):
        return np.zeros(len(X))


class Watcher:
    """Registers acquisition 'watching': random picks, remembering each pool and model it was shown."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, object]] = []

    @hookimpl
    def gd_register_acquisitions(self, register):
        register("watching", lambda: WatchingAcquisition(self.calls))


class WatchingAcquisition:
    requires: tuple[str, ...] = ()

    def __init__(self, calls: list) -> None:
        self.calls = calls

    def select(self, pool, model, batch_size, rng):
        self.calls.append((pool, model))
        return rng.choice(pool.available, batch_size, replace=False)


class Oracle:
    """Registers acquisition 'oracle', which takes the available hits first (positions set on ``hits``)."""

    def __init__(self) -> None:
        self.hits = np.array([], dtype=np.int64)

    @hookimpl
    def gd_register_acquisitions(self, register):
        register("oracle", lambda: OracleAcquisition(lambda: self.hits))


class OracleAcquisition:
    requires: tuple[str, ...] = ()

    def __init__(self, hits) -> None:
        self.hits = hits

    def select(self, pool, model, batch_size, rng):
        wanted = np.intersect1d(pool.available, self.hits())
        rest = np.setdiff1d(pool.available, wanted)
        return np.concatenate([wanted, rest])[:batch_size]


class NeedsEmbedding:
    """Registers acquisition 'needs_embed', which requires a model that can embed genes."""

    @hookimpl
    def gd_register_acquisitions(self, register):
        register("needs_embed", EmbeddingAcquisition)


class EmbeddingAcquisition:
    requires = ("embed",)

    def select(self, pool, model, batch_size, rng):
        return pool.available[:batch_size]


class Misbehaving:
    """Registers acquisition 'misbehaving', which returns a wrong batch of the kind given as ``mode``."""

    @hookimpl
    def gd_register_acquisitions(self, register):
        register("misbehaving", MisbehavingAcquisition)


class MisbehavingAcquisition:
    requires: tuple[str, ...] = ()

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def select(self, pool, model, batch_size, rng):
        available = pool.available
        if self.mode == "duplicate":
            return np.concatenate([available[:1], available[: batch_size - 1]])
        if self.mode == "too_few":
            return available[: batch_size - 1]
        if self.mode == "too_many":
            return available[: batch_size + 1]
        if self.mode == "test_gene":
            everything = np.arange(len(pool.genes))
            test = np.setdiff1d(everything, np.concatenate([available, pool.acquired]))
            return np.concatenate([test[:1], available[: batch_size - 1]])
        if self.mode == "acquired_gene":
            return np.concatenate([pool.acquired[:1], available[: batch_size - 1]])
        if self.mode == "floats":
            return available[:batch_size].astype(np.float64)
        raise AssertionError(self.mode)


def config(**settings) -> RunConfig:
    """A small run over the 'table' data with the recording model and random acquisition."""
    defaults = dict(assay="table", descriptor="table", model="recording", acquisition="random",
                    batch_size=10, cycles=4, seed=0, metrics=("mse", "hit_ratio"))
    return RunConfig(**{**defaults, **settings})


def quiet_prepare(cfg: RunConfig, host):
    return prepare(cfg, host.registries, on_status=lambda message: None)


@pytest.fixture
def host(host_with):
    """Built-ins plus the table data and every test plugin above."""
    return host_with(Table(), Recorder(), Tripwire(), Watcher(), Oracle(), NeedsEmbedding(), Misbehaving(),
                     builtins=True)


def plugin(host, cls):
    """The instance of a test plugin class registered in ``host``."""
    return host.pm.get_plugin(cls.__name__)


# Alignment


def test_rows_are_joined_on_gene_symbol_and_sorted_whatever_order_the_sources_use(host_with):
    descriptor, assay = gene_table(300, order=7)
    descriptor = pd.concat([descriptor, pd.DataFrame({"y": [9.0], "id": [-1.0], "noise": [0.0]},
                                                     index=["ONLY_IN_DESCRIPTOR"]).astype(np.float32)])
    assay = pd.concat([assay, pd.Series([5.0], index=["ONLY_IN_ASSAY"], dtype=np.float32)])
    assert not descriptor.index.equals(assay.index)  # the two sources disagree on order

    plan = quiet_prepare(config(), host_with(Table(descriptor, assay), Recorder(), builtins=True))
    data = plan.dataset

    assert list(data.genes) == sorted(f"G{i:04d}" for i in range(300))
    assert data.X.dtype == np.float32 and data.y.dtype == np.float32
    np.testing.assert_array_equal(data.y, data.X[:, 0])  # every label sits on its own gene's row
    np.testing.assert_array_equal(data.X[:, 1], np.arange(300, dtype=np.float32))
    assert list(data.feature_names) == ["y", "id", "noise"]


def test_the_aligned_data_does_not_depend_on_the_sources_row_order(host_with):
    first = quiet_prepare(config(), host_with(Table(*gene_table(order=1)), Recorder(), builtins=True))
    second = quiet_prepare(config(), host_with(Table(*gene_table(order=2)), Recorder(), builtins=True))

    assert first.dataset.checksums() == second.dataset.checksums()
    np.testing.assert_array_equal(first.test, second.test)
    np.testing.assert_array_equal(first.hits, second.hits)
    np.testing.assert_array_equal(first.initial, second.initial)


# Test split


@pytest.mark.parametrize(("n", "test_fraction"), [(600, 0.2), (599, 0.33), (250, 0.5)])
def test_the_test_set_is_a_rounded_share_of_the_aligned_genes(host_with, n, test_fraction):
    host = host_with(Table(*gene_table(n)), Recorder(), builtins=True)
    plan = quiet_prepare(config(test_fraction=test_fraction, batch_size=5, cycles=2), host)

    assert len(plan.test) == round(test_fraction * n)
    assert len(np.unique(plan.test)) == len(plan.test)
    assert ((plan.test >= 0) & (plan.test < n)).all()
    np.testing.assert_array_equal(plan.pool, np.setdiff1d(np.arange(n), plan.test))


def test_the_test_set_depends_on_the_split_seed_only_not_on_the_run_seed(host):
    plans = [
        quiet_prepare(config(model="recording", acquisition="random", batch_size=10), host),
        quiet_prepare(config(model="random_forest", acquisition="oracle", batch_size=25, cycles=3), host),
        quiet_prepare(config(model="tripwire", acquisition="watching", batch_size=1, cycles=1,
                             hit_fraction=0.2), host),
        quiet_prepare(config(seed=1), host),  # seeds repeat the experiment on the same test set
        quiet_prepare(config(seed=7, split_seed=0), host),
    ]
    for other in plans[1:]:
        np.testing.assert_array_equal(plans[0].test, other.test)
    # Same test set, so the same hits; the run seed still draws another first batch.
    np.testing.assert_array_equal(plans[0].hits, plans[3].hits)
    assert set(plans[3].initial) != set(plans[0].initial)

    resplit = quiet_prepare(config(split_seed=1), host)
    assert set(resplit.test) != set(plans[0].test)


def test_split_seed_seed_draws_a_new_test_set_for_every_run_seed(host):
    follow = [quiet_prepare(config(seed=seed, split_seed="seed"), host) for seed in (0, 1)]

    np.testing.assert_array_equal(follow[0].test, quiet_prepare(config(split_seed=0), host).test)
    assert set(follow[1].test) != set(follow[0].test)
    np.testing.assert_array_equal(follow[1].test, quiet_prepare(config(seed=5, split_seed=1), host).test)


@pytest.mark.parametrize("split_seed", [-1, 1.5, "0", "random", True, None])
def test_a_split_seed_that_is_neither_a_whole_number_nor_seed_is_refused(host, split_seed):
    with pytest.raises(GdError, match="split-seed must be a whole number ≥ 0 or 'seed'"):
        quiet_prepare(config(split_seed=split_seed), host)


# Hits


@pytest.mark.parametrize("hit_fraction", [0.05, 0.1, 0.013])
def test_hits_are_the_top_share_of_non_test_genes_by_absolute_outcome(host, hit_fraction):
    plan = quiet_prepare(config(hit_fraction=hit_fraction), host)
    genes, y = plan.dataset.genes, pd.Series(plan.dataset.y, index=plan.dataset.genes)
    non_test = y.drop(genes[plan.test])
    k = round(hit_fraction * len(non_test))
    expected = set(non_test.abs().sort_values(ascending=False).index[:k])

    assert len(plan.hits) == k
    assert set(genes[plan.hits]) == expected
    assert not set(plan.hits) & set(plan.test)
    # The check means something: some test gene would have been a hit had the split been ignored.
    assert y.iloc[plan.test].abs().max() > y.iloc[plan.hits].abs().min()
    # ... and some negative outcome is a hit, so ranking is by |y|, not y.
    assert (y.iloc[plan.hits] < 0).any()


# Initial batch


def test_the_first_batch_is_the_same_for_every_acquisition_and_avoids_the_test_set(host):
    plans = [quiet_prepare(config(acquisition=name, batch_size=12), host) for name in ("random", "watching", "oracle")]
    first = plans[0]
    for other in plans[1:]:
        np.testing.assert_array_equal(first.initial, other.initial)

    assert len(first.initial) == 12 and len(np.unique(first.initial)) == 12
    assert not set(first.initial) & set(first.test)
    assert set(quiet_prepare(config(batch_size=12, seed=5), host).initial) != set(first.initial)


def test_the_first_batch_is_cycle_zero_of_the_selections(host):
    plan = quiet_prepare(config(), host)
    result = execute(plan)

    cycle0 = result.selections[result.selections.cycle == 0].gene
    assert list(cycle0) == list(plan.dataset.genes[plan.initial])


# Cycles


def test_each_cycle_fits_a_fresh_model_on_exactly_the_acquired_genes(host):
    recorder = plugin(host, Recorder)
    plan = quiet_prepare(config(batch_size=7, cycles=5), host)
    result = execute(plan)
    genes = plan.dataset.genes
    test_genes = set(genes[plan.test])

    fitted = recorder.fitted
    assert len(fitted) == 5
    assert len({id(m) for m in fitted}) == 5
    assert all(len(m.fits) == 1 for m in fitted)
    for cycle, model in enumerate(fitted):
        X, y, rng = model.fits[0]
        trained_on = list(genes[X[:, 1].astype(int)])
        acquired_so_far = list(result.selections[result.selections.cycle <= cycle].gene)
        assert len(X) == len(y) == 7 * (cycle + 1)
        assert trained_on == acquired_so_far
        assert not set(trained_on) & test_genes
        np.testing.assert_array_equal(y, X[:, 0])  # labels arrive with their own genes
        assert isinstance(rng, np.random.Generator)


def test_the_acquisition_sees_no_labels_and_only_genes_it_may_pick(host):
    watcher, recorder = plugin(host, Watcher), plugin(host, Recorder)
    plan = quiet_prepare(config(acquisition="watching", batch_size=9, cycles=4), host)
    execute(plan)
    everything = np.arange(plan.dataset.n)

    assert len(watcher.calls) == 3  # the last cycle measures but acquires nothing
    for cycle, (pool, model) in enumerate(watcher.calls):
        assert not hasattr(pool, "y")
        assert pool.cycle == cycle
        assert not pool.X.flags.writeable
        assert len(pool.acquired) == 9 * (cycle + 1)
        assert not set(pool.available) & set(plan.test)
        assert not set(pool.available) & set(pool.acquired)
        np.testing.assert_array_equal(
            pool.available, np.setdiff1d(everything, np.concatenate([plan.test, pool.acquired])))
        assert model is recorder.fitted[cycle]  # the model fitted in this very cycle


def test_metrics_are_recorded_once_per_cycle_and_metric(host):
    plan = quiet_prepare(config(batch_size=6, cycles=4, metrics=("hit_ratio", "mse", "spearman")), host)
    metrics = execute(plan).metrics

    assert list(metrics.columns) == ["cycle", "n_acquired", "metric", "value"]
    assert len(metrics) == 4 * 3
    assert list(metrics.cycle) == [c for c in range(4) for _ in range(3)]
    assert list(metrics.metric) == ["hit_ratio", "mse", "spearman"] * 4
    assert list(metrics.n_acquired) == [6 * (c + 1) for c in range(4) for _ in range(3)]


def test_hit_ratio_is_cumulative_and_an_oracle_finds_every_hit(host):
    oracle = plugin(host, Oracle)
    plan = quiet_prepare(config(acquisition="oracle", batch_size=10, cycles=5, hit_fraction=0.05), host)
    assert 10 * 4 >= len(plan.hits) > 10  # enough cycles for the oracle, too many hits for one batch
    oracle.hits = plan.hits
    result = execute(plan)

    ratio = result.metrics[result.metrics.metric == "hit_ratio"].value.to_numpy()
    hit_genes = set(plan.dataset.genes[plan.hits])
    expected = [len(hit_genes & set(result.selections[result.selections.cycle <= c].gene)) / len(hit_genes)
                for c in range(5)]
    np.testing.assert_allclose(ratio, expected)
    assert (np.diff(ratio) >= 0).all()
    assert ratio[-1] == 1.0
    assert ratio[0] < 1.0


def test_selections_hold_batch_size_times_cycles_distinct_genes(host):
    plan = quiet_prepare(config(batch_size=11, cycles=6), host)
    selections = execute(plan).selections

    assert list(selections.columns) == ["cycle", "gene"]
    assert len(selections) == 11 * 6
    assert selections.gene.is_unique
    assert selections.cycle.value_counts().sort_index().to_dict() == {c: 11 for c in range(6)}
    assert not set(selections.gene) & set(plan.dataset.genes[plan.test])


def test_a_run_may_use_the_whole_pool(host):
    plan = quiet_prepare(config(batch_size=96, cycles=5), host)  # 600 genes, 120 test, 480 in the pool
    selections = execute(plan).selections

    assert set(selections.gene) == set(plan.dataset.genes[plan.pool])


def test_the_same_settings_give_the_same_run(host_with):
    def run(seed: int):
        host = host_with(Table(), builtins=True)
        plan = quiet_prepare(config(model="random_forest", seed=seed, params={"model": {"n_estimators": 5}}),
                             host)
        return execute(plan)

    first, again, other = run(0), run(0), run(1)
    pd.testing.assert_frame_equal(first.metrics, again.metrics)
    pd.testing.assert_frame_equal(first.selections, again.selections)
    assert set(first.selections.gene) != set(other.selections.gene)


# Refusals: each happens in prepare, before any model is fitted, naming the culprit.


REFUSALS = {
    "batch larger than the pool": (
        dict(batch_size=100, cycles=5), ["batch-size 100", "cycles 5", "500", "480"]),
    "zero batch size": (dict(batch_size=0), ["--batch-size", "0"]),
    "negative batch size": (dict(batch_size=-3), ["--batch-size", "-3"]),
    "zero cycles": (dict(cycles=0), ["--cycles", "0"]),
    "negative cycles": (dict(cycles=-1), ["--cycles", "-1"]),
    "unknown assay": (dict(assay="tabel"), ["assay 'tabel'", "did you mean 'table'"]),
    "unknown descriptor": (dict(descriptor="tablee"), ["descriptor 'tablee'", "did you mean 'table'"]),
    "unknown model": (dict(model="random_forrest"), ["model 'random_forrest'", "did you mean 'random_forest'"]),
    "unknown acquisition": (dict(acquisition="randm"), ["acquisition 'randm'", "did you mean 'random'"]),
    "unknown metric": (dict(metrics=("mse", "hit_ratoi")), ["metric 'hit_ratoi'", "did you mean 'hit_ratio'"]),
    "unknown name far from any": (dict(model="zzzzzz"), ["model 'zzzzzz'", "random_forest"]),
    "incompatible model and acquisition": (
        dict(model="random_forest", acquisition="needs_embed"), ["'needs_embed'", "'random_forest'", "embed"]),
    "test fraction zero": (dict(test_fraction=0.0), ["--test-fraction", "0"]),
    "test fraction one": (dict(test_fraction=1.0), ["--test-fraction", "1"]),
    "test fraction above one": (dict(test_fraction=1.5), ["--test-fraction", "1.5"]),
    "negative test fraction": (dict(test_fraction=-0.1), ["--test-fraction", "-0.1"]),
    "hit fraction zero": (dict(hit_fraction=0.0), ["--hit-fraction"]),
    "params for an unknown kind": (dict(params={"modle": {"n_estimators": 3}}), ["'modle'"]),
    "params by the chosen component's name (gd sweep's form)": (
        dict(model="random_forest", params={"random_forest": {"n_estimators": 3}}),
        ["'random_forest'", "did you mean 'model.n_estimators'?"]),
    "no metric": (dict(metrics=()), ["metric"]),
    "unknown model parameter": (
        dict(model="random_forest", params={"model": {"n_trees": 3}}), ["model 'random_forest'", "n_estimators"]),
    "bad model parameter value": (
        dict(model="random_forest", params={"model": {"n_estimators": 0}}), ["model 'random_forest'", "n_estimators"]),
    "parameter for an acquisition that takes none": (
        dict(params={"acquisition": {"x": 1}}), ["acquisition 'random'", "no parameters"]),
    "bad descriptor parameter": (
        dict(descriptor="simulated", assay="simulated", params={"descriptor": {"n_features": 0}}),
        ["descriptor 'simulated'", "n_features"]),
}


@pytest.mark.parametrize(("settings", "culprits"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_prepare_refuses_a_bad_run_before_fitting_anything(host, settings, culprits):
    cfg = config(**{"model": "tripwire", **settings})
    with pytest.raises(GdError) as refusal:
        quiet_prepare(cfg, host)

    for culprit in culprits:
        assert culprit in str(refusal.value)
    assert not plugin(host, Recorder).fitted


def test_a_test_fraction_that_rounds_to_no_test_gene_is_refused_in_prepare(host):
    # 0.0001 × 600 genes rounds to an empty test set: no metric could be computed on it.
    with pytest.raises(GdError, match="test"):
        quiet_prepare(config(model="tripwire", test_fraction=0.0001), host)


def bad_tables() -> dict[str, tuple[pd.DataFrame, pd.Series, list[str]]]:
    descriptor, assay = gene_table(50)
    nan = descriptor.copy()
    nan.loc["G0007", "noise"] = np.nan
    inf = descriptor.copy()
    inf.loc["G0011", "y"] = np.inf
    twice = pd.concat([descriptor, descriptor.loc[["G0003"]]])
    twice_assay = pd.concat([assay, assay.loc[["G0004"]]])
    strangers = descriptor.set_axis([f"ENSG{i}" for i in range(50)])
    nan_assay = assay.copy()
    nan_assay.loc["G0009"] = np.nan
    return {
        "NaN feature": (nan, assay, ["descriptor 'table'", "NaN", "G0007"]),
        "infinite feature": (inf, assay, ["descriptor 'table'", "infinite", "G0011"]),
        "NaN outcome": (descriptor, nan_assay, ["assay 'table'", "G0009"]),
        "gene twice in descriptor": (twice, assay, ["descriptor 'table'", "G0003"]),
        "gene twice in assay": (descriptor, twice_assay, ["assay 'table'", "G0004"]),
        "no gene in common": (strangers, assay, ["descriptor 'table'", "assay 'table'", "shares 0 gene(s)"]),
        "text feature": (descriptor.assign(note="x"), assay, ["descriptor 'table'", "note"]),
        "text outcome": (descriptor, assay.astype(str), ["assay 'table'", "non-numeric"]),
        "descriptor is not a frame": (descriptor.to_numpy(), assay, ["descriptor 'table'", "DataFrame"]),
        "assay is not a series": (descriptor, list(assay), ["assay 'table'", "Series"]),
    }


@pytest.mark.parametrize("case", list(bad_tables()))
def test_prepare_refuses_bad_data_naming_the_source(host_with, case):
    descriptor, assay, culprits = bad_tables()[case]
    host = host_with(Table(descriptor, assay), Tripwire(), builtins=True)
    with pytest.raises(GdError) as refusal:
        quiet_prepare(config(model="tripwire", batch_size=2, cycles=2), host)

    for culprit in culprits:
        assert culprit in str(refusal.value)


def test_missing_values_outside_the_aligned_genes_do_not_matter(host_with):
    descriptor, assay = gene_table(50)
    descriptor.loc["NOT_MEASURED"] = [np.nan, np.inf, np.nan]
    plan = quiet_prepare(config(batch_size=2, cycles=2),
                         host_with(Table(descriptor, assay), Recorder(), builtins=True))

    assert "NOT_MEASURED" not in plan.dataset.genes
    assert np.isfinite(plan.dataset.X).all()


@pytest.mark.parametrize("mode", ["duplicate", "too_few", "too_many", "test_gene", "acquired_gene", "floats"])
def test_a_wrong_batch_from_the_acquisition_is_refused_naming_it(host, mode):
    plan = quiet_prepare(config(acquisition="misbehaving", params={"acquisition": {"mode": mode}}), host)
    with pytest.raises(GdError) as refusal:
        execute(plan)

    assert "acquisition 'misbehaving'" in str(refusal.value)
    assert "cycle 0" in str(refusal.value)


# Model output and metric values: checked every cycle, never published when wrong (issue 11).


class Faulty:
    """Registers model 'faulty', whose predict and sample go wrong as ``mode`` says, and metric 'faulty'."""

    @hookimpl
    def gd_register_models(self, register):
        register("faulty", FaultyModel)

    @hookimpl
    def gd_register_metrics(self, register):
        register("faulty", lambda: lambda pool, model, truth: model.metric_value)


class FaultyModel:
    def __init__(self, predict: str = "fine", sample: str = "fine", metric: float = 0.5) -> None:
        self.predict_mode, self.sample_mode, self.metric_value = predict, sample, metric

    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        values = np.arange(len(X), dtype=np.float64)
        if self.predict_mode == "three_nan":
            values[:3] = np.nan
        if self.predict_mode == "inf":
            values[-1] = np.inf
        if self.predict_mode == "wide":
            return np.zeros((len(X), 2))
        if self.predict_mode == "text":
            return np.array(["x"] * len(X))
        return values

    def sample(self, X, n=None, rng=None):
        samples = np.random.default_rng(0).standard_normal((4, len(X)))
        if self.sample_mode == "nan":
            samples[:, :5] = np.nan
        if self.sample_mode == "transposed":
            return samples.T
        return samples


def faulty_run(host, acquisition="random", metrics=("mse", "hit_ratio"), **model):
    return execute(quiet_prepare(config(model="faulty", acquisition=acquisition, metrics=metrics,
                                        params={"model": model}), host))


@pytest.mark.parametrize("mode, culprit", [
    ("three_nan", "predicted 3 non-finite value(s) (NaN or infinite) for the 120 test genes in cycle 0"),
    ("inf", "predicted 1 non-finite value(s)"),
    ("wide", "predicted shape (120, 2)"),
    ("text", "predicted values of dtype <U"),
])
def test_a_model_predicting_non_finite_or_misshapen_values_fails_the_run_naming_it(host_with, mode, culprit):
    host = host_with(Table(), Faulty(), builtins=True)
    with pytest.raises(GdError) as failure:
        faulty_run(host, predict=mode)
    assert culprit in str(failure.value)
    assert "model 'faulty'" in str(failure.value) and "plugin 'Faulty'" in str(failure.value)


def test_a_model_predicting_nan_fails_even_when_no_metric_reads_the_predictions(host_with):
    host = host_with(Table(), Faulty(), builtins=True)
    with pytest.raises(GdError, match="model 'faulty' .* predicted 3 non-finite"):
        faulty_run(host, metrics=("hit_ratio",), predict="three_nan")


@pytest.mark.parametrize("mode, culprit", [("nan", "model.sample gave NaN or infinite values for 5 gene(s)"),
                                           ("transposed", "model.sample returned shape")])
def test_bad_posterior_samples_fail_the_run_naming_the_model_and_its_plugin(host_with, mode, culprit):
    host = host_with(Table(), Faulty(), builtins=True)
    with pytest.raises(GdError) as failure:
        faulty_run(host, acquisition="topuncertain", sample=mode)
    message = str(failure.value)
    assert culprit in message
    assert "cycle 0, acquisition 'topuncertain' (plugin 'builtin.acquisitions' of gdisco) with model 'faulty' (plugin 'Faulty')" in message


def test_a_metric_returning_infinity_fails_the_run_but_nan_is_recorded_as_undefined(host_with):
    host = host_with(Table(), Faulty(), builtins=True)
    with pytest.raises(GdError, match="metric 'faulty' \\(plugin 'Faulty'\\) returned inf in cycle 0"):
        faulty_run(host, metrics=("faulty",), metric=float("inf"))
    recorded = faulty_run(host, metrics=("faulty",), metric=float("nan")).metrics
    assert recorded["value"].isna().all() and len(recorded) == 4
    # Text and booleans are not numbers, though float() would read "0.5" and True as 0.5 and 1.0.
    for value, kind in (("0.5", "str"), (True, "bool"), (np.bool_(False), "bool")):
        with pytest.raises(GdError, match=f"metric 'faulty' \\(plugin 'Faulty'\\) returned {kind}, not a number"):
            faulty_run(host, metrics=("faulty",), metric=value)


def test_metrics_are_built_when_the_run_is_planned(host_with):
    class Unbuildable:
        @hookimpl
        def gd_register_metrics(self, register):
            register("unbuildable", self.build)

        def build(self):
            raise ValueError("needs a reference table; set GD_REFERENCE")

    host = host_with(Table(), Tripwire(), Unbuildable(), builtins=True)
    with pytest.raises(GdError, match="metric 'unbuildable': needs a reference table"):
        quiet_prepare(config(model="tripwire", metrics=("mse", "unbuildable")), host)


@pytest.mark.parametrize("settings, message", [
    (dict(test_fraction="0.2"), '--test-fraction must be a number strictly between 0 and 1 (the share of genes '
                                'held out for testing, e.g. 0.2), got "0.2"'),
    (dict(hit_fraction=True), "--hit-fraction must be a number above 0 and at most 1"),
    (dict(seed=True), "--seed must be a whole number ≥ 0, got true"),
    (dict(batch_size=2.0), "--batch-size must be a positive whole number, got 2.0"),
    (dict(params={"acqusition": {"x": 1}}), "--param acqusition.…: unknown kind 'acqusition'; did you mean "
                                            "'acquisition'?"),
    (dict(metrics=("mse", "mse")), "--metric mse is given more than once"),
])
def test_settings_of_the_wrong_type_are_refused_by_their_option_name(host, settings, message):
    with pytest.raises(GdError) as refusal:
        quiet_prepare(config(model="tripwire", **settings), host)
    assert message in str(refusal.value)
