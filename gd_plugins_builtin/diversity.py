"""Diversity: k-means on descriptors or embeddings (eq. 14), greedy core-set (eq. 8), BADGE (eq. 2).

Every one works on a million-gene pool in bounded memory: model capabilities are called a block of rows
at a time, and distances come from one matrix product per block (‖a‖² + ‖b‖² − 2a·b), never from a
full genes × genes matrix. Python loops run over the batch slots only.

Distances are computed in float64 and rounded to float32. A float32 product's last bits depend on the BLAS
kernel (the CPU's instruction set), the thread count and where a row falls in a block, so genes with
identical descriptors (common: genes with the same annotations) got unequal distances and "ties go to the
lower position" was decided by that noise, differently on every machine. In float64 the noise is ~1e-16
and vanishes in the rounding. Equal distances are then broken by position explicitly, never by how a
partition algorithm happens to order them. Where only a nearest centre, or whether a distance can fall below
the current one, matters (k-means' assignments, k-means++ seeding, the core-set's greedy step), a float32
product with a rigorous error bound screens the rows first and only the rows it cannot decide are computed
in float64: half the arithmetic, and the same results as computing every row in float64.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import TYPE_CHECKING, Callable

from gd_core import hookimpl
from gd_core.errors import GdError
from gd_core.registry import BadParameter
from gd_plugins_builtin._checks import check_batch_size, positive_int, real_numbers, refuse_non_finite

# numpy loads inside the functions that compute: registering this plugin stays light (see __init__.py)
if TYPE_CHECKING:
    import numpy as np

    from gd_core.data import Pool

# Rows per call of a model capability: 2^15 genes × 128 features of float32 is 16 MB.
_ROWS_PER_CALL = 1 << 15
# A block of a distance matrix holds at most 2^24 float32 distances (64 MB).
_BLOCK_CELLS = 1 << 24
# Relative tolerance on the centre shift that ends a k-means run (scikit-learn's default).
_KMEANS_TOL = 1e-4


@hookimpl
def gd_register_acquisitions(register):
    register("kmeans_data", KMeansDataAcquisition)
    register("kmeans_embedding", KMeansEmbeddingAcquisition)
    register("coreset", CoresetAcquisition)
    register("badge", BadgeAcquisition)


class _KMeans:
    """Shared by the two k-means acquisitions: parameters and the selection rule of eq. 14."""

    requires: tuple[str, ...] = ()

    def __init__(self, n_init: int = 1, max_iter: int = 50, max_fit_genes: int = 50_000) -> None:
        self.n_init = positive_int("n_init", n_init, "1")
        self.max_iter = positive_int("max_iter", max_iter, "50")
        self.max_fit_genes = positive_int("max_fit_genes", max_fit_genes, "50000")

    def _select(self, points: np.ndarray, rows: np.ndarray | None, n: int, batch_size: int,
                rng: np.random.Generator) -> np.ndarray:
        """Indices into the ``n`` points (``points[rows]`` if rows are given) nearest the k-means centres."""
        import numpy as np

        if batch_size == n:
            return np.arange(n)
        # Past max_fit_genes, Lloyd runs on a uniform sample (never smaller than the batch); every gene
        # still competes to be chosen.
        size = max(self.max_fit_genes, batch_size)
        fit = np.sort(rng.choice(n, size, replace=False)) if n > size else None
        sample = take(points, rows if fit is None else (fit if rows is None else rows[fit]))
        centres = kmeans(sample, batch_size, rng, n_init=self.n_init, max_iter=self.max_iter)
        return nearest_distinct(points, centres, rows=rows)

    def _explained(self, chosen: np.ndarray) -> np.ndarray:
        """``chosen`` as it is, after recording which centre chose each gene: ``_select`` answers in centre order
        (with the whole pool as the batch, every gene is its own cluster)."""
        import numpy as np

        self.last_explanation = {"cluster": np.arange(len(chosen))}
        return chosen


class KMeansDataAcquisition(_KMeans):
    """k-means on the descriptors of the available genes; the gene nearest each of b centres (paper eq. 14).

    Centres come from k-means++ seeding and Lloyd iterations, the best of ``n_init`` runs by inertia. The
    paper names no number of runs; gd makes one by default, as scikit-learn's k-means with k-means++ seeding
    does since its version 1.4: three runs were not separable from one over 60 paired runs on three screens
    and cost twice the time (benchmarks/README.md, paired_settings.py). Pools larger than ``max_fit_genes``
    are clustered on a uniform sample of that many genes (drawn with ``rng``), and each centre then takes
    its nearest gene among all available ones. Two centres never take the same gene: centres are served
    closest pair first, and a centre whose nearest gene is taken gets its next nearest free one.
    """

    requires: tuple[str, ...] = ()

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, one per k-means centre of the raw descriptors.

        Sets ``last_explanation["cluster"]``: the index of the centre that chose each gene.
        """
        check_batch_size(batch_size, pool.available)
        return pool.available[self._explained(self._select(pool.X, pool.available, len(pool.available),
                                                           batch_size, rng))]


class KMeansEmbeddingAcquisition(_KMeans):
    """k-means on the model's embedding of the available genes; the gene nearest each centre (paper eq. 14).

    The same as ``kmeans_data`` (see there for the parameters), in the space of ``model.embed``.
    """

    requires: tuple[str, ...] = ("embed",)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, one per k-means centre of the embeddings.

        Sets ``last_explanation["cluster"]``: the index of the centre that chose each gene.
        """
        check_batch_size(batch_size, pool.available)
        embedded = model_rows(model.embed, "embed", pool.X, pool.available)
        return pool.available[self._explained(self._select(embedded, None, len(embedded), batch_size, rng))]


class CoresetAcquisition:
    """Greedy k-center core-set on the model's embedding (Sener & Savarese 2018; paper eq. 8).

    Each step takes the available gene farthest from its nearest neighbour among every gene acquired so far
    and those already chosen for this batch. The reference (genedisco 1.0.5) measured distance to the last
    batch only, so it kept returning to regions covered in earlier cycles. With nothing acquired, the first
    gene is drawn uniformly with ``rng``; ties go to the lower position.
    """

    requires: tuple[str, ...] = ("embed",)

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, in the order greedy k-center picked them."""
        check_batch_size(batch_size, pool.available)
        embedded = model_rows(model.embed, "embed", pool.X, pool.available)
        acquired = model_rows(model.embed, "embed", pool.X, pool.acquired, width=embedded.shape[1])
        return pool.available[greedy_k_center(embedded, acquired, batch_size, rng)]


class BadgeAcquisition:
    """BADGE: k-means++ seeding over gradient embeddings (Ash et al. 2020; paper eq. 2).

    The model's ``gradient_embedding`` gives each gene the last layer's loss gradient at a pseudo-label drawn
    from the likelihood, ŷ ~ N(ĝ(t), σ²) with σ² = 1 (the paper; for a linear output layer a unit normal
    multiple of [h(t), 1]), or with ``pseudo_label="mc_dropout"`` from the model's MC-dropout spread. The
    first gene is the one of largest gradient norm (as in Ash et al.'s code), each next one is drawn with
    probability proportional to its squared distance from the nearest gene chosen so far (D² sampling with
    ``rng``), so a batch is both diverse and, through the gradients' length, drawn to what the model is
    unsure of.

    Args:
        pseudo_label: ``"likelihood"`` (paper eq. 2) or ``"mc_dropout"``; a model offering the second takes
            ``pseudo_label=`` in its ``gradient_embedding``.
    """

    requires: tuple[str, ...] = ("gradient_embedding",)

    def __init__(self, pseudo_label: str = "likelihood") -> None:
        if pseudo_label not in ("likelihood", "mc_dropout"):
            raise BadParameter("pseudo_label", "'likelihood' (the paper) or 'mc_dropout'", pseudo_label)
        self.pseudo_label = pseudo_label

    def check_model(self, model: object) -> None:
        """Refuse, before any fit, a model whose ``gradient_embedding`` cannot take the chosen pseudo-label."""
        if self.pseudo_label != "likelihood":  # the paper's pseudo-label is every model's default
            if "pseudo_label" not in inspect.signature(model.gradient_embedding).parameters:
                raise GdError(f"badge pseudo_label={self.pseudo_label!r} needs a model whose gradient_embedding "
                              "takes pseudo_label=; this model's does not, so use the default 'likelihood'")

    def select(self, pool: Pool, model: object, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` distinct available positions, in the order they were seeded."""
        import numpy as np

        check_batch_size(batch_size, pool.available)
        self.check_model(model)
        method = model.gradient_embedding
        if self.pseudo_label != "likelihood":
            method = functools.partial(method, pseudo_label=self.pseudo_label)
        gradients = model_rows(lambda X: method(X, rng), "gradient_embedding", pool.X, pool.available)
        norms = row_norms(gradients)
        return pool.available[d2_seeding(gradients, batch_size, rng, first=int(np.argmax(norms)), norms=norms)]


# Checks


def model_rows(method: Callable[[np.ndarray], np.ndarray], name: str, X: np.ndarray, rows: np.ndarray,
               width: int | None = None) -> np.ndarray:
    """``method(X[rows])`` as float32 ``[len(rows), width]``, called a block of rows at a time."""
    import numpy as np

    out = np.empty((len(rows), width or 0), dtype=np.float32) if len(rows) == 0 else None
    for start in range(0, len(rows), _ROWS_PER_CALL):
        block = rows[start:start + _ROWS_PER_CALL]
        values = real_numbers(method(X[block]), name, f"[{len(block)}, k]")
        width = values.shape[1] if width is None and values.ndim == 2 else width
        if values.ndim != 2 or values.shape != (len(block), width) or width == 0:
            raise GdError(f"model.{name} returned shape {values.shape} for {len(block)} genes; it must return "
                          f"[{len(block)}, k] with k ≥ 1, the same k on every call")
        refuse_non_finite(values, name)
        if out is None:
            out = np.empty((len(rows), width), dtype=np.float32)
        out[start:start + len(block)] = values
    return out


# Distances


def take(points: np.ndarray, rows: np.ndarray | None, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows ``start:stop`` of ``points[rows]`` (or of ``points``) as float32, copying only that block."""
    import numpy as np

    block = points[start:stop] if rows is None else points[rows[start:stop]]
    return np.asarray(block, dtype=np.float32)


def row_norms(points: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm of each row, accumulated in float64."""
    import numpy as np

    out = np.empty(len(points))
    for start in range(0, len(points), _ROWS_PER_CALL):
        block = np.asarray(points[start:start + _ROWS_PER_CALL], dtype=np.float64)
        out[start:start + len(block)] = np.einsum("ij,ij->i", block, block)
    return out


def squared_distances(A: np.ndarray, B: np.ndarray, B_norms: np.ndarray | None = None) -> np.ndarray:
    """``‖a − b‖²`` for every row of ``A`` against every row of ``B``, float32 ``[len(A), len(B)]``.

    One float64 matrix product, ‖a‖² + ‖b‖² − 2a·b, rounded to float32 (see the module docstring);
    rounding can make it slightly negative, so it is clipped at +0.
    """
    import numpy as np

    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    out = A @ B.T
    out *= -2.0
    out += np.einsum("ij,ij->i", A, A)[:, None]
    out += (np.einsum("ij,ij->i", B, B) if B_norms is None else B_norms.astype(np.float64))[None, :]
    return _rounded(out)


def distances_to(points: np.ndarray, norms: np.ndarray, i: int, rows: np.ndarray | None = None) -> np.ndarray:
    """``‖p − points[i]‖²`` for every row p (or the rows ``rows``): float64 products, rounded to float32 values
    (float64 array). A row's value does not depend on which other rows are asked for (see ``_dot``)."""
    import numpy as np

    target = np.asarray(points[i], dtype=np.float64)
    n = len(points) if rows is None else len(rows)
    products = np.empty(n)
    for start in range(0, n, _ROWS_PER_CALL):
        block = points[start:start + _ROWS_PER_CALL] if rows is None else points[rows[start:start + _ROWS_PER_CALL]]
        products[start:start + _ROWS_PER_CALL] = _dot(block, target)
    own = norms if rows is None else norms[rows]
    return _rounded(own + norms[i] - 2.0 * products).astype(np.float64)


def _dot(rows: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each row's float64 dot product with ``target``, computed row by row as ``row_norms`` computes a norm, so
    a row's product does not depend on the rows beside it (a matrix-vector product's kernel may sum a row
    differently by its place in the block) and a row identical to the target is exactly at distance 0."""
    import numpy as np

    return np.einsum("ij,j->i", np.asarray(rows, dtype=np.float64), target)


def lower_to_distances(nearest: np.ndarray, points: np.ndarray, narrow: np.ndarray, norms: np.ndarray,
                       i: int) -> None:
    """``nearest = min(nearest, distances_to(points, norms, i))`` in place, with the same values.

    Only rows whose distance can fall below ``nearest`` need it: a float32 product (``narrow``, the points
    as float32) with an error bound finds them, and only they get the float64 distance. While most rows
    change (the first few centres), every row is computed as ``distances_to`` does.
    """
    import numpy as np

    products = narrow @ narrow[i]
    # |float32 product − exact product| ≤ γ·‖a‖·‖b‖; a relative 1e-12 of the norms covers the float64
    # arithmetic of the bound itself.
    gamma = _float32_error(points.shape[1])
    radii = np.sqrt(norms)
    low = norms + norms[i] - 2.0 * products - 2.0 * gamma * radii * radii[i] - 1e-12 * (norms + norms[i])
    rows = np.flatnonzero(low < nearest)
    if len(rows) > len(points) // 4:
        np.minimum(nearest, distances_to(points, norms, i), out=nearest)
        return
    nearest[rows] = np.minimum(nearest[rows], distances_to(points, norms, i, rows))


def _float32_error(d: int) -> float:
    """γ with |float32 dot product of two d-vectors − exact| ≤ γ·‖a‖·‖b‖, for any summation order and with room
    for rounding the operands to float32 (2·(d + 8) units of float32's last place): what the float32 screening
    of k-means and the k-centre steps trusts."""
    return 2.0 * (d + 8) * 2.0 ** -24


def _rounded(d2: np.ndarray) -> np.ndarray:
    """Squared distances clipped at +0 and rounded to float32, the precision every gd machine agrees on."""
    import numpy as np

    out = np.maximum(d2, 0.0, out=d2).astype(np.float32)
    out += np.float32(0.0)  # −0.0 becomes +0.0, so the bits of a distance order as its value
    return out


def block_rows(columns: int) -> int:
    """Rows per block of a distance matrix with ``columns`` columns: big enough to keep BLAS busy."""
    return max(1 << 10, min(1 << 16, _BLOCK_CELLS // max(columns, 1)))


def _candidates(points: np.ndarray, rows: np.ndarray | None, queries: np.ndarray, m: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The ``m`` nearest rows to each query, nearest first (equal distances by index): distances, indices.

    Each candidate is one int64 key, the float32 distance's bits (which order as the values, distances being
    non-negative) above the row index, so equal distances go to the lower index whatever order a partition
    algorithm leaves them in (it differs between numpy builds and instruction sets).
    """
    import numpy as np

    n = len(points) if rows is None else len(rows)
    best = np.empty((len(queries), 0), dtype=np.int64)
    step = block_rows(len(queries))
    for start in range(0, n, step):
        d = squared_distances(queries, take(points, rows, start, start + step))
        keys = (d.view(np.int32).astype(np.int64) << 32) | np.arange(start, start + d.shape[1], dtype=np.int64)
        keys = np.concatenate([best, keys], axis=1)
        best = np.partition(keys, m - 1, axis=1)[:, :m] if keys.shape[1] > m else keys
    best = np.sort(best, axis=1)
    return (best >> 32).astype(np.int32).view(np.float32), best & 0xFFFFFFFF


def nearest_rows(points: np.ndarray, queries: np.ndarray, *, rows: np.ndarray | None = None) -> np.ndarray:
    """For each query point, the index of its nearest row of ``points[rows]`` (or ``points``); equal distances
    go to the lower index. Rows may be chosen by several queries."""
    import numpy as np

    return _candidates(points, rows, np.asarray(queries, dtype=np.float32), 1)[1][:, 0]


def nearest_distinct(points: np.ndarray, queries: np.ndarray, *, rows: np.ndarray | None = None,
                     serve: np.ndarray | None = None, candidates: int = 32) -> np.ndarray:
    """For each query point, a different row of ``points[rows]`` (or ``points``): its nearest row still free.

    Queries are served one at a time, in the order ``serve`` (indices into ``queries``) or, by default,
    the query closest to any row first; each takes its nearest row that no earlier query took. So when two
    queries share a nearest row, the closer one keeps it and the other takes its next nearest free row.
    The ``candidates`` nearest rows of every query come from one pass over the rows; a query finding all
    of them taken gets a pass of its own. Returns one row index per query, in query order.
    """
    import numpy as np

    queries = np.asarray(queries, dtype=np.float32)
    n = len(points) if rows is None else len(rows)
    if len(queries) > n:
        raise ValueError(f"{len(queries)} queries cannot each take a different one of {n} rows")
    dist, near = _candidates(points, rows, queries, max(1, min(n, len(queries), candidates)))
    if serve is None:
        serve = np.lexsort((np.arange(len(queries)), dist[:, 0]))
    chosen = np.empty(len(queries), dtype=np.int64)
    taken: set[int] = set()
    for q in serve:  # one iteration per batch slot
        free = [i for i in near[q].tolist() if i not in taken]
        if not free:
            free = [i for i in _candidates(points, rows, queries[q:q + 1], len(taken) + 1)[1][0].tolist()
                    if i not in taken]
        chosen[q] = free[0]
        taken.add(free[0])
    return chosen


# Clustering and seeding


def d2_seeding(points: np.ndarray, k: int, rng: np.random.Generator, *, first: int | None = None,
               norms: np.ndarray | None = None, narrow: np.ndarray | None = None) -> np.ndarray:
    """``k`` distinct row indices by k-means++ seeding (Arthur & Vassilvitskii 2007).

    The first row is ``first`` (default: uniform with ``rng``); each next one is drawn with probability
    proportional to its squared distance to the nearest row chosen so far. Rows identical to chosen ones
    have probability 0; once only such rows remain, the rest are drawn uniformly among the unchosen.
    ``norms`` (the squared row norms) and ``narrow`` (the points as float32) are computed when not given.
    """
    import numpy as np

    n = len(points)
    norms = row_norms(points) if norms is None else norms
    narrow = np.asarray(points, dtype=np.float32) if narrow is None else narrow
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(n) if first is None else first
    is_chosen = np.zeros(n, dtype=bool)
    is_chosen[chosen[0]] = True
    d2 = distances_to(points, norms, int(chosen[0]))
    d2[chosen[0]] = 0.0
    for j in range(1, k):
        cumulative = np.cumsum(d2)
        total = cumulative[-1]
        if total > 0 and math.isfinite(total):
            # The first index whose cumulative weight exceeds u has d2 > 0, so it is never a chosen row.
            i = int(np.searchsorted(cumulative, rng.random() * total, side="right"))
        else:
            unchosen = np.flatnonzero(~is_chosen)
            i = int(unchosen[rng.integers(len(unchosen))])
        chosen[j] = i
        is_chosen[i] = True
        lower_to_distances(d2, points, narrow, norms, i)
        d2[i] = 0.0
    return chosen


def _assign(points: np.ndarray, wide: np.ndarray, centres: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Nearest centre of each point, a block of points at a time.

    The nearest centre maximises the score a·c − ‖c‖²/2, whose float64 value rounded to float32 decides (see
    the module docstring; equal scores go to the lower centre). Computing every score in float64 would cost
    twice a float32 product, so a block is first scored in float32 (``points``), with an error bound per
    point; a point whose best score leads the next by more than twice the bound has the same nearest centre
    in float64, and only the others are scored again in float64 (``wide``, the same points in float64). The
    labels are therefore exactly those of the float64 scores. ``norms``: the points' squared norms.
    """
    import numpy as np

    n, d = points.shape
    labels = np.empty(n, dtype=np.int64)
    centres = np.asarray(centres, dtype=np.float64)
    half_norms = 0.5 * np.einsum("ij,ij->i", centres, centres)
    narrow, narrow_half = centres.astype(np.float32), half_norms.astype(np.float32)
    largest = math.sqrt(2.0 * float(half_norms.max()))
    # |float32 score − float64 score| ≤ γ·(‖a‖·max‖c‖ + max‖c‖²), γ also covering the rounding of the centres,
    # their half norms and the difference; the factor 2 in the test below leaves room for the float32 rounding
    # of the float64 scores, which must not make two of them equal either.
    gamma = _float32_error(d)
    step = block_rows(len(centres))
    for start in range(0, n, step):
        scores = points[start:start + step] @ narrow.T
        scores -= narrow_half
        rows = np.arange(len(scores))
        best = np.argmax(scores, axis=1)
        lead = scores[rows, best].astype(np.float64)
        scores[rows, best] = -np.inf
        lead -= scores.max(axis=1) if scores.shape[1] > 1 else -np.inf
        bound = gamma * (np.sqrt(norms[start:start + len(scores)]) * largest + largest * largest)
        unsure = np.flatnonzero(~(lead > 2.0 * bound))
        if len(unsure):
            exact = (wide[start + unsure] @ centres.T - half_norms).astype(np.float32)
            best[unsure] = np.argmax(exact, axis=1)  # the first of equal scores: the lower centre
        labels[start:start + len(best)] = best
    return labels


def _inertia(wide: np.ndarray, centres: np.ndarray, labels: np.ndarray, norms: np.ndarray) -> float:
    """Sum of the squared distances of the points to their centres: ‖a‖² − 2·(a·c − ‖c‖²/2), the score a float64
    product rounded to float32 as in ``_assign``, each distance clipped at 0."""
    import numpy as np

    centres = np.asarray(centres, dtype=np.float64)
    half_norms = 0.5 * np.einsum("ij,ij->i", centres, centres)
    won = np.empty(len(labels), dtype=np.float32)
    for j in np.unique(labels):  # one centre's members at a time: no [n, d] gather of centres
        members = np.flatnonzero(labels == j)
        won[members] = (wide[members] @ centres[j] - half_norms[j]).astype(np.float32)
    d2 = norms - 2.0 * won
    return float(np.maximum(d2, 0.0, out=d2).sum())


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, *, n_init: int, max_iter: int) -> np.ndarray:
    """Centres ``[k, d]`` of Lloyd's k-means from k-means++ seeds: the lowest-inertia run of ``n_init``.

    ``n_init`` and ``max_iter`` have no defaults here: each caller passes its own parameters (the k-means
    acquisitions default to one run, ``discobax`` to three).

    A run stops when the centres move less than 1e-4 of the mean feature variance (summed squared shift,
    as scikit-learn does), when no point changes cluster, or after ``max_iter`` iterations; a cluster left
    empty keeps its centre. A run's inertia is that of its last assignment. Deterministic given ``rng``.
    """
    import numpy as np
    from scipy import sparse

    points = np.asarray(points, dtype=np.float32)
    # Seeding and the few points whose nearest centre float32 cannot tell apart run in float64 (see the module
    # docstring). Converting the points once gives the same values as converting them at every use, a quarter
    # faster on wide embeddings, for twice the memory of the (at most max_fit_genes) points.
    wide = points.astype(np.float64)
    norms = row_norms(wide)
    tolerance = _KMEANS_TOL * float(np.mean(np.var(points, axis=0, dtype=np.float64)))
    best, best_inertia = None, math.inf
    for _ in range(n_init):
        centres = wide[d2_seeding(wide, k, rng, norms=norms, narrow=points)]
        labels = None
        for _ in range(max_iter):
            new_labels = _assign(points, wide, centres, norms)
            if n_init > 1:  # the last assignment, whose inertia ranks the run
                assigned = (centres.copy(), new_labels)
            if labels is not None and np.array_equal(labels, new_labels):
                break
            labels = new_labels
            counts = np.bincount(labels, minlength=k)
            filled = np.flatnonzero(counts)
            # Cluster sums as a sparse one-hot product: one pass over the points, no per-point Python.
            ones = np.ones(len(points), dtype=np.float32)
            members = sparse.csr_matrix((ones, (labels, np.arange(len(points)))), shape=(k, len(points)))
            moved = (members @ points)[filled] / counts[filled, None]
            shift = float(((moved - centres[filled]) ** 2).sum())
            centres[filled] = moved
            if shift <= tolerance:
                if n_init > 1:
                    assigned = (centres.copy(), _assign(points, wide, centres, norms))
                break
        if n_init == 1:
            return centres.astype(np.float32)  # nothing to rank it against
        inertia = _inertia(wide, *assigned, norms)
        if inertia < best_inertia:
            best, best_inertia = centres, inertia
    return best.astype(np.float32)


def greedy_k_center(embedded: np.ndarray, acquired: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` row indices of ``embedded``, each the row farthest from its nearest acquired or chosen row."""
    import numpy as np

    n = len(embedded)
    norms = row_norms(embedded)
    narrow = np.asarray(embedded, dtype=np.float32)
    nearest = np.full(n, np.inf)
    if len(acquired):
        acquired_norms = row_norms(acquired).astype(np.float32)
        columns = min(len(acquired), 1 << 12)
        step = block_rows(columns)
        for start in range(0, n, step):
            block = embedded[start:start + step]
            for a in range(0, len(acquired), columns):
                d = squared_distances(block, acquired[a:a + columns], acquired_norms[a:a + columns])
                np.minimum(nearest[start:start + len(block)], d.min(axis=1),
                           out=nearest[start:start + len(block)])
    chosen = np.empty(k, dtype=np.int64)
    for j in range(k):
        i = int(rng.integers(n)) if j == 0 and not len(acquired) else int(np.argmax(nearest))
        chosen[j] = i
        lower_to_distances(nearest, embedded, narrow, norms, i)
        nearest[i] = -np.inf  # never again, even if it duplicates an acquired gene
    return chosen
