"""What a search returns (Hit, PoemHit, FindResult), and the one place hits are made from the
store's rows: every mode, find and echoes build them here, so they carry the same fields."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..errors import UsageProblem


@dataclass
class Hit:
    """One search result: a distinct line, with the metadata of its attributed occurrence (the poem
    a reader cites, ``build.attribution``; under a filter the most citable one that passes)."""

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
    # how it was found: exact (the line is the query), contains, paragraph (the query runs across
    # the punctuation of this line's paragraph), near (one character off the query), semantic
    match: str = "semantic"
    popularity: float | None = None  # the attributed poem's fame (0-1), None if unknown
    other_poems: int = 0  # other poems that hold the line (occurrences - 1): the page's 又见于 N 首
    tones: str | None = None  # 平水韵 marks, one a character of text: 平, 仄, 中 (both readings), ？ (unknown)
    rhyme: list[str] | None = None  # the 平水韵 group(s) of its last character ([] unknown; None: index without them)
    # [start, end) spans of ``original`` (code points) that the query matched, after folding (``highlight``)
    highlight: list[list[int]] = field(default_factory=list)

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


def highlight(original: str, pieces: Sequence[str], normalizer=None) -> list[list[int]]:
    """The spans ``[start, end)`` of ``original`` (code points) that the query matched: where each
    of ``pieces`` (normalised query texts: the query, or a pattern's literal runs) occurs in the
    line once both are folded (script, variants, invisible characters, punctuation), and the whole
    line where the line lies inside a piece (a match across a paragraph's punctuation); where none
    does (a match by meaning, or one character off), the characters that fold to one of the
    pieces'. Spans touching, or apart only by invisible characters and spaces, are one span."""
    from ..corpus.normalize import fold_with_offsets
    from ..corpus.textin import fold_invisible
    from ..corpus.variants import match_key

    folded, spans = fold_with_offsets(original, normalizer)
    key = match_key(folded)
    marked = [False] * len(key)
    for piece in pieces:
        want = match_key(piece)
        if not want or not key:
            continue
        if key in want:
            marked = [True] * len(key)
        at = key.find(want)
        while at >= 0:
            marked[at:at + len(want)] = [True] * len(want)
            at = key.find(want, at + 1)
    if not any(marked):
        chars = set(match_key("".join(pieces)))
        marked = [c in chars for c in key]
    out: list[list[int]] = []
    for (a, b), on in zip(spans, marked):
        if not on:
            continue
        if out and (a <= out[-1][1] or not fold_invisible(original[out[-1][1]:a]).strip()):
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def mark(pages: list[list], pieces: Sequence[Sequence[str]], normalizer=None) -> list[list]:
    """Each hit of ``pages[i]`` (and each line of a poem hit) with its ``highlight`` for the
    query pieces ``pieces[i]``; the pages themselves, for chaining."""
    for page, these in zip(pages, pieces):
        for h in page:
            for line in (h.lines if isinstance(h, PoemHit) else [h]):
                line.highlight = highlight(line.original or line.text, these, normalizer)
    return pages


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
                   context=m["context"], occurrences=m["occurrences"], match=match, popularity=popularity,
                   other_poems=max(0, (m["occurrences"] or 1) - 1),
                   tones=m.get("tones"), rhyme=m.get("rhyme"))

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
        for i, (tones, rhyme) in self.store.prosody_of(ids).items():
            if i in meta:
                meta[i].update(tones=tones, rhyme=rhyme.split())
        pops = self.popularity(ids)
        return [[self.hit(start_rank + r, s, i, meta[i], m, pops.get(i)) for r, (i, s, m) in enumerate(ranked)]
                for ranked in rankeds]

    def scoped(self, ranked: list[tuple[int, float | None, str]], filters=None,
               scopes: dict[int, list[int]] | None = None, start_rank: int = 1) -> list[Hit]:
        """``lines``, where the ids in ``scopes`` take their metadata from one of the given poem
        rowids (a paragraph match names the poem whose paragraph matched)."""
        if not scopes:
            return self.lines(ranked, filters, start_rank=start_rank)
        free = [r for r in ranked if r[0] not in scopes]
        made = {h.id: h for h in self.lines(free, filters)}
        for i, s, m in ranked:
            if i in scopes:
                made[i] = self.lines([(i, s, m)], filters, poem_rowids=scopes[i])[0]
        return [replace(made[i], rank=start_rank + r) for r, (i, _, _) in enumerate(ranked)]

    @staticmethod
    def poem(rank: int, m: dict, lines: list[Hit], score: float | None = None) -> PoemHit:
        """A PoemHit from a poem's row (``Store.poems_by_rowid``) and its matching lines."""
        return PoemHit(rank=rank, poem_id=m["poem_id"], title=m["title"], author=m["author"], dynasty=m["dynasty"],
                       collection=m["collection"], book=m["book"], form=m.get("form"), score=score,
                       popularity=m.get("popularity"), first_line=m.get("first_line", ""), lines=lines)

    def group(self, hits: list[Hit], k: int, filters=None) -> list[PoemHit]:
        """Hits grouped by poem, every poem that holds a hit's line (that passes ``filters``),
        the poems of one line most citable first (``lines.cite_rank``), in the order of each
        poem's best hit; the first k poems, each with its lines ranked from 1. A paragraph match
        stays with the poem whose paragraph matched."""
        args = filters.store_args() if filters is not None else {}
        expand = [h.id for h in hits if h.match != "paragraph"]
        occ: dict[int, list[tuple[int, str]]] = {}
        for text_id, rowid, pid, _pos, _rank in (self.store.text_occurrences(sorted(set(expand)), by_cite=True, **args)
                                                 if expand else []):
            occ.setdefault(text_id, []).append((rowid, pid))
        groups: dict[str, list[tuple[Hit, int | None]]] = {}
        for h in hits:
            for rowid, pid in (occ.get(h.id) or [(None, h.poem_id)]) if h.match != "paragraph" else [(None, h.poem_id)]:
                if pid in groups or len(groups) < k:
                    groups.setdefault(pid, []).append((h, rowid))
        rowids = {pid: (lines[0][1] if lines[0][1] is not None else self.store.poem_rowid(pid)) for pid, lines in groups.items()}
        meta = self.store.poems_by_rowid([r for r in rowids.values() if r is not None]) if self.store.has_lexicon else {}
        out = []
        for n, (pid, pairs) in enumerate(groups.items()):
            own = meta.get(rowids[pid])
            lines = []
            for r, (h, _) in enumerate(pairs):
                h = replace(h, rank=r + 1)
                if own is not None and h.poem_id != pid:  # this poem's own occurrence of the line
                    h.poem_id, h.title, h.author, h.dynasty = pid, own["title"], own["author"], own["dynasty"]
                    h.collection, h.book = own["collection"], own["book"]
                lines.append(h)
            first = lines[0]
            scores = [h.score for h in lines if h.score is not None]
            m = {**(own or {}), "poem_id": pid, "title": first.title, "author": first.author,
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
