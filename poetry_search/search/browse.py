"""Reading an index as a reader does: a whole poem, a line's echoes, the values filters take.

    poem = browse.poem(index, "tang/...")
    echoes = browse.echoes(index, text_id, k=10)   # nearest lines by other poets
"""

from __future__ import annotations

from ..corpus.dynasties import dynasty_rank
from .index import Hit, Index


def poem(index: Index, poem_id: str) -> dict:
    """``Index.poem`` (kept for the server's routes)."""
    return index.poem(poem_id)


def echoes(index: Index, text_id: int, k: int = 10) -> list[Hit]:
    """``Index.echoes`` (kept for the server's routes)."""
    return index.echoes(text_id, k=k)


def facets(index: Index) -> dict:
    """Poem counts per dynasty (in time order) and per collection and book."""
    f = index.store.facets()
    f["dynasties"].sort(key=lambda d: dynasty_rank(d["name"]))
    return f
