"""Reading an index as a reader does: a whole poem, a line's echoes, the values filters take.

    poem = browse.poem(index, "tang/...")
    echoes = browse.echoes(index, text_id, k=10)   # nearest lines by other poets
"""

from __future__ import annotations

import numpy as np

from .chronology import dynasty_rank
from .errors import UsageProblem
from .search import Hit, Index


def poem(index: Index, poem_id: str) -> dict:
    """The poem ``poem_id``: its metadata, ``paragraphs`` (the original text) and ``lines``
    (``position, paragraph, original, text, text_id``); PoemNotFoundError when there is none."""
    from . import errors

    found = index.store.poem(poem_id)
    if found is None:
        raise errors.PoemNotFoundError(f"no poem has id {poem_id!r}: take ids from a hit's poem_id")
    return found


def echoes(index: Index, text_id: int, k: int = 10) -> list[Hit]:
    """The ``k`` nearest lines to line ``text_id`` by other authors (``export --exclude author``),
    best score first."""
    if k < 1:
        raise UsageProblem("-k must be at least 1")
    n = len(index)
    if not 0 <= text_id < n:
        raise UsageProblem(f"no line has id {text_id}: ids run from 0 to {n - 1}")
    qids = np.array([text_id], dtype=np.int64)
    scores, nbrs = index.bulk.nearest(index.vectors.rows(text_id, 1), qids, k, exclude="author")
    found = [(float(s), int(i)) for s, i in zip(scores[0], nbrs[0]) if i >= 0]
    meta = index.store.hits_metadata(sorted(i for _, i in found))
    return [Hit(rank=r + 1, score=s, id=i, **{f: meta[i][f] for f in _HIT_META}) for r, (s, i) in enumerate(found)]


_HIT_META = ("text", "original", "poem_id", "title", "author", "dynasty", "collection", "book", "context", "occurrences")


def facets(index: Index) -> dict:
    """Poem counts per dynasty (in time order) and per collection and book."""
    f = index.store.facets()
    f["dynasties"].sort(key=lambda d: dynasty_rank(d["name"]))
    return f
