"""Search by meaning: the nearest lines to query vectors, pre-filtered."""

from __future__ import annotations

import numpy as np

from .results import Hit, Results

# A filtered search on an approximate index scans the allowed vectors exactly when there are at
# most this many: cheaper than a graph walk that must skip most nodes, and it never comes up short.
EXACT_SUBSET_LIMIT = 50_000


class SemanticSearch:
    """Nearest-neighbour search over the index's vectors (``store.vectors.Vectors``)."""

    def __init__(self, vectors, results: Results):
        self.vectors = vectors
        self.results = results

    def nearest(self, q: np.ndarray, k: int, allowed: np.ndarray | None):
        """(scores, ids) of the k nearest lines to each query vector among ``allowed`` (all when
        None). An approximate walk that comes up short of k under a filter is answered again by
        an exact scan of the allowed lines."""
        vec = self.vectors
        if allowed is not None and not vec.exact_type and allowed.size <= EXACT_SUBSET_LIMIT:
            return vec.search_subset(q, k, allowed)
        scores, ids = vec.search(q, k, allowed)
        want = min(k, vec.ntotal if allowed is None else int(allowed.size))
        short = (ids[:, :want] < 0).any(axis=1)
        if allowed is not None and short.any():
            s2, i2 = vec.search_subset(q[short], k, allowed)
            scores[short, :s2.shape[1]], ids[short, :i2.shape[1]] = s2, i2
        return scores, ids

    def search(self, q: np.ndarray, k: int, filters, allowed: np.ndarray | None) -> list[list[Hit]]:
        """The plain nearest-neighbour search (``mode="semantic"``): k hits a query."""
        scores, ids = self.nearest(q, k, allowed)
        return self.results.many([[(int(i), float(s), "semantic") for s, i in zip(row_s, row_i) if i >= 0]
                                  for row_s, row_i in zip(scores, ids)], filters)
