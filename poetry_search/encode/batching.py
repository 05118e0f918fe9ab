"""The batching both encoders share: token sequences grouped by length, so a batch needs no
padding and its mean over all tokens is the reference method's exactly."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def equal_length_batches(ids: Sequence[Sequence[int]], max_lines: int, token_budget: int | None = None) -> Iterator[np.ndarray]:
    """Positions of ``ids`` in batches of one token length each, shortest first: at most
    ``max_lines`` a batch and, with ``token_budget``, at most ``token_budget // length`` (long
    lines go in small batches)."""
    if not len(ids):
        return
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        length = int(lengths[order[start]])
        limit = max_lines if token_budget is None else max(1, min(max_lines, token_budget // max(length, 1)))
        end = start
        while end < len(order) and lengths[order[end]] == length and end - start < limit:
            end += 1
        yield order[start:end]
        start = end
