"""The lexical index: a positional posting list per character, kept in SQLite (table ``lexicon``).

For each character of a field (``text``: the normalised distinct lines; ``title``: the folded poem
titles), the sorted keys ``id << shift | position`` of its occurrences. A query reads the posting
lists of its characters only (a few MB at most for the commonest ones) and intersects them with
numpy, position-aligned, so a match is exact by construction: no candidate is verified against
the text afterwards, and ``?`` (one character) and ``*`` (any run) are answered from the same
postings plus the line lengths. Why this and not FTS5 or trigrams: ``docs/lexical.md``.

Written by ``build.lexicon``; ``search.patterns`` parses what users type into a ``Pattern``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

FIELDS = ("text", "title")


@dataclass(frozen=True)
class Pattern:
    """A parsed fragment or pattern. ``segments`` are the runs between ``*``; inside a segment
    ``?`` stands for any one character. A fragment (no wildcard) matches anywhere in a line; a
    pattern with a wildcard matches the whole line, like GLOB (``'?花*'``: 花 second)."""

    raw: str
    segments: tuple[str, ...]
    anchored_start: bool
    anchored_end: bool

    @property
    def fragment(self) -> bool:
        return not self.anchored_start and not self.anchored_end and len(self.segments) == 1

    @property
    def min_length(self) -> int:
        return sum(len(s) for s in self.segments)

    @property
    def literal(self) -> str | None:
        """The fragment itself when there is no wildcard (an exact match is a line equal to it)."""
        return self.segments[0] if self.fragment and "?" not in self.segments[0] else None



class CharIndex:
    """One field's positional postings, read from the store a character at a time."""

    def __init__(self, fetch: Callable[[str], tuple[int, bytes] | None], shift: int, dtype: str, lengths: np.ndarray):
        self._fetch = fetch
        self.shift = shift
        self.mask = (1 << shift) - 1
        self.dtype = np.dtype(dtype)
        self.lengths = lengths.astype(np.int64)
        self.max_length = int(self.lengths.max()) if self.lengths.size else 0
        self._cache: dict[str, np.ndarray] = {}

    def postings(self, char: str) -> np.ndarray:
        got = self._cache.get(char)
        if got is None:
            row = self._fetch(char)
            got = np.frombuffer(row[1], dtype=self.dtype).astype(np.int64) if row else np.empty(0, np.int64)
            if len(self._cache) > 256:  # a bounded cache: the commonest characters stay warm
                self._cache.pop(next(iter(self._cache)))
            self._cache[char] = got
        return got

    def _occurrences(self, seg: str, at_start: bool, at_end: bool) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, start) where ``seg`` ('?' = any char) occurs, sorted by (id, start)."""
        lits = sorted(((j, c) for j, c in enumerate(seg) if c != "?"), key=lambda jc: self.postings(jc[1]).size)
        m = len(seg)
        j0, c0 = lits[0]
        keys = self.postings(c0)
        ids = keys >> self.shift
        start = (keys & self.mask) - j0
        lens = self.lengths[ids]
        ok = (start >= 0) & (start + m <= lens)
        if at_start:
            ok &= start == 0
        if at_end:
            ok &= start + m == lens
        ids, start = ids[ok], start[ok]
        for j, c in lits[1:]:
            if not ids.size:
                break
            p = self.postings(c)
            want = (ids << self.shift) | (start + j)
            at = np.searchsorted(p, want)
            hit = at < p.size
            hit[hit] = p[at[hit]] == want[hit]
            ids, start = ids[hit], start[hit]
        return ids, start

    def match(self, pat: Pattern) -> np.ndarray:
        """Sorted ids of every entry the pattern matches."""
        segs = pat.segments
        if pat.fragment:
            return _sorted_unique(self._occurrences(segs[0], False, False)[0])
        last = len(segs) - 1
        occ = {}
        cand = None
        for i, seg in enumerate(segs):
            if seg.strip("?"):
                occ[i] = self._occurrences(seg, pat.anchored_start and i == 0, pat.anchored_end and i == last)
                u = _sorted_unique(occ[i][0])
                cand = u if cand is None else np.intersect1d(cand, u, assume_unique=True)
        if cand is None or not cand.size:
            return np.empty(0, np.int64)
        lens = self.lengths[cand]
        need = np.zeros(cand.size, np.int64)  # the earliest start the next segment may take
        alive = np.ones(cand.size, bool)
        # Leftmost-first matching of the segments in order is exact for '*'-separated globs: taking
        # each segment at its earliest place leaves the most room for the ones after it.
        for i, seg in enumerate(segs):
            m = len(seg)
            if i in occ:
                ids, start = occ[i]
                want = (cand << self.shift) | np.minimum(need, self.mask)
                at = np.searchsorted((ids << self.shift) | start, want)
                found = at < ids.size
                found[found] = ids[at[found]] == cand[found]
                s = np.where(found, start[np.minimum(at, max(ids.size - 1, 0))] if ids.size else 0, 0)
                ok = found & (s >= need)
            else:  # a run of '?' only
                s = (lens - m) if (pat.anchored_end and i == last) else need.copy()
                ok = s >= need
                if pat.anchored_start and i == 0:
                    ok &= s == 0
            ok &= s + m <= lens
            alive &= ok
            need = np.where(ok, s + m, need)
        if pat.anchored_end:
            alive &= need == lens
        return cand[alive]


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique of an already sorted array, in one pass (np.unique would sort or hash again)."""
    if a.size < 2:
        return a
    return a[np.concatenate(([True], a[1:] != a[:-1]))]


# -- popularity ------------------------------------------------------------------------------



class Lexicon:
    """The lexical side of an open index: postings of lines and titles, per-text popularity."""

    def __init__(self, store):
        self.store = store
        self.fields: dict[str, CharIndex] = {}
        self.popularity: dict[str, np.ndarray] = {}
        for field in FIELDS:
            row = store.lexicon_field(field)
            if row is None:
                continue
            shift, dtypes, size, lengths, popularity = row
            keys_dtype, len_dtype = dtypes.split(":")
            self.fields[field] = CharIndex(lambda c, f=field: store.postings(f, c), shift, keys_dtype,
                                           np.frombuffer(lengths, dtype=len_dtype))
            self.popularity[field] = (np.frombuffer(popularity, dtype=np.float32) if popularity is not None
                                      else np.full(size, np.nan, np.float32))

    def text(self) -> CharIndex:
        return self.fields["text"]

    def order(self, ids: np.ndarray, exact: np.ndarray | None, by_popularity: bool = True,
              field: str = "text", limit: int | None = None) -> np.ndarray:
        """``ids`` in ranking order: exact first (when given), then popularity (unknown last),
        then id (a stable order); only the first ``limit`` when given (a partial sort: a page of
        a 200k-line match costs O(n), not a full sort)."""
        if not ids.size:
            return ids
        id_bits = max(1, int(ids.max()).bit_length())
        key = ids.astype(np.int64)
        if by_popularity:
            pop = self.popularity[field][ids]
            # popularity is stored to 6 decimals: as an integer rank it packs into one sort key
            level = np.where(np.isnan(pop), 0, np.rint(pop.astype(np.float64) * 1e6) + 1).astype(np.int64)
            key |= (1_000_001 - level) << id_bits
        if exact is not None:
            key |= (~exact).astype(np.int64) << (id_bits + 20)
        if limit is not None and limit < key.size:
            part = np.argpartition(key, limit - 1)[:limit] if limit > 0 else np.empty(0, np.int64)
            return ids[part[np.argsort(key[part])]]
        return ids[np.argsort(key)]

    def text_popularity(self, ids: Iterable[int]) -> list[float | None]:
        p = self.popularity["text"]
        return [None if np.isnan(p[i]) else round(float(p[i]), 6) for i in ids]
