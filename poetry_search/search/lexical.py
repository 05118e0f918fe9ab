"""Search by the text itself: lines containing a fragment or matching a pattern, and poems by
title or author (``find``), over the index's lexicon (``store.lexicon``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..corpus.normalize import fold
from ..errors import UsageProblem
from ..options import FIND_SORTS
from ..store.lexicon import Pattern
from .filters import Filters
from .patterns import parse_pattern
from .results import FindResult, Results, check_k


class LexicalSearch:
    """Fragments, patterns, titles and authors over one lexicon.

    ``lexicon`` is a callable (the lexicon is read on first use); ``normalize`` turns a pattern's
    literal text into the form lines are stored in."""

    def __init__(self, store, lexicon: Callable[[], object], normalize: Callable[[str], str], results: Results):
        self.store = store
        self._lexicon = lexicon
        self.normalize = normalize
        self.results = results

    def containing(self, text: str, filters: Filters, poem_rowids=None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the lines containing ``text`` (a normalised fragment) that pass the filters, in
        lexical order (exact first, then popularity, then id), and which of them are exact."""
        lex = self._lexicon()
        ids = lex.text().match(Pattern(text, (text,), False, False))
        if ids.size and (filters or poem_rowids is not None):
            ids = np.array(sorted(self.store.filter_texts(ids, poem_rowids=poem_rowids, **filters.store_args())), dtype=np.int64)
        exact = lex.text().lengths[ids] == len(text)
        ordered = lex.order(ids, exact, limit=limit)
        return ordered, lex.text().lengths[ordered] == len(text)

    def find(self, pattern: str | None, filters: Filters, *, title: str | None = None, k: int = 10,
             offset: int = 0, sort: str = "default", poems: bool = False) -> FindResult:
        """See ``Index.find``."""
        check_k(k)
        if offset < 0:
            raise UsageProblem("--offset must be 0 or more")
        sort = "default" if sort == "score" else sort  # a page's one sort menu may say "score"
        if sort not in FIND_SORTS:
            raise UsageProblem(f"unknown sort {sort!r}: use one of {', '.join(FIND_SORTS)}")
        if pattern is None and not (title or filters.author):
            raise UsageProblem("nothing to find: pass a PATTERN (谁先觉, '?花*'), or --title / --author to list poems")
        lex = self._lexicon()
        title_rowids = None
        title_exact = None
        if title:
            tpat = parse_pattern(title, fold, "title")
            tidx = lex.fields["title"]
            title_rowids = tidx.match(tpat)
            if tpat.literal:
                title_exact = tidx.lengths[title_rowids] == len(tpat.literal)
        if pattern is None:
            return self._list_poems(filters, title_rowids, title_exact, k, offset, sort)
        pat = parse_pattern(pattern, self.normalize)
        tindex = lex.text()
        if pat.min_length > tindex.max_length:
            shown = pattern if len(pattern) <= 20 else pattern[:20] + "…"
            raise UsageProblem(f"the pattern {shown!r} ({pat.min_length} characters) is longer than any line of this index "
                               f"(the longest has {tindex.max_length}): shorten it")
        ids = tindex.match(pat)
        if ids.size and (filters or title_rowids is not None):
            ids = np.array(sorted(self.store.filter_texts(ids, poem_rowids=title_rowids, **filters.store_args())), dtype=np.int64)
        exact = (tindex.lengths[ids] == len(pat.literal)) if pat.literal else np.zeros(ids.size, bool)
        exact_ids = set(ids[exact].tolist())
        if not poems:
            ordered = lex.order(ids, exact if sort == "default" else None, limit=offset + k)
            page = ordered[offset:offset + k].tolist()
            hits = self.results.lines([(i, None, "exact" if i in exact_ids else "contains") for i in page], filters,
                                      poem_rowids=title_rowids, start_rank=offset + 1)
            return FindResult(total=int(ids.size), offset=offset, k=k, hits=hits)
        ordered = lex.order(ids, exact if sort == "default" else None)
        return self._find_poems(ordered, exact_ids, filters, title_rowids, k, offset, sort)

    def _list_poems(self, filters: Filters, title_rowids, title_exact, k, offset, sort) -> FindResult:
        lex = self._lexicon()
        rows = self.store.poem_rowids(within=title_rowids, **filters.store_args()) if (filters or title_rowids is None) \
            else [(int(r), None) for r in title_rowids]
        rowids = np.array(sorted(r[0] for r in rows), dtype=np.int64)
        exact = None
        if title_exact is not None and sort == "default":
            exact = np.isin(rowids, title_rowids[title_exact])
        ordered = lex.order(rowids, exact, field="title", limit=offset + k)
        page = ordered[offset:offset + k].tolist()
        meta = self.store.poems_by_rowid(page)
        hits = [self.results.poem(offset + n + 1, meta[r], []) for n, r in enumerate(page)]
        return FindResult(total=int(rowids.size), offset=offset, k=k, hits=hits)

    def _find_poems(self, ordered, exact_ids, filters: Filters, title_rowids, k, offset, sort) -> FindResult:
        lex = self._lexicon()
        line_rank = {int(i): r for r, i in enumerate(ordered.tolist())}
        occ = self.store.text_occurrences(ordered, poem_rowids=title_rowids, **filters.store_args())
        best: dict[int, int] = {}
        lines_of: dict[int, list[tuple[int, int]]] = {}
        for text_id, rowid, _pid, position in occ:
            r = line_rank[text_id]
            best[rowid] = min(best.get(rowid, r), r)
            lines_of.setdefault(rowid, []).append((position, text_id))
        rowids = np.array(sorted(best), dtype=np.int64)
        pop = lex.popularity["title"][rowids].astype(np.float64)
        pop = np.where(np.isnan(pop), -1.0, pop)
        first = np.array([best[int(r)] for r in rowids], dtype=np.int64)
        order = np.lexsort((rowids, -pop, first)) if sort == "default" else np.lexsort((rowids, first, -pop))
        page = rowids[order][offset:offset + k].tolist()
        meta = self.store.poems_by_rowid(page)
        texts = sorted({t for r in page for _, t in lines_of[r]})
        lines = dict(zip(texts, self.results.lines([(t, None, "exact" if t in exact_ids else "contains") for t in texts],
                                                   filters, poem_rowids=title_rowids)))
        out = []
        for n, rowid in enumerate(page):
            m = meta[rowid]
            hits = []
            for position, t in sorted(lines_of[rowid]):
                h = replace(lines[t], rank=len(hits) + 1)
                # this poem's own occurrence of the line, not the first one in the corpus
                h.poem_id, h.title, h.author, h.dynasty = m["poem_id"], m["title"], m["author"], m["dynasty"]
                h.collection, h.book = m["collection"], m["book"]
                hits.append(h)
            out.append(self.results.poem(offset + n + 1, m, hits))
        return FindResult(total=int(rowids.size), offset=offset, k=k, hits=out)

