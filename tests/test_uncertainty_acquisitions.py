"""topuncertain (BALD), softuncertain (SoftBALD) and marginsample: what each picks, and its limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import gd_plugins_builtin.acquisitions as acquisitions
from gd_core import GdError, Pool
from gd_core.loop import RunConfig, execute, prepare
from gd_core.plugins import PluginHost
from gd_plugins_builtin.acquisitions import (
    MarginSamplingAcquisition,
    SoftUncertainAcquisition,
    TopUncertainAcquisition,
)
from gd_plugins_builtin.forest import RandomForest
from tests.helpers import NoSamples

UNCERTAINTY = ("topuncertain", "softuncertain", "marginsample")
# Standardised: mean 0 and population variance 1, so gene i's samples sd_i·Z have variance sd_i² exactly.
Z = np.array([-1.5, -0.5, 0.0, 0.5, 1.5])
Z = (Z - Z.mean()) / Z.std()


class FixedSamples:
    """A model whose posterior samples are a fixed table [n_samples, n_genes]; feature 0 of a row is its gene."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.asarray(table, dtype=np.float64)

    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        return self.sample(X).mean(axis=0)

    def sample(self, X, n=None, rng=None):
        return self.table[:, np.asarray(X[:, 0], dtype=np.int64)]


def with_sd(sd: np.ndarray) -> FixedSamples:
    """Samples of gene i with variance sd[i]² (and range sd[i]·(max Z − min Z))."""
    return FixedSamples(np.outer(Z, sd) + np.arange(len(sd)))  # a different mean per gene changes nothing


def with_bald_scores(scores: np.ndarray) -> FixedSamples:
    """Samples whose BALD score ½·log(1 + Var) is the given score of each gene."""
    return with_sd(np.sqrt(np.expm1(2 * np.asarray(scores))))


def make_pool(n: int, available: np.ndarray | None = None) -> Pool:
    """``n`` genes whose single feature is their own position; genes outside ``available`` count as acquired."""
    X = np.arange(n, dtype=np.float32)[:, None]
    X.setflags(write=False)
    available = np.arange(n) if available is None else np.sort(np.asarray(available, dtype=np.int64))
    acquired = np.setdiff1d(np.arange(n), available)
    return Pool(X=X, genes=None, available=available, acquired=acquired, cycle=0)


def select(acquisition, pool: Pool, model, batch_size: int, seed: int = 0) -> np.ndarray:
    return acquisition.select(pool, model, batch_size, np.random.default_rng(seed))


def counts_over_repeats(acquisition, pool: Pool, model, batch_size: int, repeats: int, seed: int) -> np.ndarray:
    """How often each available gene was chosen over ``repeats`` selections from one random stream."""
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([acquisition.select(pool, model, batch_size, rng) for _ in range(repeats)])
    return np.bincount(np.searchsorted(pool.available, chosen), minlength=len(pool.available))


# The scores


def test_the_bald_score_is_the_gaussian_entropy_gap_half_log_one_plus_variance():
    samples = np.array([[0.0, 1.0, 5.0], [0.0, -1.0, 5.0], [0.0, 3.0, 5.0], [0.0, -3.0, 5.0]])

    np.testing.assert_allclose(acquisitions.bald_score(samples), 0.5 * np.log([1.0, 6.0, 1.0]))
    np.testing.assert_allclose(acquisitions.margin_score(samples), [0.0, 6.0, 0.0])


# topuncertain and marginsample


def test_topuncertain_picks_the_available_genes_of_highest_variance_best_first():
    sd = np.random.default_rng(3).permutation(np.linspace(0.1, 5.0, 40))
    available = np.flatnonzero(np.arange(40) % 3 != 0)  # a strict subset that leaves out high-variance genes
    pool = make_pool(40, available)

    chosen = select(TopUncertainAcquisition(), pool, with_sd(sd), 6)

    expected = available[np.argsort(-sd[available])[:6]]
    np.testing.assert_array_equal(chosen, expected)
    assert np.argmax(sd) not in available and np.argmax(sd) not in chosen


def test_marginsample_picks_the_widest_range_where_variance_would_choose_otherwise():
    # Genes 0–4: one outlier among zeros (wide range, small variance); genes 5–9: ±1 halves (the reverse).
    table = np.zeros((10, 10))
    table[0, :5] = [2.5, 2.6, 2.7, 2.8, 2.9]  # range ≤ 2.9, variance ≤ 0.76
    table[:5, 5:] = 1.0 + 0.01 * np.arange(5)  # range ≈ 2, variance ≈ 1
    table[5:, 5:] = -1.0
    model, pool = FixedSamples(table), make_pool(10)

    assert list(select(MarginSamplingAcquisition(), pool, model, 3)) == [4, 3, 2]
    assert list(select(TopUncertainAcquisition(), pool, model, 3)) == [9, 8, 7]


@pytest.mark.parametrize("acquisition", [TopUncertainAcquisition(), MarginSamplingAcquisition()])
def test_equal_scores_go_to_the_lower_positions(acquisition):
    pool = make_pool(30, np.arange(5, 30, 2))
    sd = np.ones(30)
    sd[25] = 2.0  # one clear winner, then a 12-way tie

    chosen = select(acquisition, pool, with_sd(sd), 4)

    assert list(chosen) == [25, 5, 7, 9]


class FreshWhenAsked(FixedSamples):
    """Like MC dropout: the fixed samples without ``rng``, fresh random ones with it."""

    def sample(self, X, n=None, rng=None):
        fixed = super().sample(X)
        return fixed if rng is None else rng.standard_normal(fixed.shape)


@pytest.mark.parametrize("acquisition", [TopUncertainAcquisition(), MarginSamplingAcquisition(),
                                         SoftUncertainAcquisition()])
def test_every_chunk_is_scored_with_the_same_posterior_samples(acquisition, monkeypatch):
    sd = np.random.default_rng(5).random(100)
    pool, model = make_pool(100, np.arange(3, 100)), FreshWhenAsked(with_sd(sd).table)
    whole = select(acquisition, pool, model, 10)

    monkeypatch.setattr(acquisitions, "_ROWS_PER_CHUNK", 7)

    np.testing.assert_array_equal(select(acquisition, pool, model, 10), whole)
    if not isinstance(acquisition, SoftUncertainAcquisition):
        np.testing.assert_array_equal(whole, select(acquisition, pool, with_sd(sd), 10))


def test_topuncertain_and_marginsample_agree_with_the_forests_own_trees():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4)).astype(np.float32)
    y = (X[:, 0] + 0.3 * rng.standard_normal(120)).astype(np.float32)
    X.setflags(write=False)
    pool = Pool(X=X, genes=None, available=np.arange(20, 120), acquired=np.arange(20), cycle=0)
    forest = RandomForest(n_estimators=15, n_jobs=1, backend="sklearn").fit(X[:20], y[:20], np.random.default_rng(1))
    trees = np.stack([tree.predict(X[20:]) for tree in forest._forest.estimators_])

    top = select(TopUncertainAcquisition(), pool, forest, 8)
    margin = select(MarginSamplingAcquisition(), pool, forest, 8)

    assert list(top) == list(20 + np.lexsort((np.arange(100), -trees.var(axis=0)))[:8])
    assert list(margin) == list(20 + np.lexsort((np.arange(100), -np.ptp(trees, axis=0)))[:8])


# softuncertain


@pytest.mark.parametrize("relative", [True, False])
def test_a_tiny_temperature_reproduces_topuncertain(relative):
    sd = np.random.default_rng(11).permutation(np.linspace(0.0, 3.0, 50))
    pool = make_pool(50, np.arange(0, 50, 2)[1:])
    top = select(TopUncertainAcquisition(), pool, with_sd(sd), 7)

    for seed in range(20):
        soft = SoftUncertainAcquisition(1e-6, relative=relative)
        np.testing.assert_array_equal(select(soft, pool, with_sd(sd), 7, seed), top)


@pytest.mark.parametrize("relative", [True, False])
def test_a_huge_temperature_is_indistinguishable_from_uniform_and_a_moderate_one_is_not(relative):
    scores = np.linspace(0.0, 3.0, 20)  # exp(score) spans a factor of 20; their sd is 0.91
    pool, model = make_pool(20), with_bald_scores(scores)
    repeats, batch = 2000, 3

    hot = counts_over_repeats(SoftUncertainAcquisition(1e6, relative=relative), pool, model, batch, repeats, 0)
    mild = counts_over_repeats(SoftUncertainAcquisition(1.0, relative=relative), pool, model, batch, repeats, 0)

    assert hot.sum() == mild.sum() == repeats * batch
    assert stats.chisquare(hot).pvalue > 0.01
    assert stats.chisquare(mild).pvalue < 1e-12
    assert mild[-5:].sum() > 3 * mild[:5].sum()  # and it leans towards the uncertain genes


@pytest.mark.parametrize("temperature", [1.0, 0.5])
@pytest.mark.parametrize("relative", [True, False])
def test_selection_frequencies_follow_exp_score_over_temperature_exponentiated_once(temperature, relative):
    scores = np.linspace(0.0, 1.5, 8)
    pool, model = make_pool(8), with_bald_scores(scores)
    repeats = 10_000

    soft = SoftUncertainAcquisition(temperature, relative=relative)
    counts = counts_over_repeats(soft, pool, model, 1, repeats, seed=1)

    # eq. 7 with Temp = temperature (nats) or temperature × sd of the scores (population sd: 0.5401 here)
    temp = temperature * (np.sqrt(np.mean((scores - scores.mean()) ** 2)) if relative else 1.0)
    once = np.exp(scores / temp) / np.exp(scores / temp).sum()
    twice = np.exp(np.exp(scores / temp))  # the reference's softmax(exp(x / T))
    twice /= twice.sum()
    assert stats.chisquare(counts, repeats * once).pvalue > 0.01
    assert stats.chisquare(counts, repeats * twice).pvalue < 1e-12


def test_a_relative_temperature_means_the_same_whatever_the_units_of_the_scores():
    scores = np.random.default_rng(3).gamma(2.0, 1e-4, size=500)  # a bnn's BALD scores: ~1e-4 nats
    relative = SoftUncertainAcquisition(0.5)

    for scale, shift in [(1e4, 0.0), (3.0, 0.01), (1e-3, 0.0)]:
        np.testing.assert_allclose(relative.log_weights(scale * scores + shift), relative.log_weights(scores),
                                   rtol=1e-9, atol=1e-9)
    absolute = SoftUncertainAcquisition(0.5, relative=False)
    # In nats, the same temperature is a near-uniform draw on these scores and a sharp one on 1e4 × them.
    assert np.ptp(absolute.log_weights(scores)) < 0.01
    assert np.ptp(absolute.log_weights(1e4 * scores)) > 10
    # Relative: the gene 2 sd above another has e^4 times its weight at T = 0.5, on any scale.
    top, other = np.argmax(scores), np.argmin(np.abs(scores - (scores.max() - 2 * scores.std())))
    gap = relative.log_weights(scores)[top] - relative.log_weights(scores)[other]
    assert gap == pytest.approx((scores[top] - scores[other]) / (0.5 * scores.std()))


def test_the_default_lies_between_random_and_topuncertain_on_any_scale_where_nats_do_not():
    # Scores shaped like a bnn's (~1e-4 nats) and the same scores 1e4 times larger (a forest's scale).
    base = np.random.default_rng(5).gamma(2.0, 1e-4, size=2000)
    top_decile = np.argsort(base)[-200:]  # random would take 10% of its picks from here, topuncertain 100%

    def share(acquisition, scores):
        pool, model, rng = make_pool(2000), with_bald_scores(scores), np.random.default_rng(0)
        picks = np.concatenate([acquisition.select(pool, model, 64, rng) for _ in range(20)])
        return np.isin(picks, top_decile).mean()

    default = [share(SoftUncertainAcquisition(), scale * base) for scale in (1.0, 1e4)]
    assert 0.2 < default[0] < 0.8 and default[0] == default[1]  # same weights, same draws, on both scales
    nats = [share(SoftUncertainAcquisition(0.9, relative=False), scale * base) for scale in (1.0, 1e4)]
    assert nats[0] < 0.15 < 0.5 < nats[1]  # the reference's T = 0.9 nats: random on one, sharp on the other


def test_when_every_score_is_equal_a_relative_temperature_draws_uniformly():
    pool, model = make_pool(30), with_sd(np.full(30, 0.2))

    assert (SoftUncertainAcquisition().log_weights(np.full(30, 0.02)) == 0).all()
    counts = counts_over_repeats(SoftUncertainAcquisition(), pool, model, 2, 1500, seed=2)
    assert stats.chisquare(counts).pvalue > 0.01


def test_softuncertain_is_deterministic_given_the_generator_and_varies_with_it():
    sd = np.random.default_rng(2).random(200)
    pool, model = make_pool(200, np.arange(7, 200)), with_sd(sd)
    soft = SoftUncertainAcquisition()

    np.testing.assert_array_equal(select(soft, pool, model, 10, seed=4), select(soft, pool, model, 10, seed=4))
    assert len({tuple(select(soft, pool, model, 10, seed)) for seed in range(5)}) == 5


def test_extreme_scores_and_temperatures_do_not_overflow():
    pool, model = make_pool(4), with_sd(np.array([0.0, 1e50, 1e100, 1e-4]))  # scores ≈ 0, 115, 230, 5e-9

    with np.errstate(all="raise"):
        for relative in (False, True):
            assert list(select(SoftUncertainAcquisition(1e-300, relative), pool, model, 3)) == [2, 1, 3]
            assert len(set(select(SoftUncertainAcquisition(1e300, relative), pool, model, 4))) == 4
        # the rest tie at −inf
        assert list(select(SoftUncertainAcquisition(5e-324, relative=False), pool, model, 2)) == [2, 0]


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), "hot", True, None])
def test_a_temperature_that_is_not_a_positive_number_is_refused(temperature):
    with pytest.raises(ValueError, match="temperature must be a positive finite number"):
        SoftUncertainAcquisition(temperature)


def test_the_cli_parameter_reaches_softuncertain_and_a_bad_one_is_one_clear_error():
    entry = PluginHost(entry_points=False).registries.acquisitions.get("softuncertain")

    assert entry.create(temperature=0.25).temperature == 0.25
    assert not entry.create(relative=False).relative
    assert (SoftUncertainAcquisition().temperature, SoftUncertainAcquisition().relative) == (1.5, True)
    with pytest.raises(GdError, match="acquisition 'softuncertain': temperature must be a positive"):
        entry.create(temperature=0)
    with pytest.raises(GdError, match="acquisition 'softuncertain': relative must be true or false"):
        entry.create(relative="yes")


# Contract, for every uncertainty acquisition


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_each_needs_posterior_samples(name):
    assert PluginHost(entry_points=False).registries.acquisitions.create(name).requires == ("sample",)


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_a_model_returning_samples_of_the_wrong_shape_is_named(name):
    class Flat(FixedSamples):
        def sample(self, X, n=None, rng=None):
            return super().sample(X)[0]

    acquisition = PluginHost(entry_points=False).registries.acquisitions.create(name)
    with pytest.raises(GdError, match=r"model.sample returned shape \(10,\) for 10 genes"):
        select(acquisition, make_pool(10), Flat(np.ones((3, 10))), 2)


@settings(max_examples=30, deadline=None)
@given(
    n_genes=st.integers(1, 80),
    n_samples=st.integers(1, 6),
    share_available=st.floats(0.05, 1.0),
    batch_share=st.floats(0.0, 1.0),
    temperature=st.floats(1e-4, 1e4),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_acquisition_returns_batch_size_distinct_available_genes_the_same_for_the_same_seed(
    n_genes, n_samples, share_available, batch_share, temperature, seed
):
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_genes)
    n_available = max(1, round(share_available * n_genes))
    available = np.sort(order[:n_available])
    n_acquired = rng.integers(0, n_genes - n_available + 1)
    pool = make_pool(n_genes, available)
    pool = Pool(X=pool.X, genes=None, available=available, acquired=order[n_available:n_available + n_acquired],
                cycle=1)  # the rest of the genes play the test set
    batch_size = 1 + round(batch_share * (n_available - 1))
    # Rounded samples, so ties between genes are common.
    model = FixedSamples(np.round(rng.standard_normal((n_samples, n_genes)), 1))

    for acquisition in (TopUncertainAcquisition(), MarginSamplingAcquisition(),
                        SoftUncertainAcquisition(temperature)):
        chosen = select(acquisition, pool, model, batch_size, seed)

        assert chosen.dtype == np.int64 and chosen.shape == (batch_size,)
        assert len(np.unique(chosen)) == batch_size
        assert np.isin(chosen, available).all()
        assert not np.isin(chosen, np.setdiff1d(np.arange(n_genes), available)).any()  # no acquired or test gene
        np.testing.assert_array_equal(select(acquisition, pool, model, batch_size, seed), chosen)


# Through the core


SMALL = {"descriptor": {"n_genes": 800, "n_features": 8}, "assay": {"n_genes": 800},
         "model": {"n_estimators": 10}}


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_a_run_with_the_random_forest_acquires_distinct_non_test_genes_every_cycle(name):
    registries = PluginHost(entry_points=False).registries
    config = RunConfig("simulated", "simulated", "random_forest", name, batch_size=10, cycles=3, params=SMALL)

    plan = prepare(config, registries, on_status=lambda message: None)
    first, again = execute(plan), execute(plan)

    genes = first.selections["gene"]
    assert len(genes) == 30 and genes.is_unique
    assert not set(genes) & set(plan.dataset.genes[plan.test])
    assert sorted(first.metrics["cycle"].unique()) == [0, 1, 2]
    assert first.selections.equals(again.selections)


@pytest.mark.parametrize("name", UNCERTAINTY)
def test_a_model_without_samples_is_refused_before_any_work(name, host_with):
    host = host_with(NoSamples(), builtins=True)
    config = RunConfig("simulated", "simulated", "mean_only", name, batch_size=10, cycles=3,
                       params={"descriptor": SMALL["descriptor"], "assay": SMALL["assay"]})

    with pytest.raises(GdError, match=f"acquisition '{name}' needs sample, which model 'mean_only' does not"):
        prepare(config, host.registries, on_status=lambda message: None)
