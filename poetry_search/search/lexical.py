"""Search by the text itself: lines containing a fragment or matching a pattern, and poems by
title or author (``find``), over the index's lexicon (``store.lexicon``). Lines are matched by
their key (``corpus.variants.match_key``: 守着 finds 守著); a fragment that no line holds is
looked up across the punctuation of paragraphs, then among the lines one edit from it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..build.lexicon import NEAR_NAME
from ..corpus.normalize import fold
from ..corpus.variants import match_key
from ..errors import UsageProblem
from ..options import FIND_SORTS
from ..store.lexicon import CharIndex, Pattern
from ..store.near import MIN_LENGTH, NearIndex
from .filters import Filters
from .patterns import parse_pattern
from .results import FindResult, Results, check_k


#: Filters whose lines are kept as a mask over the texts (one byte a text: 3 MB on the whole corpus).
FILTER_MASKS = 8
#: A candidate set smaller than this is checked against the filters in SQL, one candidate at a time.
MASK_MIN_CANDIDATES = 2_000
#: Checking one candidate's occurrences costs about this many times reading one of a filter's lines.
CHECK_COST = 4


class LexicalSearch:
    """Fragments, patterns, titles and authors over one lexicon.

    ``lexicon`` is a callable (the lexicon is read on first use); ``normalize`` turns a pattern's
    literal text into the form lines are stored in (then keyed, like the lines)."""

    def __init__(self, store, lexicon: Callable[[], object], normalize: Callable[[str], str], results: Results):
        self.store = store
        self._lexicon = lexicon
        self.normalize = normalize
        self.results = results
        self._paragraphs: CharIndex | None | bool = False  # False: not read yet
        self._near: NearIndex | None | bool = False
        self._masks: OrderedDict[tuple, np.ndarray] = OrderedDict()  # filters -> which texts pass them
        self._seen: OrderedDict[tuple, bool] = OrderedDict()  # filters searched over many candidates
        self._masks_lock = threading.Lock()
        self._lines_per_poem: float | None = None

    def filtered(self, ids: np.ndarray, filters: Filters, poem_rowids=None) -> np.ndarray:
        """The sorted ids among ``ids`` with an occurrence in a poem that passes ``filters`` (and
        is one of ``poem_rowids``). A large candidate set is tested against a mask of the texts
        the filters allow, read once (when reading it is cheaper than checking each candidate)
        and kept for the next search with the same filters; a small one is checked in SQL."""
        if not ids.size or (not filters and poem_rowids is None):
            return ids
        if poem_rowids is None and filters:
            mask = self._mask(filters, ids.size)
            if mask is not None:
                return np.sort(ids[mask[ids]])
        return np.array(sorted(self.store.filter_texts(ids, poem_rowids=poem_rowids, **filters.store_args())), dtype=np.int64)

    def _mask(self, filters: Filters, candidates: int) -> np.ndarray | None:
        args = filters.store_args()
        key = tuple(sorted(args.items()))
        with self._masks_lock:
            mask = self._masks.get(key)
            if mask is not None:
                self._masks.move_to_end(key)
                return mask
        if candidates < MASK_MIN_CANDIDATES:
            return None
        if self._lines_per_poem is None:
            self._lines_per_poem = self.store.count("lines") / max(1, self.store.count("poems"))
        # worth reading at once when cheaper than checking the candidates; else on the filter's
        # second search over many candidates (it is kept for the next ones)
        with self._masks_lock:
            seen = key in self._seen
            self._seen[key] = True
            self._seen.move_to_end(key)
            while len(self._seen) > 4 * FILTER_MASKS:
                self._seen.popitem(last=False)
        if not seen and self.store.count_poems(**args) * self._lines_per_poem > CHECK_COST * candidates:
            return None
        mask = np.zeros(self._lexicon().text().lengths.size, bool)
        mask[np.fromiter(self.store.text_ids(**args, distinct=False), dtype=np.int64)] = True
        with self._masks_lock:
            self._masks[key] = mask
            while len(self._masks) > FILTER_MASKS:
                self._masks.popitem(last=False)
        return mask

    def key(self, literal: str) -> str:
        """A literal as lines are matched: normalised, then its variant key."""
        return match_key(self.normalize(literal))

    def containing(self, text: str, filters: Filters, poem_rowids=None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the lines containing ``text`` (a normalised fragment) that pass the filters, in
        lexical order (exact first, then popularity, then id), and which of them are exact."""
        lex = self._lexicon()
        key = match_key(text)
        ids = self.filtered(lex.text().match(Pattern(key, (key,), False, False)), filters, poem_rowids)
        exact = lex.text().lengths[ids] == len(text)
        ordered = lex.order(ids, exact, limit=limit)
        return ordered, lex.text().lengths[ordered] == len(text)

    def paragraph_index(self) -> CharIndex | None:
        """The postings of paragraphs of two lines or more (None in an index built without)."""
        if self._paragraphs is False:
            row = self.store.lexicon_field("paragraph")
            if row is None:
                self._paragraphs = None
            else:
                shift, dtypes, _size, lengths, _pop = row
                keys_dtype, len_dtype = dtypes.split(":")
                self._paragraphs = CharIndex(lambda c: self.store.postings("paragraph", c), shift, keys_dtype,
                                             np.frombuffer(lengths, dtype=len_dtype))
        return self._paragraphs

    def near_index(self) -> NearIndex | None:
        """The near-match index saved beside the database (None in an index built without)."""
        if self._near is False:
            path = Path(self.store.path).parent / NEAR_NAME
            self._near = NearIndex.load(path) if path.exists() else None
        return self._near

    def across(self, text: str, filters: Filters, poem_rowids=None, limit: int | None = None) -> tuple[list[int], dict[int, list[int]]]:
        """Paragraphs that hold ``text`` (normalised) across their punctuation, as their first
        lines, most citable first, and for each such line the poem rowids whose paragraph matched."""
        field = self.paragraph_index()
        key = match_key(text)
        if field is None or not key or len(key) > field.max_length:
            return [], {}
        pids = field.match(Pattern(key, (key,), False, False))
        if not pids.size:
            return [], {}
        scopes: dict[int, list[int]] = {}
        for tid, rowid, _rank in self.store.paragraph_lines(pids, poem_rowids=poem_rowids, **filters.store_args()):
            scopes.setdefault(tid, []).append(rowid)
        order = list(scopes)[:limit] if limit is not None else list(scopes)
        return order, {t: scopes[t] for t in order}

    def near(self, text: str, filters: Filters, poem_rowids=None, limit: int | None = None) -> np.ndarray:
        """Lines one edit from ``text`` (normalised; ``MIN_LENGTH`` characters or more) that
        pass the filters, in lexical order (popularity, then id); where there are none, the lines
        with two neighbouring characters swapped (``NearIndex.transposed``), then those two
        replacements away in one half (``NearIndex.two_replaced``). A text one character shorter
        than ``MIN_LENGTH`` is answered only by the lines that hold it with one character more
        (``NearIndex.left_out``): a replacement in four characters is most often another line."""
        near = self.near_index() if len(text) >= MIN_LENGTH - 1 else None
        if near is None:
            return np.empty(0, np.int64)
        key = match_key(text)
        if len(key) < MIN_LENGTH:
            ids = self.filtered(near.left_out(key), filters, poem_rowids)
            return self._lexicon().order(ids, None, limit=limit)
        ids = self.filtered(near.near(key), filters, poem_rowids)
        if not ids.size:  # two characters the other way round
            ids = self.filtered(near.transposed(key), filters, poem_rowids)
        if not ids.size:  # a word spelled otherwise: two replacements in one half (long lines only)
            ids = self.filtered(near.two_replaced(key), filters, poem_rowids)
        return self._lexicon().order(ids, None, limit=limit)

    def fallback(self, text: str, filters: Filters, poem_rowids=None,
                 limit: int | None = None) -> tuple[list[tuple[int, str]], dict[int, list[int]]]:
        """For a fragment no line holds: the paragraphs that hold it (``paragraph``), else the
        lines one edit away (``near``), as (id, match), with the paragraphs' poems."""
        ids, scopes = self.across(text, filters, poem_rowids, limit)
        if ids:
            return [(i, "paragraph") for i in ids], scopes
        return [(int(i), "near") for i in self.near(text, filters, poem_rowids, limit)], {}

    def find(self, pattern: str | None, filters: Filters, *, title: str | None = None, k: int = 10,
             offset: int = 0, sort: str = "default", poems: bool = False, among: np.ndarray | None = None) -> FindResult:
        """See ``Index.find``. ``among``: the sorted ids lines must be among (found by tones or
        rhyme, ``search.prosody``), alone or with a pattern."""
        check_k(k)
        if offset < 0:
            raise UsageProblem("--offset must be 0 or more")
        sort = "default" if sort == "score" else sort  # a page's one sort menu may say "score"
        if sort not in FIND_SORTS:
            raise UsageProblem(f"unknown sort {sort!r}: use one of {', '.join(FIND_SORTS)}")
        if pattern is None and among is None and not (title or filters.author):
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
        if pattern is None and among is None:
            return self._list_poems(filters, title_rowids, title_exact, k, offset, sort)
        tindex = lex.text()
        if pattern is None:
            pat, ids = None, among
        else:
            pat = parse_pattern(pattern, self.key)
            if pat.min_length > tindex.max_length:
                shown = pattern if len(pattern) <= 20 else pattern[:20] + "…"
                raise UsageProblem(f"the pattern {shown!r} ({pat.min_length} characters) is longer than any line of this index "
                                   f"(the longest has {tindex.max_length}): shorten it")
            ids = tindex.match(pat)
            if among is not None:
                ids = np.intersect1d(ids, among, assume_unique=True)
        ids = self.filtered(ids, filters, title_rowids)
        exact = (tindex.lengths[ids] == len(pat.literal)) if pat is not None and pat.literal else np.zeros(ids.size, bool)
        exact_ids = set(ids[exact].tolist())
        if not ids.size and pat is not None and pat.literal and among is None:
            return self._find_fallback(pat.literal, filters, title_rowids, k, offset, sort, poems)
        other = "contains" if pat is not None else "tones"
        if not poems:
            ordered = lex.order(ids, exact if sort == "default" else None, limit=offset + k)
            page = ordered[offset:offset + k].tolist()
            hits = self.results.lines([(i, None, "exact" if i in exact_ids else other) for i in page], filters,
                                      poem_rowids=title_rowids, start_rank=offset + 1)
            return FindResult(total=int(ids.size), offset=offset, k=k, hits=hits)
        ordered = lex.order(ids, exact if sort == "default" else None)
        return self._find_poems(ordered, exact_ids, filters, title_rowids, k, offset, sort, kind=None if pat is not None else "tones")

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

    def _find_fallback(self, literal: str, filters: Filters, title_rowids, k, offset, sort, poems) -> FindResult:
        """``find`` of a fragment no line holds: its paragraphs, else its near lines."""
        found, scopes = self.fallback(literal, filters, title_rowids)
        if poems:
            ordered = np.array([i for i, _ in found], dtype=np.int64)
            within = title_rowids
            if scopes:
                within = np.array(sorted({r for rs in scopes.values() for r in rs}), dtype=np.int64)
            kind = found[0][1] if found else None
            return self._find_poems(ordered, set(), filters, within, k, offset, sort, kind=kind)
        if sort != "default":
            order = self._lexicon().order(np.array([i for i, _ in found], dtype=np.int64), None)
            match = dict(found)
            found = [(int(i), match[int(i)]) for i in order]
        page = found[offset:offset + k]
        hits = self.results.scoped([(i, None, m) for i, m in page], filters,
                                   {i: scopes[i] for i, _ in page if i in scopes} or None, start_rank=offset + 1)
        return FindResult(total=len(found), offset=offset, k=k, hits=hits)

    def _find_poems(self, ordered, exact_ids, filters: Filters, title_rowids, k, offset, sort,
                    kind: str | None = None) -> FindResult:
        """Poems holding the lines ``ordered``, by their best line, then (default sort) the cite
        rank of their occurrence of it; ``kind``: every line's match (else exact or contains)."""
        lex = self._lexicon()
        line_rank = {int(i): r for r, i in enumerate(ordered.tolist())}
        occ = self.store.text_occurrences(ordered, poem_rowids=title_rowids, **filters.store_args())
        best: dict[int, tuple[int, int]] = {}
        lines_of: dict[int, list[tuple[int, int]]] = {}
        for text_id, rowid, _pid, position, cite in occ:
            r = (line_rank[text_id], cite if cite is not None else 0)
            best[rowid] = min(best.get(rowid, r), r)
            lines_of.setdefault(rowid, []).append((position, text_id))
        rowids = np.array(sorted(best), dtype=np.int64)
        pop = lex.popularity["title"][rowids].astype(np.float64)
        pop = np.where(np.isnan(pop), -1.0, pop)
        first = np.array([best[int(r)][0] for r in rowids], dtype=np.int64)
        cite = np.array([best[int(r)][1] for r in rowids], dtype=np.int64)
        order = np.lexsort((rowids, cite, first)) if sort == "default" else np.lexsort((rowids, first, -pop))
        page = rowids[order][offset:offset + k].tolist()
        meta = self.store.poems_by_rowid(page)
        texts = sorted({t for r in page for _, t in lines_of[r]})
        lines = dict(zip(texts, self.results.lines([(t, None, kind or ("exact" if t in exact_ids else "contains")) for t in texts],
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

