"""Builds the lexical index (``store.lexicon``): postings of every distinct line (by its matching
key, ``corpus.variants.match_key``), of every paragraph of two lines or more and of every title,
each poem's form and canonical author, its fame (``build.fame``) as popularity, each line's
attribution (``build.attribution``) and the near-match index (``store.near``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..corpus.authors import canonical_author
from ..corpus.variants import match_key
from ..store.near import NearIndex
from .attribution import attribute, cite_rank, era_of
from .fame import CURATED_BOOKS, corpus_fame

NEAR_NAME = "near.npz"  # beside the database: lines one character off (store/near.py)
ANONYMOUS = ("", "无名氏", "佚名", "不详", "失名")  # poems that name no poet yield to those that do

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


def build_lexicon(store, corpus_root: Path | None, fold: Callable[[str], str], texts: Sequence[str] | None = None,
                  folder: Path | None = None) -> dict:
    """Fill the lexical tables of a freshly loaded store: forms, canonical authors, fame (the
    poems' popularity), each line's cite rank and attributed occurrence, postings; the near-match
    index into ``folder`` (none without). ``texts``: the distinct lines in id order, when the
    caller has them at hand. Returns what the manifest records about it."""
    poems = store.poem_keys()
    places = store.poem_places()
    size = store.max_poem_rowid() + 1
    rowids = np.array([r[0] for r in poems], np.int64)
    poem_of_rowid = np.full(size, -1, np.int64)
    poem_of_rowid[rowids] = np.arange(rowids.size)
    line_ids, text_ids, line_rowids, positions, paragraphs = store.line_table()
    line_poem = poem_of_rowid[line_rowids]
    first = np.full((rowids.size, 2), -1, np.int64)
    for k in (0, 1):
        m = positions == k
        first[line_poem[m], k] = text_ids[m]
    rank_dir = Path(corpus_root) / "rank" if corpus_root is not None else None
    authors = [r[3] or "" for r in poems]
    books = [r[1] or "" for r in places]
    poem_fame, source = corpus_fame([r[1] for r in poems], [r[2] for r in poems], authors, [r[4] or "" for r in poems],
                                    books, [tuple(x) for x in first.tolist()], rank_dir, fold, canonical_author)
    poem_fame = np.round(poem_fame, 6)
    canon = [canonical_author(a) for a in authors]
    store.set_poem_columns((form_of(r[5], r[6], fold), float(f), c, r[0]) for r, f, c in zip(poems, poem_fame.tolist(), canon))
    titles = [r[4] or "" for r in poems]
    pop_arr = np.full(size, np.nan, np.float32)
    pop_arr[rowids] = poem_fame
    _store_field(store, "title", rowids, titles, size, pop_arr)
    era = np.array([era_of(r[2]) for r in places], np.int64)
    curated = np.array([b in CURATED_BOOKS for b in books], bool)
    anonymous = np.array([c in ANONYMOUS for c in canon], bool)
    del poems, places, titles, authors

    if texts is None:
        texts = [t for rows in store.iter_texts() for _, t in rows]
    n = len(texts)
    ranks = cite_rank(era[line_poem], poem_fame[line_poem], curated[line_poem], line_ids, anonymous[line_poem])
    cited = attribute(text_ids, ranks, n)
    store.set_attribution(zip(ranks.tolist(), line_ids.tolist()), zip(line_ids[cited].tolist(), range(n)))
    # a line's popularity is its attributed poem's fame, not the best of every poem that quotes it
    text_pop = poem_fame[line_poem[cited]].astype(np.float32)
    keys = [match_key(t) for t in texts]
    _store_field(store, "text", np.arange(n, dtype=np.int64), keys, n, text_pop)
    n_par = _store_paragraphs(store, keys, line_ids, text_ids, line_rowids, paragraphs)
    out = {"popularity": {"poems_with_popularity": int(rowids.size), "source": "fame",
                          "own_rank": int((source == 0).sum()), "other_edition": int((source == 1).sum()),
                          "class_prior": int((source == 2).sum())},
           "paragraphs": n_par}
    if folder is not None:
        near = NearIndex.build(keys)
        near.save(Path(folder) / NEAR_NAME)
        out["near"] = {"lines": int(sum(t["ids"].size for t in near.tables.values())), "bytes": near.nbytes()}
    return out


def _store_paragraphs(store, keys: Sequence[str], line_ids, text_ids, line_rowids, paragraphs) -> int:
    """Postings of every paragraph of two lines or more, as its lines' keys joined (a couplet
    typed without its comma), and each paragraph's first line; returns how many."""
    if not line_ids.size:
        return 0
    new = np.ones(line_ids.size, bool)
    new[1:] = (line_rowids[1:] != line_rowids[:-1]) | (paragraphs[1:] != paragraphs[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], line_ids.size)
    multi = ends - starts >= 2
    starts, ends = starts[multi], ends[multi]
    tids = text_ids.tolist()
    strings = ["".join(keys[t] for t in tids[a:b]) for a, b in zip(starts.tolist(), ends.tolist())]
    store.insert_paragraphs(zip(range(len(strings)), line_ids[starts].tolist()))
    _store_field(store, "paragraph", np.arange(len(strings), dtype=np.int64), strings, len(strings), None)
    return len(strings)


def _store_field(store, field: str, ids: np.ndarray, strings: Sequence[str], size: int, popularity: np.ndarray | None):
    shift, dtype, lengths, rows = build_field(ids, strings, size)
    store.insert_postings(field, rows)
    store.set_lexicon_field(field, shift, f"{dtype}:{lengths.dtype.name}", size, lengths.tobytes(),
                            None if popularity is None else popularity.astype(np.float32).tobytes())
