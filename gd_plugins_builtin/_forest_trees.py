"""Compiled kernels of the random forest's own backend: exhaustive CART regression trees, grown and evaluated.

One tree is grown as scikit-learn's ``DecisionTreeRegressor`` grows it with the bootstrap counts as sample
weights (the way its ``RandomForestRegressor`` bootstraps): every feature is a split candidate at every node,
each split point between two neighbouring distinct values of a feature among the node's in-bag rows is tried,
the weighted MSE reduction picks the split (the same proxy, ``S_l²/W_l + S_r²/W_r``), the threshold is the
midpoint ``a/2 + b/2`` of the two values (in float64, of float32 features), values closer than 1e-7 count as
equal, a node is a leaf when it holds fewer than 2 in-bag rows or ``2·min_leaf``, when its weighted variance
is at most float64's epsilon, when no feature varies in it or at ``max_depth``; a leaf predicts the weighted
mean. Ties between equally good features go to a feature drawn at random per node, as scikit-learn's random
feature order does; only the random numbers differ, so a tree is the same up to those ties.

What differs is the cost. Every feature's order is sorted once per forest (``sorted_columns``); a tree keeps
each feature's in-bag rows in that order and splits a node by partitioning every feature's segment stably,
so no node ever sorts: O(features × rows) per tree level, against scikit-learn's sort at every node.

The kernels release the GIL (``nogil``), so threads grow and evaluate trees in parallel; each tree depends
only on its inputs, never on which thread ran it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# scikit-learn's tolerances: feature values closer than this are one value; a node this pure is a leaf.
_SAME_VALUE = np.float32(1e-7)
_PURE = float(np.finfo(np.float64).eps)


def sorted_columns(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, the rows in increasing order of that feature and the sorted values: ``[features, rows]``."""
    columns = np.ascontiguousarray(X.T)
    order = np.argsort(columns, axis=1, kind="stable").astype(np.int32)
    return order, np.take_along_axis(columns, order, axis=1)


@njit(nogil=True, cache=True)
def _weighted_sums(order, start, stop, w, wy, y):
    """Σw, Σwy and Σwy² over the rows ``order[start:stop]``, in that order."""
    sw = 0.0
    swy = 0.0
    swyy = 0.0
    for p in range(start, stop):
        r = order[p]
        sw += w[r]
        swy += wy[r]
        swyy += wy[r] * y[r]
    return sw, swy, swyy


@njit(nogil=True, cache=True)
def _next_random(state):
    # xorshift64*: a small generator of our own, so a tree's tie-breaks depend on its seed alone.
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return x * np.uint64(0x2545F4914F6CDD1D)


@njit(nogil=True, cache=True)
def grow_tree(order, sorted_values, y, counts, min_leaf, max_depth, seed):
    """One tree on the rows with ``counts > 0``, each weighing its count.

    ``order`` and ``sorted_values`` come from ``sorted_columns`` on the float32 training features, ``y`` is
    float64. Returns the node arrays ``(feature, threshold, left, right, value)``; ``feature`` is -1 at a
    leaf. Node 0 is the root.
    """
    n_features, n = order.shape
    m = 0
    for r in range(n):
        if counts[r] > 0:
            m += 1
    # Each feature's in-bag rows and values in increasing order; a node owns the same segment in every row.
    rows = np.empty((n_features, m), np.int32)
    values = np.empty((n_features, m), np.float32)
    for f in range(n_features):
        k = 0
        for p in range(n):
            r = order[f, p]
            if k < m:  # branch-free: write every row, keep it by advancing only for in-bag ones
                rows[f, k] = r
                values[f, k] = sorted_values[f, p]
            k += counts[r] > 0
    w = counts.astype(np.float64)
    wy = w * y

    capacity = 2 * m  # a binary tree with at most m leaves has fewer than 2m nodes
    feature = np.full(capacity, -1, np.int32)
    threshold = np.zeros(capacity, np.float64)
    left = np.full(capacity, -1, np.int32)
    right = np.full(capacity, -1, np.int32)
    value = np.zeros(capacity, np.float64)
    # Depth-first stack of nodes to split: segment, depth, node id and the node's weighted sums.
    st_start = np.empty(capacity, np.int64)
    st_end = np.empty(capacity, np.int64)
    st_depth = np.empty(capacity, np.int64)
    st_node = np.empty(capacity, np.int64)
    st_w = np.empty(capacity, np.float64)
    st_wy = np.empty(capacity, np.float64)
    st_wyy = np.empty(capacity, np.float64)

    candidates = np.arange(n_features)
    mark = np.zeros(n, np.int64)  # mark[r] == stamp: row r goes left at the split being made
    stamp = 0
    spare_rows = np.empty(m, np.int32)
    spare_values = np.empty(m, np.float32)
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed) | np.uint64(1)  # xorshift's state must not be 0

    total_w = 0.0
    total_wy = 0.0
    total_wyy = 0.0
    for p in range(m):
        r = rows[0, p]
        total_w += w[r]
        total_wy += wy[r]
        total_wyy += wy[r] * y[r]
    st_start[0], st_end[0], st_depth[0], st_node[0] = 0, m, 0, 0
    st_w[0], st_wy[0], st_wyy[0] = total_w, total_wy, total_wyy
    top = 1
    n_nodes = 1

    while top > 0:
        top -= 1
        s, e, depth, node = st_start[top], st_end[top], st_depth[top], st_node[top]
        ws, sy, syy = st_w[top], st_wy[top], st_wyy[top]
        value[node] = sy / ws
        size = e - s
        if size < 2 or size < 2 * min_leaf or depth >= max_depth:
            continue
        mean = sy / ws
        if syy / ws - mean * mean <= _PURE:
            continue

        best = -np.inf
        best_feature = -1
        best_pos = -1
        best_threshold = 0.0
        for i in range(n_features - 1, 0, -1):  # a fresh random feature order breaks ties between features
            j = np.int64(_next_random(state) >> np.uint64(11)) % (i + 1)
            candidates[i], candidates[j] = candidates[j], candidates[i]
        for i in range(n_features):
            f = candidates[i]
            if values[f, e - 1] <= values[f, s] + _SAME_VALUE:
                continue  # constant in this node
            wl = 0.0
            sl = 0.0
            for p in range(s, e - 1):
                r = rows[f, p]
                wl += w[r]
                sl += wy[r]
                if values[f, p + 1] <= values[f, p] + _SAME_VALUE:
                    continue
                n_left = p + 1 - s
                if n_left < min_leaf or size - n_left < min_leaf:
                    continue
                sr = sy - sl
                wr = ws - wl
                # S_l²/W_l + S_r²/W_r > best, multiplied out: a division only when a split beats the best.
                if sl * sl * wr + sr * sr * wl > best * (wl * wr):
                    best = sl * sl / wl + sr * sr / wr
                    best_feature = f
                    best_pos = p + 1
                    best_threshold = np.float64(values[f, p]) / 2.0 + np.float64(values[f, p + 1]) / 2.0
        if best_feature < 0:
            continue

        # Split every feature's segment stably into the left rows, then the right ones. A feature constant in
        # the node is left as it is: any sub-segment of it is still sorted and still constant.
        stamp += 1
        for p in range(s, best_pos):
            mark[rows[best_feature, p]] = stamp
        for f in range(n_features):
            if f == best_feature or values[f, e - 1] <= values[f, s] + _SAME_VALUE:
                continue
            k = s
            t = 0
            for p in range(s, e):  # without branches: a row's side is a coin toss to the processor
                r = rows[f, p]
                v = values[f, p]
                goes_left = mark[r] == stamp
                rows[f, k] = r
                values[f, k] = v
                spare_rows[t] = r
                spare_values[t] = v
                k += goes_left
                t += 1 - goes_left
            for q in range(t):
                rows[f, k + q] = spare_rows[q]
                values[f, k + q] = spare_values[q]

        lw, lwy, lwyy = _weighted_sums(rows[best_feature], s, best_pos, w, wy, y)
        rw, rwy, rwyy = _weighted_sums(rows[best_feature], best_pos, e, w, wy, y)
        feature[node] = best_feature
        threshold[node] = best_threshold
        left[node] = n_nodes
        right[node] = n_nodes + 1
        st_start[top], st_end[top], st_depth[top], st_node[top] = best_pos, e, depth + 1, n_nodes + 1
        st_w[top], st_wy[top], st_wyy[top] = rw, rwy, rwyy
        top += 1
        st_start[top], st_end[top], st_depth[top], st_node[top] = s, best_pos, depth + 1, n_nodes
        st_w[top], st_wy[top], st_wyy[top] = lw, lwy, lwyy
        top += 1
        n_nodes += 2

    return (feature[:n_nodes].copy(), threshold[:n_nodes].copy(), left[:n_nodes].copy(),
            right[:n_nodes].copy(), value[:n_nodes].copy())


@njit(nogil=True, cache=True)
def predict_trees(X, roots, feature, threshold, left, right, value, out):
    """``out[k, i]``: the leaf value that tree ``roots[k]`` gives row ``i`` of float32 ``X``.

    A row goes left when its value is at most the threshold, as in scikit-learn.
    """
    for k in range(len(roots)):
        for i in range(X.shape[0]):
            node = roots[k]
            while feature[node] >= 0:
                if np.float64(X[i, feature[node]]) <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            out[k, i] = value[node]
