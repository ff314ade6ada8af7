"""thompson, ucb, probability_of_hit, exploit and discobax: which genes each picks, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gd_plugins_builtin.hit_acquisitions as hit_acquisitions
from gd_core import GdError, Pool
from gd_core.data import HitRule
from gd_core.plugins import PluginHost
from gd_core.testing import check_acquisition, fitted_forest, run_tiny, tiny_dataset, tiny_pool
from gd_plugins_builtin.hit_acquisitions import (
    DiscoBAXAcquisition,
    ExploitAcquisition,
    ProbabilityOfHitAcquisition,
    ThompsonAcquisition,
    UCBAcquisition,
    hit_threshold,
)

NAMES = ("thompson", "ucb", "probability_of_hit", "exploit", "discobax")


def phi(z: float) -> float:
    """The standard normal CDF, written out: what the scores are checked against."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


class MeanAndSpread:
    """predict gives ``mean``; the fixed samples are mean − sd and mean + sd (population sd exactly ``sd``).

    Feature 0 of a row is its gene's position.
    """

    def __init__(self, mean, sd=None) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.sd = np.zeros_like(self.mean) if sd is None else np.asarray(sd, dtype=np.float64)

    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        return self.mean[self._genes(X)]

    def sample(self, X, n=None, rng=None):
        genes = self._genes(X)
        return np.stack([self.mean[genes] - self.sd[genes], self.mean[genes] + self.sd[genes]])

    @staticmethod
    def _genes(X):
        return np.asarray(X[:, 0], dtype=np.int64)


class TableDraws(MeanAndSpread):
    """Posterior draws picked from a fixed list of tables by ``rng``; records which tables each call returned."""

    def __init__(self, tables) -> None:
        self.tables = np.atleast_2d(np.asarray(tables, dtype=np.float64))
        super().__init__(self.tables.mean(axis=0))
        self.drawn: list[np.ndarray] = []

    def sample(self, X, n=None, rng=None):
        if rng is None:
            return super().sample(X, n)
        which = rng.integers(len(self.tables), size=n)
        self.drawn.append(which)
        return self.tables[which][:, self._genes(X)]


def make_pool(n_available: int, measured=(), *, by: str = "abs", fraction: float = 0.05, features=None) -> Pool:
    """Genes 0 … n_available − 1 available; one more gene acquired per measured outcome; feature 0 is the position."""
    total = n_available + len(measured)
    X = np.arange(total, dtype=np.float32)[:, None] if features is None else np.asarray(features, dtype=np.float32)
    X.setflags(write=False)
    values = np.asarray(measured, dtype=np.float32)
    values.setflags(write=False)
    return Pool(X=X, genes=None, available=np.arange(n_available), acquired=np.arange(n_available, total), cycle=1,
                measured=values, hit_rule=HitRule(by, fraction))


def select(acquisition, pool: Pool, model, batch_size: int, seed: int = 0) -> list[int]:
    chosen = acquisition.select(pool, model, batch_size, np.random.default_rng(seed))
    assert chosen.dtype == np.int64
    return chosen.tolist()


# exploit


def test_exploit_takes_the_largest_predicted_effect_either_sign_under_abs_but_only_upward_under_high():
    model = MeanAndSpread([1.0, -5.0, 3.0, 4.0, 0.0])

    assert select(ExploitAcquisition(), make_pool(5, by="abs"), model, 2) == [1, 3]   # |−5|, 4
    assert select(ExploitAcquisition(), make_pool(5, by="high"), model, 2) == [3, 2]  # 4, 3: −5 is no high hit


def test_exploit_breaks_ties_by_position_and_explains_with_the_predicted_score():
    acquisition = ExploitAcquisition()
    assert select(acquisition, make_pool(4), MeanAndSpread([-2.0, 1.0, 2.0, 2.0]), 3) == [0, 2, 3]
    assert acquisition.last_explanation["score"].tolist() == [2.0, 2.0, 2.0]


# ucb


def test_ucb_adds_beta_standard_deviations_to_the_hit_score():
    model = MeanAndSpread([3.0, -4.0, 1.0], sd=[1.0, 0.2, 2.0])
    ucb = UCBAcquisition(beta=2.0)

    # by |y|: 3 + 2 = 5, 4 + 0.4 = 4.4, 1 + 4 = 5 (the tie goes to the lower position)
    assert select(ucb, make_pool(3, by="abs"), model, 3) == [0, 2, 1]
    assert ucb.last_explanation["score"] == pytest.approx([5.0, 5.0, 4.4])
    # by largest y: 5, −3.6, 5
    assert select(ucb, make_pool(3, by="high"), model, 3) == [0, 2, 1]
    assert ucb.last_explanation["score"] == pytest.approx([5.0, 5.0, -3.6])


def test_ucb_with_beta_zero_is_exploit_and_with_a_large_beta_prefers_the_uncertain_gene():
    model = MeanAndSpread([5.0, -6.0, 0.0, 2.0], sd=[0.0, 0.0, 1.0, 0.1])
    for by in ("abs", "high"):
        pool = make_pool(4, by=by)
        assert select(UCBAcquisition(beta=0.0), pool, model, 2) == select(ExploitAcquisition(), pool, model, 2)
        assert select(UCBAcquisition(beta=10.0), pool, model, 1) == [2]  # 0 + 10 beats 6 and 5


# probability_of_hit


def test_the_hit_threshold_is_the_linear_quantile_of_the_measured_outcomes():
    one_to_hundred = np.arange(1, 101)
    assert hit_threshold(make_pool(1, one_to_hundred), "p") == pytest.approx(95.05)  # 95 + 0.05·(96 − 95)
    alternating = one_to_hundred * np.where(one_to_hundred % 2, -1, 1)
    assert hit_threshold(make_pool(1, alternating, by="abs"), "p") == pytest.approx(95.05)  # of |measured|
    assert hit_threshold(make_pool(1, -one_to_hundred, by="high"), "p") == pytest.approx(-5.95)  # signed
    assert hit_threshold(make_pool(1, one_to_hundred, fraction=0.5), "p") == pytest.approx(50.5)


def test_probability_of_hit_by_largest_y_is_phi_of_the_z_score_above_the_threshold():
    pool = make_pool(5, np.arange(1, 101), by="high")  # t = 95.05
    model = MeanAndSpread([96.0, 90.0, 100.0, 80.0, 120.0], sd=[1.0, 10.0, 10.0, 0.0, 0.0])
    acquisition = ProbabilityOfHitAcquisition()

    # Φ(0.95) = .83, Φ(−0.505) = .31, Φ(0.495) = .69; σ = 0 is a step: 0 below t, 1 above it
    assert select(acquisition, pool, model, 5) == [4, 0, 2, 1, 3]
    expected = [1.0, phi(0.95), phi(0.495), phi(-0.505), 0.0]
    assert acquisition.last_explanation["score"] == pytest.approx(expected, abs=1e-9)


def test_probability_of_hit_by_abs_adds_both_tails():
    measured = np.arange(1, 101) * np.where(np.arange(1, 101) % 2, -1, 1)  # |measured| = 1 … 100: t = 95.05
    pool = make_pool(4, measured, by="abs")
    model = MeanAndSpread([0.0, 96.0, 50.0, -97.0], sd=[60.0, 4.0, 0.0, 1.0])
    acquisition = ProbabilityOfHitAcquisition()

    expected = {3: phi(-97 + 95.05 - 2 * 95.05) + phi(97 - 95.05),  # the lower tail carries it: .974
                1: phi((96 - 95.05) / 4) + phi((-95.05 - 96) / 4),  # .594
                0: 2 * phi(-95.05 / 60),                             # both tails alike: .113
                2: 0.0}                                              # certain, and short of t
    assert select(acquisition, pool, model, 4) == [3, 1, 0, 2]
    assert acquisition.last_explanation["score"] == pytest.approx(list(expected.values()), abs=1e-9)


def test_probabilities_that_round_to_zero_are_ordered_by_their_z_score_not_by_position():
    pool = make_pool(3, np.arange(1, 101), by="high")  # t = 95.05
    model = MeanAndSpread([95.05 - 50, 95.05 - 40, 95.05 - 45], sd=[1.0, 1.0, 1.0])  # z = −50, −40, −45

    acquisition = ProbabilityOfHitAcquisition()
    assert select(acquisition, pool, model, 3) == [1, 2, 0]
    assert acquisition.last_explanation["score"].tolist() == [0.0, 0.0, 0.0]


def test_probability_of_hit_refuses_a_pool_without_measured_outcomes_in_one_line():
    pool = Pool(X=np.arange(4, dtype=np.float32)[:, None], genes=None, available=np.arange(3),
                acquired=np.array([3]), cycle=1)
    with pytest.raises(GdError, match="acquisition 'probability_of_hit' needs the outcomes measured so far") as info:
        select(ProbabilityOfHitAcquisition(), pool, MeanAndSpread(np.zeros(4)), 1)
    assert "\n" not in str(info.value)


# thompson


def test_thompson_takes_each_draws_best_gene_not_yet_taken():
    model = TableDraws([3.0, -9.0, 5.0, 1.0, 7.0])  # one table: every draw is the same function
    thompson = ThompsonAcquisition()

    # each draw's best is gene 1 (|−9|); later draws fall back on their next best not yet taken
    assert select(thompson, make_pool(5, by="abs"), model, 4) == [1, 4, 2, 0]
    assert thompson.last_explanation["score"].tolist() == [-9.0, 7.0, 5.0, 3.0]
    assert select(thompson, make_pool(5, by="high"), model, 4) == [4, 2, 0, 3]
    assert thompson.last_explanation["score"].tolist() == [7.0, 5.0, 3.0, 1.0]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("by", ["abs", "high"])
def test_thompson_follows_the_draws_the_model_returned(seed, by):
    tables = np.random.default_rng(100 + seed).normal(size=(3, 12))
    model = TableDraws(tables)
    chosen = select(ThompsonAcquisition(), make_pool(12, by=by), model, 6, seed=seed)

    (which,) = model.drawn  # one block: one call, six draws
    assert len(which) == 6
    taken: list[int] = []
    for j, table in enumerate(which):
        hit = np.abs(tables[table]) if by == "abs" else tables[table]
        best = max((g for g in range(12) if g not in taken), key=lambda g: hit[g])
        assert chosen[j] == best
        taken.append(best)
    assert len(set(chosen)) == 6


def test_thompson_breaks_ties_within_a_draw_at_random_not_by_position():
    model = TableDraws(np.zeros(8))  # a flat draw: every gene ties
    first = {select(ThompsonAcquisition(), make_pool(8), model, 3, seed=seed)[0] for seed in range(20)}
    assert len(first) > 3


# discobax


def two_blobs():
    """Genes 0–2 near (0, 0) with effects 10, 9.9, 9.8; genes 3–4 near (100, 100) with 5, 4.9; genes 5–9 low."""
    coordinates = [(0, 0), (0, 1), (1, 0), (100, 100), (101, 100), (-100, 50), (-100, 51), (50, -100), (51, -100),
                   (52, -100)]
    features = np.array([(g, x, y) for g, (x, y) in enumerate(coordinates)], dtype=np.float32)
    mean = [10.0, 9.9, 9.8, 5.0, 4.9, 0.1, 0.2, 0.0, 0.3, 0.1]
    return make_pool(10, features=features), MeanAndSpread(mean)


def test_discobax_takes_one_gene_per_blob_where_ucb_takes_two_from_the_best_blob():
    pool, model = two_blobs()
    discobax = DiscoBAXAcquisition(candidates_per_pick=2)  # candidates: genes 0, 1, 2 and 3

    assert select(UCBAcquisition(), pool, model, 2) == [0, 1]
    for seed in range(5):
        assert select(discobax, pool, model, 2, seed=seed) == [0, 3]
        assert discobax.last_explanation["score"].tolist() == [10.0, 5.0]
        assert len(set(discobax.last_explanation["cluster"].tolist())) == 2


def test_discobax_with_one_candidate_per_pick_is_ucb():
    pool, model = two_blobs()
    assert select(DiscoBAXAcquisition(candidates_per_pick=1), pool, model, 3) == select(UCBAcquisition(), pool,
                                                                                           model, 3)


def test_discobax_fills_the_batch_when_identical_descriptors_leave_clusters_empty():
    # genes 0–3 share one descriptor (and so one prediction, 5); genes 4–7 are apart and predicted lower
    features = np.array([(0, 0)] * 4 + [(g, 10 * g) for g in range(4, 8)], dtype=np.float32)
    pool = make_pool(8, features=features)
    model = MeanAndSpread([5.0, 0, 0, 0, 1.0, 2.0, 3.0, 4.0])
    discobax = DiscoBAXAcquisition(candidates_per_pick=2)  # candidates: genes 0–3, all at one point

    assert select(discobax, pool, model, 2) == [0, 1]  # one cluster holds them all; the next best fills
    assert discobax.last_explanation["cluster"].tolist() == [0, 0]


@pytest.mark.parametrize(("params", "complaint"), [
    ({"beta": -1.0}, "beta must be a number in"),
    ({"candidates_per_pick": 0}, "candidates_per_pick must be a positive integer"),
    ({"n_init": 1.5}, "n_init must be a positive integer"),
])
def test_discobax_refuses_bad_parameters_in_one_line(params, complaint):
    host = PluginHost(builtins=True, entry_points=False)
    with pytest.raises(GdError, match=complaint):
        host.registries.acquisitions.create("discobax", **params)


# every one


def test_a_hit_rule_gd_does_not_know_is_refused():
    pool = make_pool(3, np.arange(1, 11), by="low")
    for acquisition in (ExploitAcquisition(), UCBAcquisition(), ProbabilityOfHitAcquisition(), ThompsonAcquisition(),
                        DiscoBAXAcquisition()):
        with pytest.raises(GdError, match="cannot hunt hits by 'low'"):
            select(acquisition, pool, TableDraws(np.arange(4.0)), 1)


class Broken(TableDraws):
    """Draws and samples as TableDraws, except that ``what`` ("predict" or "sample") gives NaN for gene 1."""

    def __init__(self, what: str) -> None:
        super().__init__(np.arange(4.0))
        self.what = what

    def predict(self, X):
        return self._spoilt(super().predict(X), "predict", X)

    def sample(self, X, n=None, rng=None):
        return self._spoilt(super().sample(X, n, rng), "sample", X)

    def _spoilt(self, values, what, X):
        values = np.array(values, dtype=np.float64)
        if what == self.what:
            values[..., self._genes(X) == 1] = np.nan
        return values


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("what", ["predict", "sample"])
def test_nan_from_the_model_is_refused_in_one_line(name, what):
    acquisition = PluginHost(builtins=True, entry_points=False).registries.acquisitions.create(name)
    if (what, name) in (("sample", "exploit"), ("predict", "thompson")):
        return  # exploit asks for no samples, thompson for no mean
    with pytest.raises(GdError, match=f"model.{what} gave NaN or infinite values for 1 gene") as info:
        select(acquisition, make_pool(3, np.arange(1.0, 11.0)), Broken(what), 2)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def forest_pool():
    data = tiny_dataset(n_genes=200, n_features=6)
    pool = tiny_pool(data, n_acquired=40)
    return data, pool, fitted_forest(pool, data)


@pytest.mark.parametrize("name", NAMES)
def test_each_keeps_the_acquisition_contract_with_the_forest(name, forest_pool):
    data, pool, forest = forest_pool
    acquisition = PluginHost(builtins=True, entry_points=False).registries.acquisitions.create(name)
    check_acquisition(acquisition, forest, pool=pool, dataset=data, batch_size=8)
    assert all(len(values) == 8 for values in acquisition.last_explanation.values())


@pytest.mark.parametrize("name", NAMES)
def test_each_scores_a_pool_in_blocks_as_it_scores_it_whole(name, forest_pool, monkeypatch):
    _, pool, forest = forest_pool
    host = PluginHost(builtins=True, entry_points=False)
    whole = select(host.registries.acquisitions.create(name), pool, forest, 8, seed=3)
    monkeypatch.setattr(hit_acquisitions, "_ROWS_PER_CHUNK", 7)
    monkeypatch.setattr(hit_acquisitions, "_DRAW_CELLS", 8 * 5)  # thompson: 5 genes per block
    assert select(host.registries.acquisitions.create(name), pool, forest, 8, seed=3) == whole


@pytest.mark.parametrize("name", NAMES)
def test_each_runs_a_whole_tiny_run_with_the_forest(name):
    result = run_tiny(model="random_forest", acquisition=name, cycles=3, batch_size=4)
    assert result.selections.groupby("cycle").size().tolist() == [4, 4, 4]  # the random first batch, then two
    assert result.selections["gene"].is_unique
