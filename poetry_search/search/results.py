"""What a search returns (Hit, PoemHit, FindResult), and the one place hits are made from the
store's rows: every mode, find and echoes build them here, so they carry the same fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import UsageProblem


@dataclass
class Hit:
    """One search result: a distinct line, with the metadata of its first (matching) occurrence."""

    rank: int
    score: float | None
    id: int
    text: str
    original: str
    poem_id: str
    title: str
    author: str
    dynasty: str
    collection: str
    book: str
    context: str
    occurrences: int
    match: str = "semantic"  # how it was found: exact (the line is the query), contains, semantic
    popularity: float | None = None  # of the most popular poem containing the line (0-1), None if unranked

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PoemHit:
    """One poem of a grouped result (``poems=True``), with its matching lines."""

    rank: int
    poem_id: str
    title: str
    author: str
    dynasty: str
    collection: str
    book: str
    form: str | None
    score: float | None  # the best score of its lines (None for lexical hits without vectors)
    popularity: float | None
    first_line: str
    lines: list[Hit]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FindResult:
    """A page of ``Index.find``: ``total`` counts every match (lines, or poems when grouped or listed)."""

    total: int
    offset: int
    k: int
    hits: list  # list[Hit] or list[PoemHit]

    def to_dict(self) -> dict:
        return {"total": self.total, "offset": self.offset, "k": self.k, "hits": [h.to_dict() for h in self.hits]}


def check_k(k: int) -> None:
    """Refuse a result count below one."""
    if k < 1:
        raise UsageProblem("-k must be at least 1")


class Results:
    """Turns ranked ids into hits: metadata from the store, popularity from the lexicon.

    ``lexicon`` is a callable (the lexicon is read on first use) and ``has_lexicon`` says whether
    the index has one (an index built before lexical search has no popularity)."""

    def __init__(self, store, lexicon: Callable[[], object], has_lexicon: Callable[[], bool]):
        self.store = store
        self._lexicon = lexicon
        self._has_lexicon = has_lexicon

    def popularity(self, ids) -> dict[int, float | None]:
        ids = sorted({int(i) for i in np.asarray(ids).ravel() if i >= 0})
        if not ids or not self._has_lexicon():
            return {}
        return dict(zip(ids, self._lexicon().text_popularity(ids)))

    @staticmethod
    def hit(rank: int, score: float | None, i: int, m: dict, match: str, popularity: float | None) -> Hit:
        return Hit(rank=rank, score=score, id=i, text=m["text"], original=m["original"], poem_id=m["poem_id"],
                   title=m["title"], author=m["author"], dynasty=m["dynasty"], collection=m["collection"], book=m["book"],
                   context=m["context"], occurrences=m["occurrences"], match=match, popularity=popularity)

    def lines(self, ranked: list[tuple[int, float | None, str]], filters=None, poem_rowids=None,
              start_rank: int = 1) -> list[Hit]:
        """Hits for ``ranked`` (id, score, match) in that order, each with the metadata of its first
        occurrence that passes ``filters`` (a ``Filters``) and lies in ``poem_rowids``."""
        return self.many([ranked], filters, poem_rowids, start_rank)[0]

    def many(self, rankeds: list[list[tuple[int, float | None, str]]], filters=None, poem_rowids=None,
             start_rank: int = 1) -> list[list[Hit]]:
        """``lines`` for several ranked lists, reading the store once for all of them."""
        ids = sorted({i for ranked in rankeds for i, _, _ in ranked})
        args = filters.store_args() if filters is not None else {}
        meta = self.store.hits_metadata(ids, poem_rowids=poem_rowids, **args)
        pops = self.popularity(ids)
        return [[self.hit(start_rank + r, s, i, meta[i], m, pops.get(i)) for r, (i, s, m) in enumerate(ranked)]
                for ranked in rankeds]

    @staticmethod
    def poem(rank: int, m: dict, lines: list[Hit], score: float | None = None) -> PoemHit:
        """A PoemHit from a poem's row (``Store.poems_by_rowid``) and its matching lines."""
        return PoemHit(rank=rank, poem_id=m["poem_id"], title=m["title"], author=m["author"], dynasty=m["dynasty"],
                       collection=m["collection"], book=m["book"], form=m.get("form"), score=score,
                       popularity=m.get("popularity"), first_line=m.get("first_line", ""), lines=lines)

    def group(self, hits: list[Hit], k: int) -> list[PoemHit]:
        """Hits grouped by poem (each hit's own poem), in the order of each poem's best hit; the
        first k poems, each with its lines ranked from 1."""
        groups: dict[str, list[Hit]] = {}
        for h in hits:
            if h.poem_id in groups or len(groups) < k:
                groups.setdefault(h.poem_id, []).append(h)
        rowids = {pid: self.store.poem_rowid(pid) for pid in groups}
        meta = self.store.poems_by_rowid([r for r in rowids.values() if r is not None]) if self.store.has_lexicon else {}
        out = []
        for n, (pid, lines) in enumerate(groups.items()):
            first = lines[0]
            for r, h in enumerate(lines):
                h.rank = r + 1
            scores = [h.score for h in lines if h.score is not None]
            m = {**meta.get(rowids[pid], {}), "poem_id": pid, "title": first.title, "author": first.author,
                 "dynasty": first.dynasty, "collection": first.collection, "book": first.book}
            out.append(self.poem(n + 1, m, lines, max(scores) if scores else None))
        return out

    @staticmethod
    def rerank(hits: list, k: int | None = None, start: int = 1) -> list:
        """The first ``k`` hits, ranked from ``start`` in their order."""
        hits = hits if k is None else hits[:k]
        for r, h in enumerate(hits):
            h.rank = start + r
        return hits
