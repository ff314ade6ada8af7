"""kmeans_data, kmeans_embedding, coreset, badge and adversarialBIM: what each picks, and the reference's bugs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gd_plugins_builtin.adversarial as adversarial
import gd_plugins_builtin.diversity as diversity
from gd_core import GdError, Pool
from gd_core.data import check_compatible
from gd_plugins_builtin.adversarial import AdversarialBIMAcquisition, bim_perturb
from gd_plugins_builtin.diversity import (
    BadgeAcquisition,
    CoresetAcquisition,
    KMeansDataAcquisition,
    KMeansEmbeddingAcquisition,
    greedy_k_center,
    nearest_distinct,
)
from gd_plugins_builtin.forest import RandomForest

ACQUISITIONS = {
    "kmeans_data": KMeansDataAcquisition,
    "kmeans_embedding": KMeansEmbeddingAcquisition,
    "coreset": CoresetAcquisition,
    "badge": BadgeAcquisition,
    "adversarialBIM": AdversarialBIMAcquisition,
}


class Capabilities:
    """A fake model: each capability is a function of the descriptor rows it is given."""

    def __init__(self, embed=None, gradient_embedding=None, input_gradient=None, variance=None) -> None:
        self._embed, self._gradient, self._input = embed, gradient_embedding, input_gradient
        self._variance = variance

    def fit(self, X, y, rng):
        return self

    def predict(self, X):
        return np.zeros(len(X))

    def embed(self, X):
        return self._embed(X)

    def gradient_embedding(self, X, rng):
        return self._gradient(X)

    def input_gradient(self, X):
        return self._input(X)

    def sample(self, X, n=None, rng=None):
        """Two samples ±√Var(x), whose population variance is Var(x)."""
        spread = np.sqrt(np.asarray(self._variance(np.asarray(X, dtype=np.float64)), dtype=np.float64))
        return np.stack([spread, -spread])


def linear_model(d: int, seed: int = 0) -> Capabilities:
    """Every capability from fixed random maps: a tanh embedding, gradients, and Var(x) = (x·v)²."""
    rng = np.random.default_rng([seed, d])
    W, U, v = rng.normal(size=(d, 6)), rng.normal(size=(d, 5)), rng.normal(size=d)
    return Capabilities(embed=lambda X: np.tanh(X @ W), gradient_embedding=lambda X: (X @ U) * (X[:, :1] + 1),
                        input_gradient=lambda X: 2 * (X @ v)[:, None] * v[None, :], variance=lambda X: (X @ v) ** 2)


def make_pool(X: np.ndarray, available: np.ndarray | None = None, acquired: np.ndarray | None = None) -> Pool:
    """A pool over the rows of ``X``; by default every gene is available and none acquired."""
    X = np.array(X, dtype=np.float32)
    X.setflags(write=False)
    available = np.arange(len(X)) if available is None else np.sort(np.asarray(available, dtype=np.int64))
    acquired = np.empty(0, dtype=np.int64) if acquired is None else np.asarray(acquired, dtype=np.int64)
    return Pool(X=X, genes=None, available=available, acquired=acquired, cycle=0)


def select(acquisition, pool: Pool, model, batch_size: int, seed: int = 0) -> np.ndarray:
    return acquisition.select(pool, model, batch_size, np.random.default_rng(seed))


def blobs(sizes: list[int], d: int, *, spread: float, distance: float, seed: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Points in tight clusters of the given sizes, centres ~``distance`` apart; returns points and labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), d)) * distance
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return centres[labels] + rng.normal(size=(len(labels), d)) * spread, labels


# coreset


def test_coreset_keeps_away_from_genes_acquired_in_earlier_batches_not_only_the_last():
    # Acquired: cluster A (an earlier batch) at x = −10 and cluster B (the last batch) at x = +10.
    rng = np.random.default_rng(0)
    earlier = np.column_stack([-10 + 0.1 * rng.normal(size=10), 0.1 * rng.normal(size=10)])
    last = np.column_stack([10 + 0.1 * rng.normal(size=10), 0.1 * rng.normal(size=10)])
    near_earlier = np.column_stack([-10 + 0.3 * rng.normal(size=20), 1 + 0.3 * rng.normal(size=20)])
    near_last = np.column_stack([10 + 0.3 * rng.normal(size=20), 1 + 0.3 * rng.normal(size=20)])
    between = np.array([[0.0, 8.0], [0.0, -5.0], [0.0, 5.0]])  # ~10 from both clusters
    X = np.concatenate([earlier, last, near_earlier, near_last, between])
    acquired, available = np.arange(20), np.arange(20, len(X))
    rotation = np.linalg.qr(rng.normal(size=(2, 2)))[0]  # the embedding keeps distances
    model = Capabilities(embed=lambda X: X @ rotation)

    chosen = select(CoresetAcquisition(), make_pool(X, available, acquired), model, 3)

    assert sorted(chosen) == [60, 61, 62]  # the three genes between the clusters
    # Measured against the last batch only (the reference), a gene next to the earlier cluster looks farthest.
    last_only = available[greedy_k_center(X[available], X[10:20], 3, np.random.default_rng(0))]
    assert 20 <= last_only[0] < 40


def brute_force_k_center(embedded: np.ndarray, acquired: np.ndarray, k: int) -> list[int]:
    """Greedy k-center, one gene and one centre at a time, with no vectorisation to get wrong."""
    chosen: list[int] = []
    for _ in range(k):
        centres = list(acquired) + [embedded[c] for c in chosen]
        best, best_distance = -1, -1.0
        for i, e in enumerate(embedded):
            if i not in chosen:
                distance = min(float(np.linalg.norm(e - c)) for c in centres)
                if distance > best_distance:
                    best, best_distance = i, distance
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", range(4))
def test_coreset_matches_a_brute_force_greedy_k_center_in_embedding_space(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    acquired = rng.choice(40, 6, replace=False)
    available = np.setdiff1d(np.arange(40), acquired)[3:]  # three genes are test genes
    model = linear_model(3, seed)
    embedded = model.embed(X)

    chosen = select(CoresetAcquisition(), make_pool(X, available, acquired), model, 8)

    expected = available[brute_force_k_center(embedded[available], embedded[acquired], 8)]
    assert list(chosen) == list(expected)


# kmeans_data and kmeans_embedding


@pytest.mark.parametrize("seed", range(5))
def test_kmeans_data_takes_one_gene_from_each_well_separated_cluster(seed):
    X, labels = blobs([40, 25, 60, 10, 30], 6, spread=1.0, distance=30.0, seed=seed)
    available = np.flatnonzero(np.random.default_rng(seed).random(len(X)) < 0.9)

    chosen = select(KMeansDataAcquisition(), make_pool(X, available), None, 5, seed)

    assert sorted(labels[chosen]) == [0, 1, 2, 3, 4]


def test_kmeans_fitted_on_a_sample_still_covers_every_cluster_and_may_pick_any_gene():
    X, labels = blobs([150, 100, 120, 130], 4, spread=1.0, distance=40.0, seed=1)

    chosen = select(KMeansDataAcquisition(max_fit_genes=40), make_pool(X), None, 4)

    assert sorted(labels[chosen]) == [0, 1, 2, 3]


def test_kmeans_embedding_clusters_the_embedding_and_kmeans_data_the_descriptors():
    # Columns 0–1 put genes in 4 clusters, columns 2–3 in 4 other clusters; the embedding sees only 2–3.
    rng = np.random.default_rng(2)
    corners = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]) * 20.0
    data_cluster, embedding_cluster = rng.permutation(np.arange(200) % 4), rng.permutation(np.arange(200) % 4)
    X = np.column_stack([corners[data_cluster], corners[embedding_cluster] / 10])
    X += rng.normal(size=X.shape) * 0.1
    model = Capabilities(embed=lambda X: X[:, 2:] * 10)

    by_embedding = select(KMeansEmbeddingAcquisition(), make_pool(X), model, 4)
    by_data = select(KMeansDataAcquisition(), make_pool(X), model, 4)

    assert sorted(embedding_cluster[by_embedding]) == [0, 1, 2, 3]
    assert sorted(data_cluster[by_data]) == [0, 1, 2, 3]


def test_a_gene_nearest_to_two_centres_goes_to_the_closer_one_and_the_other_takes_its_next_nearest():
    genes = np.array([[0.0], [1.0], [10.0]])

    assert list(nearest_distinct(genes, np.array([[0.4], [0.2]]))) == [1, 0]
    assert list(nearest_distinct(genes, np.array([[0.2], [0.4]]))) == [0, 1]
    assert list(nearest_distinct(genes, np.array([[0.2], [0.4]]), serve=np.array([1, 0]))) == [1, 0]


def _hard_points(rng: np.random.Generator, kind: str, n: int, d: int) -> np.ndarray:
    """float32 points where float32 arithmetic is most likely to mislead: exact ties ("rounded"), a large common
    offset that leaves distances nearly equal in relative terms ("offset"), identical rows ("duplicates")."""
    points = rng.standard_normal((n, d)).astype(np.float32)
    if kind == "rounded":
        points = np.round(points).astype(np.float32)
    elif kind == "offset":
        points = (points * 1e3 + 5e3).astype(np.float32)
    elif kind == "duplicates":
        points[: n // 2] = points[0]
    return points


def _float64_labels(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The nearest centre by float64 scores rounded to float32, the first of equal ones: what k-means defines."""
    wide, centres = points.astype(np.float64), centres.astype(np.float64)
    scores = (wide @ centres.T - 0.5 * (centres ** 2).sum(axis=1)).astype(np.float32)
    return np.argmax(scores, axis=1)


# The draws behind _hard_points.
HARD = {"seed": st.integers(0, 2**32 - 1), "kind": st.sampled_from(["plain", "rounded", "offset", "duplicates"]),
        "n": st.integers(2, 400), "d": st.integers(1, 80)}


@settings(max_examples=60, deadline=None)
@given(**HARD, k=st.integers(1, 40))
def test_kmeans_assignment_screened_in_float32_gives_exactly_the_float64_labels(seed, kind, n, d, k):
    rng = np.random.default_rng(seed)
    points = _hard_points(rng, kind, n, d)
    k = min(k, n)
    centres = points[rng.choice(n, k, replace=False)].astype(np.float64)
    if k > 2:
        centres[2] = centres[1]  # two identical centres: the lower one must win
    centres[k // 2:] += rng.standard_normal((k - k // 2, d)) * 1e-4  # some barely apart
    wide = points.astype(np.float64)
    labels = diversity._assign(points, wide, centres, diversity.row_norms(wide))
    np.testing.assert_array_equal(labels, _float64_labels(points, centres))


@settings(max_examples=60, deadline=None)
@given(**HARD, steps=st.integers(1, 12))
def test_screened_distance_updates_give_exactly_the_values_of_the_full_float64_ones(seed, kind, n, d, steps):
    rng = np.random.default_rng(seed)
    points = _hard_points(rng, kind, n, d)
    wide = points.astype(np.float64)
    norms = diversity.row_norms(wide)
    screened, full = np.full(n, np.inf), np.full(n, np.inf)
    for i in rng.integers(0, n, steps):  # the later steps change few rows: the screened path
        diversity.lower_to_distances(screened, wide, points, norms, int(i))
        np.minimum(full, diversity.distances_to(wide, norms, int(i)), out=full)
        np.testing.assert_array_equal(screened, full)


def test_nearest_distinct_looks_past_its_candidate_list_when_every_candidate_is_taken():
    genes = np.arange(10, dtype=np.float32)[:, None]
    positions = np.arange(100, 110)

    chosen = nearest_distinct(genes, np.zeros((6, 1)), rows=np.arange(10), candidates=2)

    assert sorted(chosen) == [0, 1, 2, 3, 4, 5]
    assert sorted(nearest_distinct(np.zeros((120, 1)) + np.arange(120)[:, None], np.zeros((3, 1)),
                                   rows=positions, candidates=1)) == [0, 1, 2]


# badge


@pytest.mark.parametrize("seed", range(5))
def test_badge_follows_the_gradient_embedding_not_the_hidden_activations(seed):
    # Columns 0–1 (the gradients) put genes in 4 clusters; columns 2–3 (the embedding) in 4 others.
    rng = np.random.default_rng(seed)
    corners = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]) * 5.0
    gradient_cluster, embedding_cluster = rng.permutation(np.arange(160) % 4), rng.permutation(np.arange(160) % 4)
    X = np.column_stack([corners[gradient_cluster], corners[embedding_cluster]])
    X += rng.normal(size=X.shape) * 0.01
    model = Capabilities(embed=lambda X: X[:, 2:], gradient_embedding=lambda X: X[:, :2])

    chosen = select(BadgeAcquisition(), make_pool(X), model, 4, seed)

    assert sorted(gradient_cluster[chosen]) == [0, 1, 2, 3]


def test_badge_seeding_reaches_small_far_clusters_that_uniform_sampling_would_miss():
    # A uniform draw of 5 of these 474 genes contains the lone far gene with probability 5/474; D² sampling
    # covers every cluster unless it lands in a covered one (weight ~1e-6 against ≥ 1 for an uncovered one).
    G, labels = blobs([300, 120, 40, 13, 1], 8, spread=1e-3, distance=10.0, seed=3)
    model = Capabilities(gradient_embedding=lambda X: X)
    pool = make_pool(G)

    for seed in range(30):
        chosen = select(BadgeAcquisition(), pool, model, 5, seed)
        assert sorted(labels[chosen]) == [0, 1, 2, 3, 4]
        assert chosen[0] == np.argmax(np.linalg.norm(pool.X, axis=1))  # the longest gradient first


def test_badge_draws_differently_with_a_different_seed_and_identically_with_the_same():
    G = np.random.default_rng(0).normal(size=(300, 4))
    model = Capabilities(gradient_embedding=lambda X: X)
    pool = make_pool(G)

    runs = {tuple(select(BadgeAcquisition(), pool, model, 10, seed)) for seed in range(5)}
    again = {tuple(select(BadgeAcquisition(), pool, model, 10, seed)) for seed in range(5)}

    assert runs == again and len(runs) == 5


def test_badge_asks_the_model_for_the_paper_pseudo_label_by_default_and_for_mc_dropout_when_told():
    calls = []

    class Labelled(Capabilities):
        def gradient_embedding(self, X, rng, pseudo_label="likelihood"):
            calls.append(pseudo_label)
            return np.asarray(X, dtype=np.float64)

    pool = make_pool(np.random.default_rng(0).normal(size=(30, 3)))
    select(BadgeAcquisition(), pool, Labelled(), 4)
    select(BadgeAcquisition(pseudo_label="mc_dropout"), pool, Labelled(), 4)
    assert calls == ["likelihood", "mc_dropout"]
    # A model whose gradient_embedding knows only the paper's pseudo-label is refused in one line.
    with pytest.raises(GdError, match="badge pseudo_label='mc_dropout' needs a model whose gradient_embedding"):
        select(BadgeAcquisition(pseudo_label="mc_dropout"), pool, linear_model(3), 4)
    # ... and before any fit, where gd run, gd sweep (--dry-run too) and campaigns check the pairing.
    with pytest.raises(GdError, match="acquisition 'badge' with model 'linear': badge pseudo_label='mc_dropout' needs"):
        check_compatible("linear", linear_model(3), "badge", BadgeAcquisition(pseudo_label="mc_dropout"))
    check_compatible("labelled", Labelled(), "badge", BadgeAcquisition(pseudo_label="mc_dropout"))


# adversarialBIM


def quadratic_peak(peak: float, height: float = 20.0) -> Capabilities:
    """One feature; Var(x) = height − (x − peak)², so sign steps climb towards the peak from either side."""
    return Capabilities(input_gradient=lambda X: -2 * (X - peak), variance=lambda X: height - (X[:, 0] - peak) ** 2)


def test_every_bim_iterate_stays_in_the_l2_ball_of_gamma_times_the_norm():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(40, 6)) * rng.uniform(0.1, 10, size=(40, 1))  # norms over two orders of magnitude
    t[0] = 0.0  # a gene without annotations has a ball of radius 0
    A = rng.normal(size=(6, 6))
    iterates = []

    def gradient(X):  # Var(x) = (Ax)·(Ax): a quadratic bowl, so steps keep pushing outwards
        iterates.append(np.array(X, dtype=np.float64))
        return 2 * X @ A.T @ A

    final = bim_perturb(gradient, t, gamma=0.35, steps=12, step_size=0.25)

    radius = 0.35 * np.linalg.norm(t, axis=1)
    for x in iterates[1:] + [final.astype(np.float64)]:  # the first call is at t itself
        assert (np.linalg.norm(x - t, axis=1) <= radius * (1 + 1e-6) + 1e-6).all()
    np.testing.assert_array_equal(final[0], 0.0)
    # Pushed outwards all the way, every other gene ends on the edge of its ball.
    np.testing.assert_allclose(np.linalg.norm(final[1:] - t[1:], axis=1), radius[1:], rtol=1e-5)


def test_a_sign_step_moves_every_feature_by_the_step_size_times_the_radius_over_root_d():
    t = np.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])  # norms 5 and 1
    gradient = lambda X: np.tile([1.0, -2.0, 0.5, 0.0], (len(X), 1))  # noqa: E731

    one_step = bim_perturb(gradient, t, gamma=0.4, steps=1, step_size=0.5)

    # α = 0.5 × 0.4 × ‖t‖ / √4: 0.5 for the first gene, 0.1 for the second; sign(0) = 0 leaves feature 3 alone.
    np.testing.assert_allclose(one_step, [[3.5, 3.5, 0.5, 0.0], [0.1, -0.1, 1.1, 0.0]], rtol=1e-6)
    # A step is √3·α long, inside the first ball (radius 2); three would be 2.6, so the third is pulled back
    # along the same direction to the radius.
    three_steps = bim_perturb(gradient, t, gamma=0.4, steps=3, step_size=0.5)
    np.testing.assert_allclose(three_steps[0] - t[0], 2.0 * np.array([1, -1, 1, 0]) / np.sqrt(3), rtol=1e-6)


def test_adversarial_points_map_to_their_nearest_available_gene_which_need_not_be_their_own():
    # Var peaks at x = 2. Gene A (1.5) climbs to ≈2.03, nearer to gene B (2.1) than to itself: eq. 13 nominates
    # B, from A's point. B's own point (2.1) is less uncertain and names B again, which counts once; C (−3)
    # climbs only to −1.95 and names itself.
    X = np.array([[1.5], [2.1], [-3.0]])
    bim = AdversarialBIMAcquisition()

    assert list(select(bim, make_pool(X), quadratic_peak(2.0), 1)) == [1]
    assert list(bim.origins_) == [0]
    assert list(select(bim, make_pool(X), quadratic_peak(2.0), 2)) == [1, 2]
    assert list(bim.origins_) == [0, 2]
    # Only available genes are candidates: without B, A's point falls back on A.
    assert list(select(bim, make_pool(X, available=[0, 2]), quadratic_peak(2.0), 1)) == [0]


def test_the_batch_follows_the_variance_at_the_adversarial_points_over_the_whole_pool():
    # Var(x) = relu(x₀)²: genes with x₀ < −1 cannot climb out of zero variance within their balls; the rest
    # climb, and the highest adversarial variances belong to the largest x₀ — wherever they are in the pool.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 5)) * 0.1
    X[:500, 0] = -3 - rng.random(500)
    X[500:, 0] = 1 + 2 * rng.random(500)
    available = np.setdiff1d(np.arange(1000), rng.choice(1000, 50, replace=False))
    model = Capabilities(input_gradient=lambda X: np.c_[2 * np.maximum(X[:, :1], 0), np.zeros((len(X), 4))],
                         variance=lambda X: np.maximum(X[:, 0], 0) ** 2)

    bim = AdversarialBIMAcquisition()
    chosen = select(bim, make_pool(X, available), model, 20)

    assert (chosen >= 500).all() and len(set(chosen)) == 20
    # By brute force: rank the points by their variance, map each to its nearest available gene, keep the
    # first 20 distinct genes.
    points = bim_perturb(model.input_gradient, X[available], 0.35, 10, 0.25).astype(np.float64)
    ranked = np.argsort(-np.maximum(points[:, 0], 0) ** 2, kind="stable")
    distances = ((points[ranked, None, :] - X[None, available, :]) ** 2).sum(axis=2)
    nearest = available[np.argmin(distances, axis=1)]
    expected = list(dict.fromkeys(nearest.tolist()))[:20]
    assert chosen.tolist() == expected
    assert (np.diff(bim.scores_) <= 0).all()  # best first


def test_when_every_point_names_the_same_gene_the_batch_is_filled_with_their_own_genes_in_rank_order():
    # All three climb to the peak at 2.0, where gene B sits: the union of eq. 13 is {B}.
    X = np.array([[1.9], [2.0], [2.1]])
    bim = AdversarialBIMAcquisition()

    chosen = select(bim, make_pool(X), quadratic_peak(2.0), 3)

    assert chosen[0] == 1 and sorted(chosen) == [0, 1, 2]


# Every acquisition


@st.composite
def pools(draw):
    """A pool of 2–60 genes (some acquired, some test, rows possibly duplicated), a batch size and a seed."""
    n = draw(st.integers(2, 60))
    d = draw(st.integers(1, 4))
    data_seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(data_seed)
    X = rng.normal(size=(n, d))
    if draw(st.booleans()):
        X = X[rng.integers(0, max(1, n // 3), size=n)]  # duplicated descriptors: distinctness must still hold
    role = rng.choice(3, size=n, p=[0.6, 0.2, 0.2])  # available, acquired, test
    role[rng.integers(n)] = 0
    available, acquired = np.flatnonzero(role == 0), rng.permutation(np.flatnonzero(role == 1))
    batch_size = draw(st.integers(1, len(available)))
    seed = draw(st.integers(0, 2**16))
    return make_pool(X, available, acquired), linear_model(d, data_seed), batch_size, seed


@pytest.mark.parametrize("name", ACQUISITIONS)
@settings(max_examples=25, deadline=None)
@given(case=pools())
def test_every_acquisition_returns_the_batch_size_of_distinct_available_genes_reproducibly(name, case):
    pool, model, batch_size, seed = case

    chosen = select(ACQUISITIONS[name](), pool, model, batch_size, seed)

    assert chosen.dtype.kind == "i" and len(chosen) == batch_size == len(set(chosen.tolist()))
    assert np.isin(chosen, pool.available).all()
    assert not np.isin(chosen, pool.acquired).any()  # nor test genes, which are outside available too
    np.testing.assert_array_equal(chosen, select(ACQUISITIONS[name](), pool, model, batch_size, seed))


@pytest.mark.parametrize("name", ACQUISITIONS)
@pytest.mark.parametrize("batch_size", [0, 11, 2.0, True])
def test_a_batch_size_outside_one_to_the_available_count_is_refused(name, batch_size):
    pool = make_pool(np.random.default_rng(0).normal(size=(10, 2)))

    with pytest.raises(GdError, match="cannot select .* from 10 available"):
        select(ACQUISITIONS[name](), pool, linear_model(2), batch_size)


@pytest.mark.parametrize("name, requires", [("kmeans_data", ()), ("kmeans_embedding", ("embed",)),
                                            ("coreset", ("embed",)), ("badge", ("gradient_embedding",)),
                                            ("adversarialBIM", ("input_gradient", "sample"))])
def test_each_declares_the_capability_it_needs_and_the_random_forest_is_refused_by_name(name, requires):
    acquisition = ACQUISITIONS[name]()
    assert tuple(acquisition.requires) == requires

    if not requires:
        check_compatible("random_forest", RandomForest(), name, acquisition)
        return
    with pytest.raises(GdError, match=f"acquisition '{name}' needs {requires[0]}, which model 'random_forest' "
                                      "does not offer"):
        check_compatible("random_forest", RandomForest(), name, acquisition)


@pytest.mark.parametrize("make, message", [
    (lambda: KMeansDataAcquisition(n_init=0), "n_init must be a positive integer"),
    (lambda: KMeansEmbeddingAcquisition(max_iter=2.5), "max_iter must be a positive integer"),
    (lambda: KMeansDataAcquisition(max_fit_genes=-1), "max_fit_genes must be a positive integer"),
    (lambda: AdversarialBIMAcquisition(gamma=0), "gamma must be a positive finite number"),
    (lambda: AdversarialBIMAcquisition(gamma=float("nan")), "gamma must be a positive finite number"),
    (lambda: BadgeAcquisition(pseudo_label="mean"), "pseudo_label must be 'likelihood'"),
    (lambda: AdversarialBIMAcquisition(steps=0), "steps must be a positive integer"),
    (lambda: AdversarialBIMAcquisition(step_size=-0.1), "step_size must be a positive finite number"),
])
def test_bad_parameters_are_refused_naming_the_parameter(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("name, broken", [
    ("kmeans_embedding", Capabilities(embed=lambda X: np.zeros(len(X)))),
    ("coreset", Capabilities(embed=lambda X: np.full((len(X), 2), np.nan))),
    ("badge", Capabilities(gradient_embedding=lambda X: np.zeros((len(X) + 1, 3)))),
    ("adversarialBIM", Capabilities(input_gradient=lambda X: np.zeros((len(X), 7)))),
    ("adversarialBIM", Capabilities(input_gradient=lambda X: X, variance=lambda X: np.full(len(X), np.nan))),
])
def test_a_model_capability_of_the_wrong_shape_or_with_nan_is_a_one_line_error(name, broken):
    pool = make_pool(np.random.default_rng(0).normal(size=(10, 2)), acquired=None)

    with pytest.raises(GdError, match=r"model\.\w+ (returned shape|gave NaN)"):
        select(ACQUISITIONS[name](), pool, broken, 3)


def test_the_modules_register_the_five_acquisitions(host_with):
    registries = host_with(diversity, adversarial).registries

    assert {"kmeans_data", "kmeans_embedding", "coreset", "badge", "adversarialBIM"} <= set(
        registries.acquisitions.names())
    assert registries.acquisitions.get("adversarialBIM").plugin == "gd_plugins_builtin.adversarial"
