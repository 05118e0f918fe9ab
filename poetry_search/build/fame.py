"""Popularity that means fame: per poem, from the dataset's rank/ hit counts, corrected for
titles many poems share and for titles that are no title, with a prior for the poems rank/
does not cover.

``rank/`` holds search-engine hit counts for "author title" of the poems of 全唐诗, 全宋诗 and
全宋词 (lexical.read_popularity). Three things make those counts a poor measure of fame:

* **Shared titles.** For a ci the title is its 词牌, and one author may have forty 浣溪沙; 无题
  and 句 are shared the same way. The count for "李曾伯 水调歌头" is one number for all of
  李曾伯's 水调歌头, and each of them got it whole. ``fame`` divides each poem's counts by the
  number of ranked poems of that author with that title before taking percentiles.
* **Titles that are no title.** With no title, or one character (句, 松, 雪), "author title"
  is a search for the author's name, and a name that is also a common word (本先, 無可, 如體)
  has hit counts in the billions: those counts are dropped, and the poem takes another
  edition's fame or its class prior as an unranked poem does.
* **Collections without rank data** (曹操诗集, 南唐二主词, 水墨唐诗, 元曲, 花间集, 诗经 ...) had no
  popularity at all and sorted after every ranked poem. Fame gives them a prior measured on the
  ranked poems: the median fame of the ranked poems in the same class, where the class is
  (in a curated edition or not, number of books that hold the poem: 1, 2, 3+). A poem that
  is in 唐诗三百首 or in several collections is, by the ranked poems' own evidence, famous.

A poem that rank/ does not cover but that another edition of which it does (the same poem:
its first two lines, by the same poet) takes that edition's fame, as build_lexicon does today by author
and title. All arrays are indexed by poem (reading order); numpy only, vectorised.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .popularity import ENGINES, _rank_source, combine

log = logging.getLogger("poetry_search")

# Anthologies of famous poems chosen by editors (not complete collections); the corpus names them so.
CURATED_BOOKS = ("唐诗三百首", "宋词三百首", "千家诗")
EDITION_CLASSES = (1, 2, 3)  # 1, 2, 3 or more books hold the poem
# How far each poem's fame moves toward its class's prior (editions, a curated edition): a poem in
# 唐诗三百首 and three books is famous whatever the search counts of "author title" say, and a
# poem in one book with a title that is a common word (京城, 人日) is not.
FAME_PRIOR_WEIGHT = 0.5
# A title shorter than this (none, 句, 松, 雪) makes "author title" a search for the author's name,
# often a common word (本先, 無可, 如體): its hit count says nothing about the poem.
MIN_TITLE_CHARS = 2


def read_rank_counts(rank_dir: Path, sources: Sequence[str], positions: Sequence[int], authors: Sequence[str],
                     titles: Sequence[str], fold: Callable[[str], str]) -> np.ndarray:
    """Hit counts (poems × ENGINES, NaN where none) of every poem, from ``rank_dir``; poems are
    matched to rank entries exactly as ``lexical.read_popularity`` matches them (position in the
    same file, checked by author and title, else author and title in that file). ``authors`` and
    ``titles`` are folded."""
    n = len(sources)
    counts = np.full((n, len(ENGINES)), np.nan)
    by_pos = {(s, int(p)): i for i, (s, p) in enumerate(zip(sources, positions))}
    by_name: dict[tuple[str, str, str], int] = {}
    for i, (s, a, t) in enumerate(zip(sources, authors, titles)):
        by_name.setdefault((s, a, t), i)
    files = sorted(p for p in [*rank_dir.glob("*.json"), *rank_dir.glob("*/*.json")] if _rank_source(p.name))
    for f in files:
        source = _rank_source(f.name)
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning(f"{f}: cannot be read ({e}); its popularity is skipped")
            continue
        for j, rec in enumerate(data if isinstance(data, list) else []):
            if not isinstance(rec, dict):
                continue
            a, t = fold(str(rec.get("author") or "")), fold(str(rec.get("title") or rec.get("rhythmic") or ""))
            i = by_pos.get((source, j))
            if i is None or authors[i] != a or titles[i] != t:
                i = by_name.get((source, a, t))
                if i is None:
                    continue
            row = [rec.get(e) for e in ENGINES]
            counts[i] = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else np.nan for v in row]
    return counts


def group_ids(keys: Sequence) -> np.ndarray:
    """A dense integer id per distinct key (hashable values), in first-seen order."""
    seen: dict = {}
    return np.fromiter((seen.setdefault(k, len(seen)) for k in keys), np.int64, len(keys))


_ORDINAL = re.compile(r"[\s·・]*(?:其)?[一二三四五六七八九十百零〇0-9]+$")


def title_base(title: str) -> str:
    """A title without its trailing number (酒泉子 一 → 酒泉子, 偈五首 其三 → 偈五首): the search
    engines behind rank/ ignore it, so poems that differ only there share one hit count."""
    base = _ORDINAL.sub("", title or "").strip()
    return base or (title or "").strip()


def shared_title_counts(author_ids: np.ndarray, title_ids: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Per poem: how many ranked poems have its author and title (at least 1); pass the ids of
    ``title_base`` titles."""
    key = author_ids.astype(np.int64) * (int(title_ids.max(initial=0)) + 1) + title_ids
    uniq, inv = np.unique(key, return_inverse=True)
    n = np.bincount(inv, weights=ranked.astype(np.float64), minlength=uniq.size)
    return np.maximum(n[inv], 1.0)


def edition_counts(poem_keys: np.ndarray, book_ids: np.ndarray) -> np.ndarray:
    """Per poem: how many distinct books hold a poem with the same key (first two lines)."""
    pairs = np.unique(np.stack([poem_keys, book_ids], axis=1), axis=0)
    per_key = np.bincount(pairs[:, 0], minlength=int(poem_keys.max(initial=0)) + 1)
    return per_key[poem_keys]


def fame(counts: np.ndarray, shared: np.ndarray, poem_keys: np.ndarray, editions: np.ndarray,
         curated: np.ndarray, title_power: float = 1.0, prior_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Fame in [0, 1] of every poem, and where it came from (0: its own rank counts, 1: another
    edition's, 2: the prior of its class).

    ``counts``: hit counts (poems × engines, NaN: none); ``shared``: ``shared_title_counts``;
    ``poem_keys``: the same id for editions of one poem (the same first lines *and* the same
    poet: 全唐诗's second attribution of a poem must not borrow the first's fame);
    ``editions``: ``edition_counts``;
    ``curated``: in a CURATED_BOOKS edition (any edition of the poem counts); ``title_power``:
    counts are divided by ``shared ** title_power`` (1: the count is split evenly among the poems
    that share it; 0: no correction); ``prior_weight``: the share of the class's prior in every
    poem's fame (0: a ranked poem's fame is its counts' alone)."""
    n = counts.shape[0]
    own = combine(counts / (shared ** title_power)[:, None])
    have = ~np.isnan(own)
    out = np.full(n, np.nan)
    out[have] = own[have]
    source = np.full(n, 2, np.int8)
    source[have] = 0
    # another edition of the same poem: the best fame among the poem's ranked editions
    best = np.full(int(poem_keys.max(initial=0)) + 1, -np.inf)
    np.maximum.at(best, poem_keys[have], own[have])
    got = best[poem_keys]
    take = ~have & np.isfinite(got)
    out[take] = got[take]
    source[take] = 1
    cur_of_key = np.zeros(best.size, bool)
    np.logical_or.at(cur_of_key, poem_keys, curated)
    cur = cur_of_key[poem_keys]
    cls = np.minimum(editions, EDITION_CLASSES[-1]) - 1 + len(EDITION_CLASSES) * cur
    rest = np.isnan(out)
    prior = np.full(n, 0.5)
    for c in np.unique(cls):
        ref = have & (cls == c)
        # a class with no ranked poem borrows the prior of the nearest class below it
        cc = c
        while not ref.any() and cc > 0:
            cc -= 1
            ref = have & (cls == cc)
        prior[cls == c] = float(np.median(own[ref])) if ref.any() else 0.5
    out[rest] = prior[rest]
    if prior_weight:  # the class's evidence (editions, curated) beside the poem's own counts
        out = (1 - prior_weight) * out + prior_weight * prior
    return out, source


def corpus_fame(sources: Sequence[str], positions: Sequence[int], authors: Sequence[str], titles: Sequence[str],
                books: Sequence[str], first_lines: Sequence[tuple[int, int]], rank_dir: Path | None,
                fold: Callable[[str], str], canonical: Callable[[str], str] = lambda a: a,
                title_power: float = 1.0, curated_books: Sequence[str] = CURATED_BOOKS,
                prior_weight: float = FAME_PRIOR_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """``fame`` of every poem from its records: ``sources``/``positions`` (its file and place,
    as rank/ describes them), ``authors`` and ``titles`` as the corpus writes them, ``books``
    (folded), ``first_lines`` (text ids of its first two lines, -1 where none), ``canonical``
    (the author-alias fold, corpus/authors.canonical_author). No rank_dir: every poem gets its
    class prior (0.5 when no poem is ranked). ``curated_books``: the books whose membership
    makes a poem's class (pass () to measure without it)."""
    n = len(sources)
    raw = [fold(a) for a in authors]
    canon = [canonical(a) for a in authors]
    tfold = [fold(t) for t in titles]
    if rank_dir is not None and Path(rank_dir).is_dir():
        counts = read_rank_counts(Path(rank_dir), sources, positions, raw, tfold, fold)
    else:
        counts = np.full((n, len(ENGINES)), np.nan)
    bases = [fold(title_base(t)) for t in titles]
    counts[np.array([len(b) < MIN_TITLE_CHARS for b in bases], bool)] = np.nan  # what was searched was the name alone
    lines = [(a, b) if a >= 0 else ("poem", i) for i, (a, b) in enumerate(first_lines)]
    text_keys = group_ids(lines)
    poem_keys = group_ids(list(zip(text_keys.tolist(), canon)))
    ranked = ~np.isnan(counts).all(axis=1)
    shared = shared_title_counts(group_ids(canon), group_ids(bases), ranked)
    editions = edition_counts(text_keys, group_ids(list(books)))
    curated = np.array([b in curated_books for b in books], bool)
    return fame(counts, shared, poem_keys, editions, curated, title_power, prior_weight)
