"""Builds the lexical index (``store.lexicon``): postings of every distinct line and title, each
poem's form, and popularity (``build.popularity``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .popularity import read_popularity

log = logging.getLogger("poetry_search")

# The forms the corpus gives as tags (唐诗三百首) rather than as a field (ci-pai, 蒙学 types).
FORM_TAGS = ("五言绝句", "七言绝句", "五言律诗", "七言律诗", "五言排律", "七言排律", "五言古诗", "七言古诗", "乐府")


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
