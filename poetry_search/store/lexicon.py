"""Lexical search: fragments and patterns over every distinct line, titles, popularity.

The lexical index is a positional posting list per character, kept in SQLite (table ``lexicon``):
for each character of a field (``text``: the normalised distinct lines; ``title``: the folded
poem titles), the sorted keys ``id << shift | position`` of its occurrences. A query reads the
posting lists of its characters only (a few MB at most for the commonest ones) and intersects
them with numpy, position-aligned, so a match is exact by construction: no candidate is verified
against the text afterwards, and ``?`` (one character) and ``*`` (any run) are answered from the
same postings plus the line lengths. Why this and not FTS5 or trigrams: see the README
("Lexical search"), with the measurements.

Popularity comes from the dataset's ``rank/`` folder (search-engine hit counts): see
``read_popularity``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageProblem

log = logging.getLogger("poetry_search")

WILD_ONE = "?？"
WILD_ANY = "*＊"
ENGINES = ("baidu", "so360", "bing", "bing_en", "google")
FIELDS = ("text", "title")
# The forms the corpus gives as tags (唐诗三百首) rather than as a field (ci-pai, 蒙学 types).
FORM_TAGS = ("五言绝句", "七言绝句", "五言律诗", "七言律诗", "五言排律", "七言排律", "五言古诗", "七言古诗", "乐府")


# -- patterns --------------------------------------------------------------------------------


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


def parse_pattern(raw: str | None, fold_literal: Callable[[str], str], what: str = "pattern") -> Pattern:
    """Parse ``raw``; ``fold_literal`` normalises each literal run exactly like the indexed text
    (script folding, punctuation dropped), so 誰先覺 finds 谁先觉."""
    if raw is None or not raw.strip():
        raise UsageProblem(f"the {what} is empty: pass a fragment such as 谁先觉, or a pattern such as '?花*' "
                           "(? one character, * any run)")
    s = raw.strip()
    for c in WILD_ONE[1:]:
        s = s.replace(c, "?")
    for c in WILD_ANY[1:]:
        s = s.replace(c, "*")
    if "*" not in s and "?" not in s:
        lit = fold_literal(s)
        if not lit:
            raise UsageProblem(f"the {what} {raw!r} has no characters to search once punctuation is removed: pass some characters")
        return Pattern(raw, (lit,), False, False)
    segments = []
    for part in s.split("*"):
        # literal runs are folded one by one; the wildcards between them stay where they are
        seg = "?".join(fold_literal(run) if run else "" for run in part.split("?"))
        if seg:
            segments.append(seg)
    if not any(c != "?" for seg in segments for c in seg):
        raise UsageProblem(f"the {what} {raw!r} has no literal character: add at least one, e.g. '?花*' "
                           "(matching on wildcards alone would list every line)")
    return Pattern(raw, tuple(segments), not s.startswith("*"), not s.endswith("*"))


# -- the index -------------------------------------------------------------------------------


def _shift_for(max_len: int) -> int:
    return max(1, int(max_len).bit_length())


def build_field(ids: np.ndarray, strings: Sequence[str], size: int):
    """Positional postings of ``strings`` (``strings[i]`` belongs to ``ids[i]``).

    Returns (shift, dtype name, lengths indexed by id (size ``size``), iterator of
    (char, count of distinct ids, keys as bytes)). One numpy sort over all characters."""
    ids = np.asarray(ids, dtype=np.int64)
    lens = np.fromiter((len(s) for s in strings), np.int64, len(strings))
    lengths = np.zeros(size, np.uint16 if lens.size == 0 or lens.max() < 65535 else np.uint32)
    lengths[ids] = lens
    max_len = int(lens.max()) if lens.size else 1
    shift = _shift_for(max_len)
    dtype = np.uint32 if (size << shift) < 2**32 else np.int64
    joined = "".join(strings)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    owner = np.repeat(ids, lens)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    pos = np.arange(codes.size, dtype=np.int64) - starts
    keys = (owner << shift) | pos
    order = np.lexsort((keys, codes))  # by character, then by (id, position)
    codes, keys = codes[order], keys[order].astype(dtype)
    owner = owner[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    cuts = np.concatenate([[0], bounds, [codes.size]]) if codes.size else np.array([0])

    def rows():
        for a, b in zip(cuts[:-1], cuts[1:]):
            o = owner[a:b]
            n_ids = int(np.count_nonzero(np.diff(o))) + 1
            yield chr(int(codes[a])), n_ids, keys[a:b].tobytes()

    return shift, np.dtype(dtype).name, lengths, rows()


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

_RANK_FILE = re.compile(r"^(poet|ci)\.(\w+)\.rank\.(\d+)\.json$")


def _rank_source(name: str) -> str | None:
    """The corpus file a rank file describes, entry for entry: rank/poet/poet.tang.rank.3000.json
    → quantangshi/poet.tang.3000.json; rank/ci/ci.song.rank.0.json → songci/ci.song.0.json."""
    m = _RANK_FILE.match(name)
    if not m:
        return None
    kind, dyn, n = m.groups()
    return f"quantangshi/poet.{dyn}.{n}.json" if kind == "poet" else f"songci/ci.{dyn}.{n}.json"


def engine_percentiles(values: np.ndarray) -> np.ndarray:
    """Column-wise empirical percentile in [0, 1] (ties share the midpoint), NaN stays NaN."""
    out = np.full(values.shape, np.nan)
    for e in range(values.shape[1]):
        col = values[:, e]
        have = ~np.isnan(col)
        s = np.sort(col[have])
        if not s.size:
            continue
        lo = np.searchsorted(s, col[have], "left")
        hi = np.searchsorted(s, col[have], "right")
        out[have, e] = (lo + hi) / (2.0 * s.size)
    return out


def combine(values: np.ndarray) -> np.ndarray:
    """Popularity of each row of hit counts (rows: poems, columns: ENGINES): the median over the
    engines of each engine's percentile. A percentile makes engines of very different scales
    comparable, and the median ignores one or two engines that are far off for a poem (baidu's
    5.24M for 宋太祖's one-line 句, bing's 1.19M for 幸夤遜's 雲)."""
    with np.errstate(all="ignore"):
        pct = engine_percentiles(values)
        have = ~np.isnan(pct).all(axis=1)
        out = np.full(values.shape[0], np.nan)
        out[have] = np.nanmedian(pct[have], axis=1)
    return out


def read_popularity(rank_dir: Path, poems: Iterable[tuple[int, str, int, str, str]], fold: Callable[[str], str]):
    """Per-poem popularity from ``rank_dir`` (the dataset's rank/ folder).

    ``poems``: (rowid, source, position, author_norm, title_norm). A rank file lists the poems of
    one corpus file in the same order; each entry is checked against the poem at its position
    (author and title, folded) and, if they disagree, looked up by author and title in that file.
    Returns ({rowid: popularity}, {"entries", "matched", "unmatched"})."""
    # rank/poet/*.json and rank/ci/*.json; glob (unlike rglob before Python 3.13) follows a linked folder
    files = sorted(p for p in [*rank_dir.glob("*.json"), *rank_dir.glob("*/*.json")] if _rank_source(p.name))
    if not files:
        return {}, {"entries": 0, "matched": 0, "unmatched": 0}
    by_pos: dict[tuple[str, int], tuple[int, str, str]] = {}
    by_name: dict[tuple[str, str, str], list[int]] = {}
    for rowid, source, position, author, title in poems:
        by_pos[(source, position)] = (rowid, author, title)
        by_name.setdefault((source, author, title), []).append(rowid)
    rowids, counts = [], []
    entries = unmatched = 0
    for f in files:
        source = _rank_source(f.name)
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning(f"{f}: cannot be read ({e}); its popularity is skipped")
            continue
        if not isinstance(data, list):
            continue
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                continue
            entries += 1
            author = fold(str(rec.get("author") or ""))
            title = fold(str(rec.get("title") or rec.get("rhythmic") or ""))
            at = by_pos.get((source, i))
            if at is not None and at[1] == author and at[2] == title:
                rowid = at[0]
            else:
                same = by_name.get((source, author, title))
                if not same:
                    unmatched += 1
                    continue
                rowid = same[0]
            row = []
            for e in ENGINES:
                v = rec.get(e)
                row.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else np.nan)
            rowids.append(rowid)
            counts.append(row)
    if not rowids:
        return {}, {"entries": entries, "matched": 0, "unmatched": unmatched}
    pop = combine(np.array(counts, dtype=np.float64))
    out: dict[int, float] = {}
    for rowid, p in zip(rowids, pop):
        if not np.isnan(p):
            out[rowid] = max(out.get(rowid, 0.0), round(float(p), 6))
    return out, {"entries": entries, "matched": len(rowids), "unmatched": unmatched}


def form_of(form: str | None, tags_json: str | None, fold: Callable[[str], str]) -> str | None:
    """The folded form of a poem: its own (ci-pai, 蒙学 type), else the first form tag it has."""
    if form:
        return fold(form)
    if tags_json:
        try:
            tags = json.loads(tags_json)
        except ValueError:
            return None
        for t in tags if isinstance(tags, list) else []:
            if isinstance(t, str) and fold(t) in FORM_TAGS:
                return fold(t)
    return None


# -- building --------------------------------------------------------------------------------


def build_lexicon(store, corpus_root: Path | None, fold: Callable[[str], str], texts: Sequence[str] | None = None) -> dict:
    """Fill the lexical tables of a freshly loaded store: forms, popularity, postings.
    ``texts``: the distinct lines in id order, when the caller has them at hand.
    Returns what the manifest records about it."""
    poems = store.poem_keys()
    rank_dir = Path(corpus_root) / "rank" if corpus_root is not None else None
    if rank_dir is not None and rank_dir.is_dir():
        pop, stats = read_popularity(rank_dir, ((r[0], r[1], r[2], r[3] or "", r[4] or "") for r in poems), fold)
    else:
        pop, stats = {}, {"entries": 0, "matched": 0, "unmatched": 0}
    # The same poem in another edition (唐诗三百首's 静夜思 is 全唐诗's) shares its popularity.
    by_name: dict[tuple[str, str], float] = {}
    for r in poems:
        if r[0] in pop and r[3]:
            key = (r[3], r[4])
            by_name[key] = max(by_name.get(key, 0.0), pop[r[0]])
    poem_pop = {}
    for r in poems:
        p = pop.get(r[0])
        if p is None and r[3]:
            p = by_name.get((r[3], r[4]))
        if p is not None:
            poem_pop[r[0]] = p
    store.set_poem_columns((form_of(r[5], r[6], fold), poem_pop.get(r[0]), r[0]) for r in poems)
    size = store.max_poem_rowid() + 1
    rowids = np.array([r[0] for r in poems], np.int64)
    titles = [r[4] or "" for r in poems]
    pop_arr = np.full(size, np.nan, np.float32)
    for rowid, p in poem_pop.items():
        pop_arr[rowid] = p
    _store_field(store, "title", rowids, titles, size, pop_arr)
    del poems, titles

    if texts is None:
        texts = [t for rows in store.iter_texts() for _, t in rows]
    n = len(texts)
    text_ids, poem_rowids = store.text_poem_pairs()
    text_pop = np.full(n, -np.inf, np.float32)
    p_of_line = pop_arr[poem_rowids]
    have = ~np.isnan(p_of_line)
    np.maximum.at(text_pop, text_ids[have], p_of_line[have])
    text_pop[np.isinf(text_pop)] = np.nan
    _store_field(store, "text", np.arange(n, dtype=np.int64), texts, n, text_pop)
    return {"popularity": {**stats, "poems_with_popularity": len(poem_pop), "source": "rank/" if stats["entries"] else None}}


def _store_field(store, field: str, ids: np.ndarray, strings: Sequence[str], size: int, popularity: np.ndarray | None):
    shift, dtype, lengths, rows = build_field(ids, strings, size)
    store.insert_postings(field, rows)
    store.set_lexicon_field(field, shift, f"{dtype}:{lengths.dtype.name}", size, lengths.tobytes(),
                            None if popularity is None else popularity.astype(np.float32).tobytes())


# -- querying --------------------------------------------------------------------------------


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
