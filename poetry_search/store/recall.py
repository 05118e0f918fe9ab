"""Exact nearest neighbours and recall@k: one implementation and one tie rule, used by the build's
depth tuning, the export's check, the blocked method and ``eval``.

The tie rule: a returned neighbour counts as one of the true k best when its exact score reaches
the k-th true score less ``TIE_TOLERANCE``. Lines with equal vectors (lines that differ only in
characters the model does not know) tie exactly, and either is a right answer; the tolerance
absorbs float rounding between two ways of computing one inner product.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

TIE_TOLERANCE = 1e-5
READ_ROWS = 32_768  # stored vectors per sequential read of an exact pass


def merge_top(best_s: np.ndarray, best_i: np.ndarray, scores: np.ndarray, ids: np.ndarray, k: int):
    """Keep the k best of two (rows × ·) candidate sets, in no particular order. ``ids`` is
    broadcast to ``scores``' shape (one row of ids for every query, or one per query)."""
    s = np.concatenate([best_s, scores], axis=1)
    i = np.concatenate([best_i, np.broadcast_to(ids, scores.shape)], axis=1)
    if s.shape[1] <= k:
        return s, i
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    return np.take_along_axis(s, part, 1), np.take_along_axis(i, part, 1)


class TopK:
    """The exact k best (score, id) of each query, fed block by block as the vectors go past."""

    def __init__(self, n_queries: int, k: int):
        self.k = k
        self.s = np.full((n_queries, 0), -np.inf, np.float32)
        self.i = np.full((n_queries, 0), -1, np.int64)

    def add(self, scores: np.ndarray, ids: np.ndarray) -> None:
        self.s, self.i = merge_top(self.s, self.i, scores, ids, self.k)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), best first (ties in id order of arrival)."""
        order = np.argsort(-self.s, axis=1, kind="stable")
        return np.take_along_axis(self.s, order, 1), np.take_along_axis(self.i, order, 1)


def exact_top(vec, q: np.ndarray, k: int, progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` (scores, ids), best first, of query vectors ``q`` over every vector of
    ``vec`` (anything with ``ntotal`` and ``rows(start, count)``), in one sequential pass."""
    top = TopK(len(q), min(k, vec.ntotal))
    for s in range(0, vec.ntotal, READ_ROWS):
        x = vec.rows(s, min(READ_ROWS, vec.ntotal - s))
        top.add(q @ x.T, np.arange(s, s + len(x)))
        if progress:
            progress(len(x))
    return top.result()


def recall_rows(got_s: np.ndarray, truth_s: np.ndarray, k: int, tol: float = TIE_TOLERANCE) -> np.ndarray:
    """recall@k of each row: the share of the true k best that the k neighbours found match,
    where a neighbour counts when its exact score reaches the k-th true score (ties: see above).
    Rows with fewer than k true neighbours count what they have; rows with none are NaN."""
    out = np.full(len(truth_s), np.nan)
    for r, (g, t) in enumerate(zip(got_s, truth_s)):
        t = t[np.isfinite(t)][:k]
        if len(t):
            g = g[np.isfinite(g)][:k]
            out[r] = min(len(t), int((g >= t[-1] - tol).sum())) / len(t)
    return out


def recall_at(got_s: np.ndarray, truth_s: np.ndarray, k: int, tol: float = TIE_TOLERANCE) -> float:
    """Mean recall@k over the rows that have true neighbours (``recall_rows``)."""
    rows = recall_rows(got_s, truth_s, k, tol)
    rows = rows[~np.isnan(rows)]
    return float(rows.mean()) if rows.size else math.nan
