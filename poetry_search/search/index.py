"""The query side: open an index, check it, and search it (pre-filtered). Bulk nearest neighbours
live in ``neighbours.py``; ``Index.neighbours`` hands over to it.

    index = Index.open("index")
    hits = index.search("大梦谁先觉", k=10, author="李白")
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from ..corpus.normalize import Normalizer, fold
from ..errors import (
    IndexDamagedError,
    IndexNotFoundError,
    ModelMismatchError,
    PoemNotFoundError,
    UsageProblem,
    VectorsMissingError,
)
from ..options import (
    DEFAULT_INDEX,
    FIND_SORTS,
    MODES,
    NEIGHBOURS_BATCH_SIZE,
    SORTS,
)
from ..store import vectors
from ..store.db import DB_NAME, SCHEMA_VERSION, Store
from .neighbours import NeighbourBatch, Neighbours

if TYPE_CHECKING:
    from ..encode.encoder import Encoder

log = logging.getLogger("poetry_search")
# A filtered search on an approximate index scans the allowed vectors exactly when there are at
# most this many: cheaper than a graph walk that must skip most nodes, and it never comes up short.
EXACT_SUBSET_LIMIT = 50_000
_DYNASTY_ALIASES = {
    "tang": "唐", "song": "宋", "yuan": "元", "ming": "明", "qing": "清", "han": "汉", "wudai": "五代",
    "five dynasties": "五代", "xianqin": "先秦", "pre-qin": "先秦", "zhou": "先秦",
}


def fold_dynasty(value: str | None) -> str | None:
    if not value:
        return None
    v = _DYNASTY_ALIASES.get(value.strip().lower(), value)
    v = fold(v)
    return v[:-1] if len(v) > 1 and v.endswith(("朝", "代")) and v != "五代" else v


def _warn_no_match(**filters: str | None) -> None:
    """A filtered search that no line passes: say which filters, and where to check them."""
    what = ", ".join(f"{n} {v}" for n, v in filters.items() if v)
    log.warning(f"no lines match {what}: check the spelling (poetry-search info lists collections)")


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


class QueryEncoder:
    """Queries → vectors, the same way for search, similarity and bulk neighbours: normalised
    like corpus lines (with the index's glyph map when there is one), then encoded."""

    def __init__(self, normalizer: Normalizer, load_encoder: Callable[[], "Encoder"],
                 stored: Callable[[Sequence[str]], dict[int, np.ndarray]] | None = None):
        self.normalizer = normalizer
        self._load = load_encoder
        self._stored = stored  # position → vector of the texts that need no model (corpus lines)
        self._encoder = None
        # The HTTP server encodes from many threads: a fast tokenizer is not safe to call from two
        # at once ("Already borrowed"), and two forward passes at once only fight over the cores
        # torch already spreads one over; so loading and encoding take turns.
        self._lock = threading.RLock()

    @classmethod
    def for_model(cls, model: str, precision: str = "auto", device: str = "auto") -> "QueryEncoder":
        """A model used directly, with the precision and device an index build would choose. There
        is no glyph map without an index (the map comes from the corpus)."""
        from ..encode.encoder import Encoder

        return cls(Normalizer(), lambda: Encoder(model, device=device, precision=precision))

    @property
    def encoder(self) -> "Encoder":
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = self._load()
        return self._encoder

    def share_model(self, other: "QueryEncoder") -> None:
        """Use ``other``'s loaded model (and take turns with it)."""
        self._encoder, self._lock = other._encoder, other._lock

    def normalize(self, text: str) -> str:
        """The embedded form of a query; UsageProblem if nothing is left to search."""
        if text is None or not text.strip():
            raise UsageProblem("the query is empty: pass a line of poetry, e.g. poetry-search query 大梦谁先觉")
        normed = self.normalizer.text(text)
        if not normed:
            raise UsageProblem(f"the query {text!r} has nothing to search once punctuation is removed: pass some characters")
        return normed

    def encode(self, normed: Sequence[str]) -> np.ndarray:
        """Encode normalised texts, warning about any the model truncates. Texts with a stored
        vector take it, and when all have one the model is not even loaded."""
        known = self._stored(normed) if self._stored and normed else {}
        todo = [i for i in range(len(normed)) if i not in known]
        if normed and not todo:
            return np.stack([known[i] for i in range(len(normed))]).astype(np.float32, copy=False)
        rest = [normed[i] for i in todo]
        with self._lock:
            enc = self.encoder
            enc.refuse_unknown(rest)
            for i in enc.too_long(rest):
                log.warning(f"query {todo[i] + 1} is longer than the model's {enc.max_length} tokens and was truncated")
            fresh = enc.encode(rest)
        if not known:
            return fresh
        out = np.empty((len(normed), fresh.shape[1]), dtype=np.float32)
        out[todo] = fresh
        for i, v in known.items():
            out[i] = v
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        normed = [self.normalize(t) for t in texts]  # every text is checked before any is encoded
        return self.encode(normed)

    def similarity(self, texts: Sequence[str]) -> np.ndarray:
        """The cosine matrix of ``texts``."""
        v = self.embed(texts)
        return np.clip(v @ v.T, -1.0, 1.0)  # float rounding takes a text with itself past 1


def similarity(texts: Sequence[str], index: str | Path | None = None, model: str | None = None) -> np.ndarray:
    """The cosine matrix of ``texts``: with ``model`` used directly, or with the model of the index
    at ``index`` (default: ``DEFAULT_INDEX``). Both normalise and encode like a query."""
    if len(texts) < 2:
        raise UsageProblem("give at least two texts to compare")
    if index is not None and model:
        raise UsageProblem("pass --index or --model, not both")
    if model:
        return QueryEncoder.for_model(model).similarity(texts)
    if index is None and not Path(DEFAULT_INDEX).exists():
        raise UsageProblem(f"no index at {DEFAULT_INDEX}/ to take the model from: pass --model M (e.g. --model bert-base-chinese) "
                           "or --index PATH, or build one with `make index`")
    return Index.open(index or DEFAULT_INDEX).similarity(texts)


class Index:
    """An index on disk: SQLite metadata, FAISS vectors, and the manifest that ties them."""

    def __init__(self, path: Path, store: Store, vecs: vectors.Vectors, manifest: dict):
        self.path = path
        self.store = store
        self.vectors = vecs
        self.manifest = manifest
        self.normalizer = Normalizer(store.glyphs())
        self.queries = QueryEncoder(self.normalizer, self._load_encoder, stored=self._stored_vectors)
        self._bulk = None
        self._lexicon = None
        self._has_lexicon: bool | None = None

    @classmethod
    def open(cls, path: str | Path = DEFAULT_INDEX, ef: int | None = None, nprobe: int | None = None) -> "Index":
        """Open and check an index; ``ef``/``nprobe`` override the search depth chosen at build time."""
        p = Path(path)
        if not p.exists() or (p.is_dir() and not any(p.iterdir())):
            raise IndexNotFoundError(f"no index at {p}: run `make index` or pass --index")
        if not p.is_dir():
            raise IndexNotFoundError(f"{p} is not an index folder: run `make index` or pass --index")
        if not (p / DB_NAME).exists() and not (p / vectors.VECTORS_NAME).exists():
            raise IndexNotFoundError(f"no index at {p} (no {DB_NAME} or {vectors.VECTORS_NAME}): run `make index` or pass --index")
        store = Store(p / DB_NAME, read_only=True)  # queries never write; one connection per thread
        manifest = store.manifest()
        if not manifest.get("counts"):
            raise IndexDamagedError(f"{p / DB_NAME} has no manifest (an unfinished build?): rebuild the index with `poetry-search index`")
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise IndexDamagedError(
                f"the index at {p} has schema version {manifest.get('schema_version')}, and this poetry-search "
                f"{__version__} reads version {SCHEMA_VERSION}: rebuild it with `poetry-search index --index {p}`")
        n_texts = store.count("texts")
        if manifest.get("lexical_only"):
            if manifest["counts"].get("texts") != n_texts:
                raise IndexDamagedError(f"the index at {p} is inconsistent: {n_texts} texts in the database, "
                                        f"{manifest['counts'].get('texts')} in the manifest; rebuild it with `poetry-search index`")
            return cls(p, store, None, manifest)
        index = vectors.Vectors.load(p)
        expected = manifest["counts"].get("texts")
        if index.ntotal != n_texts or expected != n_texts:
            raise IndexDamagedError(f"the index at {p} is inconsistent: {index.ntotal} vectors, {n_texts} texts in the database, "
                                    f"{expected} in the manifest; rebuild it with `poetry-search index`")
        if index.d != manifest.get("dimension"):
            raise IndexDamagedError(f"the vectors at {p} have dimension {index.d} but the manifest says {manifest.get('dimension')}: rebuild the index")
        self = cls(p, store, index, manifest)
        if ef is not None or nprobe is not None:
            index.set_depth(ef=ef, nprobe=nprobe)
        else:
            depth = manifest.get("search_depth") or {}
            index.set_depth(**{k: depth[k] for k in ("ef", "nprobe") if k in depth})
        return self

    def __len__(self) -> int:
        return self.vectors.ntotal if self.vectors is not None else int(self.manifest["counts"]["texts"])

    @property
    def has_vectors(self) -> bool:
        """False for an index built with ``--lexical-only``: only lexical calls work on it."""
        return self.vectors is not None

    def require_vectors(self) -> None:
        if self.vectors is None:
            raise VectorsMissingError(
                f"the index at {self.path} was built with --lexical-only and has no vectors: `poetry-search find`, "
                f"`poem` and `query --mode lexical` work on it; to search by meaning, rebuild it with a model: "
                f"poetry-search index --corpus {self.manifest.get('corpus', 'CORPUS')} --index {self.path} --model bert-base-chinese")

    @property
    def has_lexicon(self) -> bool:
        """False for an index built before lexical search existed (semantic search still works)."""
        if self._has_lexicon is None:
            self._has_lexicon = self.store.has_lexicon and self.store.has_lexicon_field("text")
        return self._has_lexicon

    @property
    def lexicon(self):
        """The lexical index (lexical.py), read lazily."""
        if self._lexicon is None:
            from ..store.lexicon import Lexicon

            if not self.has_lexicon:
                raise IndexDamagedError(f"the index at {self.path} was built before lexical search existed: "
                                        f"rebuild it with `poetry-search index` (or `--lexical-only`) to use find, poem and --mode")
            self._lexicon = Lexicon(self.store)
        return self._lexicon

    def check_model(self, model: str | None) -> None:
        """Refuse a model other than the one the index was built with."""
        if model is None:
            return
        self.require_vectors()
        built = self.manifest["model"]
        same = model == built or (Path(model).exists() and Path(built).exists() and Path(model).resolve() == Path(built).resolve())
        if not same:
            raise ModelMismatchError(f"the index at {self.path} was built with model {built}, not {model}: "
                                     f"drop --model, or rebuild with `poetry-search index --model {model}`")

    @property
    def encoder(self):
        """The query encoder, loaded on first use: the index's ONNX export on ONNX Runtime when it
        has a usable one (no torch), else the torch encoder of its model."""
        return self.queries.encoder

    def _load_encoder(self):
        from ..encode.onnx import open_for_index

        return open_for_index(self.path, self.manifest) or self._load_torch_encoder()

    def _load_torch_encoder(self):
        """The index's own model on torch, in fp32 (a query vector is fp32 whatever the build's
        precision); refused if its files changed since the build. They are hashed again only when
        their sizes or modification times differ from the manifest's record."""
        from ..encode.encoder import Encoder

        self.require_vectors()
        m = self.manifest
        spec = m["model"]
        enc = Encoder(spec, device="auto", precision="fp32",
                      known={"fingerprint": m.get("model_fingerprint"), "files": m.get("model_files")})
        if enc.resolved.fingerprint != m.get("model_fingerprint"):
            raise ModelMismatchError(
                f"the files of model {spec} changed since the index at {self.path} was built "
                f"(fingerprint {enc.resolved.fingerprint}, index has {m.get('model_fingerprint')}): "
                f"rebuild it with `poetry-search index --model {spec}`")
        return enc

    def adopt_encoder(self, other: "Index") -> bool:
        """Share ``other``'s loaded model when both indexes were built with the same one (same
        fingerprint and precision): a server reopening a rebuilt index then needs no second load."""
        keys = ("model", "model_fingerprint", "precision")
        if other.queries._encoder is None or any(self.manifest.get(k) != other.manifest.get(k) for k in keys):
            return False
        self.queries.share_model(other.queries)
        return True

    def _stored_vectors(self, normed: Sequence[str]) -> dict[int, np.ndarray]:
        """For each query that is a corpus line: its vector in the index, the very vector the model
        gave at build time (no model to load)."""
        known = self.store.ids_of_texts(normed)
        pos = [i for i, t in enumerate(normed) if t in known]
        if not pos:
            return {}
        vecs = self.vectors.get(np.array([known[normed[i]] for i in pos], dtype=np.int64))
        return dict(zip(pos, vecs))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalise and encode query texts exactly like corpus lines."""
        return self.queries.embed(texts)

    def encode_normalized(self, normed: Sequence[str]) -> np.ndarray:
        """Encode texts already normalised by ``normalize_query``."""
        return self.queries.encode(normed)

    def normalize_query(self, text: str) -> str:
        """The embedded form of a query; UsageProblem if nothing is left to search."""
        return self.queries.normalize(text)

    # -- search --------------------------------------------------------------------------------

    def allowed_ids(self, author=None, dynasty=None, collection=None, form=None) -> np.ndarray | None:
        if not (author or dynasty or collection or form):
            return None
        ids = self.store.text_ids(author=fold(author) or None, dynasty=fold_dynasty(dynasty),
                                  collection=fold(collection) or None, form=self._fold_form(form))
        return np.array(sorted(ids), dtype=np.int64)

    def _fold_form(self, form: str | None) -> str | None:
        """The folded form, checked: an unknown form is a usage mistake, not an empty result."""
        if not form:
            return None
        f = fold(form)
        if not self.store.has_lexicon:
            raise IndexDamagedError(f"the index at {self.path} was built before --form existed: rebuild it with `poetry-search index`")
        if not self.store.form_exists(f):
            known = "、".join(self.store.common_forms(8))
            raise UsageProblem(f"unknown --form {form!r}: the forms this index knows include {known or '(none)'}; "
                               "pass one of them (ci-pai such as 浣溪沙 work too)")
        return f

    def _filters(self, author, dynasty, collection, form) -> dict:
        return {"author": fold(author) or None, "dynasty": fold_dynasty(dynasty), "collection": fold(collection) or None,
                "form": self._fold_form(form)}

    def search(self, text: str, k: int = 10, author: str | None = None, dynasty: str | None = None,
               collection: str | None = None, *, mode: str = "hybrid", form: str | None = None, sort: str = "score",
               poems: bool = False) -> list:
        """The k best lines for ``text`` (see ``search_batch``), filters applied before the search."""
        return self.search_batch([text], k=k, author=author, dynasty=dynasty, collection=collection, mode=mode,
                                 form=form, sort=sort, poems=poems)[0]

    def search_batch(self, texts: Sequence[str], k: int = 10, author: str | None = None, dynasty: str | None = None,
                     collection: str | None = None, *, mode: str = "hybrid", form: str | None = None,
                     sort: str = "score", poems: bool = False) -> list[list]:
        """``search`` for many queries, encoded and searched in batches.

        ``mode``: ``hybrid`` (lines containing the query verbatim first, the line equal to it
        marked ``exact``, the others ``contains``, in lexical order: exact, popularity, id; then
        the nearest lines by cosine, ``semantic``, no line twice), ``semantic`` (cosine only,
        exactly the plain nearest-neighbour search), ``lexical`` (containing lines only).
        ``sort="popularity"`` orders the same hits famous first. ``poems=True`` groups hits by
        poem (their first matching occurrence's) and returns k ``PoemHit``s."""
        check_k(k)
        if mode not in MODES:
            raise UsageProblem(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if sort not in SORTS:
            raise UsageProblem(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
        normed = [self.normalize_query(t) for t in texts]  # bad queries fail before any work
        if mode != "lexical":
            self.require_vectors()
        if mode == "semantic" and not form and not poems and sort == "score":
            return self._semantic(normed, k, author, dynasty, collection)
        filters = self._filters(author, dynasty, collection, form)
        allowed = self.allowed_ids(author, dynasty, collection, form) if mode != "lexical" else None
        if allowed is not None and allowed.size == 0:
            _warn_no_match(author=author, dynasty=dynasty, collection=collection, form=form)
            return [[] for _ in texts]
        if not texts:
            return []
        q = self.encode_normalized(normed) if self.has_vectors else None
        out = []
        for i, text in enumerate(normed):
            qi = q[i:i + 1] if q is not None else None
            depth = k * 4 if poems else k
            while True:
                ranked = self._ranked(text, qi, depth, mode, filters, allowed)
                hits = self._hits_for(ranked, filters)
                if sort == "popularity":
                    hits.sort(key=lambda h: -1.0 if h.popularity is None else -h.popularity)
                if not poems:
                    break
                grouped = self._group(hits, k)
                if len(grouped) >= k or len(ranked) < depth or depth >= len(self):
                    break
                depth *= 4
            if poems:
                out.append(grouped)
            else:
                for r, h in enumerate(hits[:k]):
                    h.rank = r + 1
                out.append(hits[:k])
        return out

    def _semantic(self, normed, k, author, dynasty, collection) -> list[list[Hit]]:
        """The plain nearest-neighbour search (``mode="semantic"``)."""
        allowed = self.allowed_ids(author, dynasty, collection)
        if allowed is not None and allowed.size == 0:
            _warn_no_match(author=author, dynasty=dynasty, collection=collection)
            return [[] for _ in normed]
        if not normed:
            return []
        q = self.encode_normalized(normed)
        scores, ids = self._search_vectors(q, k, allowed)
        meta = self.store.hits_metadata(sorted({int(i) for i in ids.ravel() if i >= 0}), author=fold(author) or None,
                                        dynasty=fold_dynasty(dynasty), collection=fold(collection) or None)
        pops = self._popularity(ids.ravel())
        out = []
        for row_s, row_i in zip(scores, ids):
            hits = []
            for s, i in zip(row_s, row_i):
                if i < 0:
                    continue
                hits.append(self._hit(len(hits) + 1, float(s), int(i), meta[int(i)], "semantic", pops.get(int(i))))
            out.append(hits)
        return out

    @staticmethod
    def _hit(rank: int, score: float | None, i: int, m: dict, match: str, popularity: float | None) -> Hit:
        return Hit(rank=rank, score=score, id=i, text=m["text"], original=m["original"], poem_id=m["poem_id"],
                   title=m["title"], author=m["author"], dynasty=m["dynasty"], collection=m["collection"], book=m["book"],
                   context=m["context"], occurrences=m["occurrences"], match=match, popularity=popularity)

    def _popularity(self, ids) -> dict[int, float | None]:
        ids = sorted({int(i) for i in np.asarray(ids).ravel() if i >= 0})
        if not ids or not self.has_lexicon:
            return {}
        return dict(zip(ids, self.lexicon.text_popularity(ids)))

    def _lexical_ids(self, text: str, filters: dict, poem_rowids=None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the lines containing ``text`` (a normalised fragment) that pass the filters, in
        lexical order (exact first, then popularity, then id), and which of them are exact."""
        from ..store.lexicon import Pattern

        lex = self.lexicon
        ids = lex.text().match(Pattern(text, (text,), False, False))
        if ids.size and (any(filters.values()) or poem_rowids is not None):
            ids = np.array(sorted(self.store.filter_texts(ids, poem_rowids=poem_rowids, **filters)), dtype=np.int64)
        exact = lex.text().lengths[ids] == len(text)
        ordered = lex.order(ids, exact, limit=limit)
        return ordered, lex.text().lengths[ordered] == len(text)

    def _ranked(self, text, q, depth, mode, filters, allowed) -> list[tuple[int, float | None, str]]:
        """(id, score, match) of the first ``depth`` results of one query."""
        out: list[tuple[int, float | None, str]] = []
        if mode in ("hybrid", "lexical"):
            ids, exact = self._lexical_ids(text, filters, limit=depth)
            scores = (self.vectors.get(ids) @ q[0]).tolist() if q is not None and ids.size else [None] * len(ids)
            out = [(int(i), None if s is None else float(s), "exact" if e else "contains") for i, s, e in zip(ids, scores, exact)]
        if mode in ("hybrid", "semantic") and len(out) < depth:
            seen = {i for i, _, _ in out}
            scores, ids = self._search_vectors(q, depth + len(out), allowed)
            for s, i in zip(scores[0], ids[0]):
                if i >= 0 and int(i) not in seen and len(out) < depth:
                    out.append((int(i), float(s), "semantic"))
        return out

    def _hits_for(self, ranked, filters) -> list[Hit]:
        ids = [i for i, _, _ in ranked]
        meta = self.store.hits_metadata(sorted(set(ids)), **filters)
        pops = self._popularity(ids)
        return [self._hit(r + 1, s, i, meta[i], m, pops.get(i)) for r, (i, s, m) in enumerate(ranked)]

    def _group(self, hits: list[Hit], k: int) -> list[PoemHit]:
        """Hits grouped by poem, in the order of each poem's best hit; the first k poems."""
        groups: dict[str, list[Hit]] = {}
        for h in hits:
            if h.poem_id in groups or len(groups) < k:
                groups.setdefault(h.poem_id, []).append(h)
        return self._poem_hits(groups)

    def _poem_hits(self, groups: dict[str, list[Hit]], start_rank: int = 1) -> list[PoemHit]:
        rowids = {pid: self.store.poem_rowid(pid) for pid in groups}
        meta = self.store.poems_by_rowid([r for r in rowids.values() if r is not None]) if self.store.has_lexicon else {}
        out = []
        for n, (pid, lines) in enumerate(groups.items()):
            m = meta.get(rowids[pid], {})
            first = lines[0]
            for r, h in enumerate(lines):
                h.rank = r + 1
            scores = [h.score for h in lines if h.score is not None]
            out.append(PoemHit(rank=start_rank + n, poem_id=pid, title=first.title, author=first.author, dynasty=first.dynasty,
                               collection=first.collection, book=first.book, form=m.get("form"),
                               score=max(scores) if scores else None, popularity=m.get("popularity"),
                               first_line=m.get("first_line", ""), lines=lines))
        return out

    # -- lexical: find, poem -------------------------------------------------------------------

    def find(self, pattern: str | None = None, *, title: str | None = None, author: str | None = None,
             dynasty: str | None = None, collection: str | None = None, form: str | None = None, k: int = 10,
             offset: int = 0, sort: str = "default", poems: bool = False) -> FindResult:
        """Lines matching ``pattern`` (a fragment: 谁先觉; or with ``?`` one character, ``*`` any
        run, matched against the whole line: '?花*'), or, with no pattern, the poems whose title
        contains ``title`` and/or whose author is ``author``. Scripts fold (誰先覺 = 谁先觉).

        Order (``sort="default"``): the line equal to the fragment first, then popularity, then
        id; ``"popularity"``: popularity, then id. ``total`` counts every match; ``k``/``offset``
        page through them. ``poems=True`` returns poems, each with its matching lines."""
        from ..store.lexicon import parse_pattern

        check_k(k)
        if offset < 0:
            raise UsageProblem("--offset must be 0 or more")
        sort = "default" if sort == "score" else sort  # a page's one sort menu may say "score"
        if sort not in FIND_SORTS:
            raise UsageProblem(f"unknown sort {sort!r}: use one of {', '.join(FIND_SORTS)}")
        if pattern is None and not (title or author):
            raise UsageProblem("nothing to find: pass a PATTERN (谁先觉, '?花*'), or --title / --author to list poems")
        lex = self.lexicon
        filters = self._filters(author, dynasty, collection, form)
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
        pat = parse_pattern(pattern, self.normalizer.text)
        tindex = lex.text()
        if pat.min_length > tindex.max_length:
            shown = pattern if len(pattern) <= 20 else pattern[:20] + "…"
            raise UsageProblem(f"the pattern {shown!r} ({pat.min_length} characters) is longer than any line of this index "
                               f"(the longest has {tindex.max_length}): shorten it")
        ids = tindex.match(pat)
        if ids.size and (any(filters.values()) or title_rowids is not None):
            ids = np.array(sorted(self.store.filter_texts(ids, poem_rowids=title_rowids, **filters)), dtype=np.int64)
        exact = (tindex.lengths[ids] == len(pat.literal)) if pat.literal else np.zeros(ids.size, bool)
        exact_ids = set(ids[exact].tolist())
        if not poems:
            ordered = lex.order(ids, exact if sort == "default" else None, limit=offset + k)
            page = ordered[offset:offset + k].tolist()
            meta = self.store.hits_metadata(sorted(page), poem_rowids=title_rowids, **filters)
            pops = self._popularity(page)
            hits = [self._hit(offset + r + 1, None, i, meta[i], "exact" if i in exact_ids else "contains", pops.get(i))
                    for r, i in enumerate(page)]
            return FindResult(total=int(ids.size), offset=offset, k=k, hits=hits)
        ordered = lex.order(ids, exact if sort == "default" else None)
        return self._find_poems(ordered, exact_ids, filters, title_rowids, k, offset, sort)

    def _list_poems(self, filters, title_rowids, title_exact, k, offset, sort) -> FindResult:
        lex = self.lexicon
        rows = self.store.poem_rowids(within=title_rowids, **filters) if (any(filters.values()) or title_rowids is None) \
            else [(int(r), None) for r in title_rowids]
        rowids = np.array(sorted(r[0] for r in rows), dtype=np.int64)
        exact = None
        if title_exact is not None and sort == "default":
            exact = np.isin(rowids, title_rowids[title_exact])
        ordered = lex.order(rowids, exact, field="title", limit=offset + k)
        page = ordered[offset:offset + k].tolist()
        meta = self.store.poems_by_rowid(page)
        hits = [PoemHit(rank=offset + n + 1, poem_id=m["poem_id"], title=m["title"], author=m["author"], dynasty=m["dynasty"],
                        collection=m["collection"], book=m["book"], form=m["form"], score=None, popularity=m["popularity"],
                        first_line=m["first_line"], lines=[])
                for n, m in enumerate(meta[r] for r in page)]
        return FindResult(total=int(rowids.size), offset=offset, k=k, hits=hits)

    def _find_poems(self, ordered, exact_ids, filters, title_rowids, k, offset, sort) -> FindResult:
        lex = self.lexicon
        line_rank = {int(i): r for r, i in enumerate(ordered.tolist())}
        occ = self.store.text_occurrences(ordered, poem_rowids=title_rowids, **filters)
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
        tmeta = self.store.hits_metadata(texts, poem_rowids=title_rowids, **filters)
        pops = self._popularity(texts)
        out = []
        for n, rowid in enumerate(page):
            m = meta[rowid]
            hits = []
            for position, t in sorted(lines_of[rowid]):
                h = self._hit(len(hits) + 1, None, t, tmeta[t], "exact" if t in exact_ids else "contains", pops.get(t))
                # this poem's own occurrence of the line, not the first one in the corpus
                h.poem_id, h.title, h.author, h.dynasty = m["poem_id"], m["title"], m["author"], m["dynasty"]
                h.collection, h.book = m["collection"], m["book"]
                hits.append(h)
            out.append(PoemHit(rank=offset + n + 1, poem_id=m["poem_id"], title=m["title"], author=m["author"],
                               dynasty=m["dynasty"], collection=m["collection"], book=m["book"], form=m["form"], score=None,
                               popularity=m["popularity"], first_line=m["first_line"], lines=hits))
        return FindResult(total=int(rowids.size), offset=offset, k=k, hits=out)

    def poem(self, poem_id: str) -> dict:
        """A whole poem: id, title, author, dynasty, collection, book, form, source, popularity,
        paragraphs (the original) and lines (position, paragraph, original, text, text_id)."""
        got = self.store.poem(str(poem_id))
        if got is None:
            raise PoemNotFoundError(f"no poem has id {poem_id!r} in the index at {self.path}: "
                                    "take the poem_id of a hit (query --json, find --json)")
        return got

    def echoes(self, text_id: int, k: int = 10) -> list[Hit]:
        """The k lines nearest to line ``text_id`` written by other authors (``--exclude author``
        of bulk neighbours: lines that echo another poet), in score order."""
        self.require_vectors()
        check_k(k)
        if not 0 <= int(text_id) < len(self):
            raise UsageProblem(f"no line has id {text_id}: ids run from 0 to {len(self) - 1}")
        qids = np.array([int(text_id)], dtype=np.int64)
        scores, nbrs = self.bulk.nearest(self.vectors.get(qids), qids, k, "author")
        ids = [int(i) for i in nbrs[0] if i >= 0]
        meta = self.store.hits_metadata(sorted(set(ids)))
        pops = self._popularity(ids)
        return [self._hit(r + 1, float(s), int(i), meta[int(i)], "semantic", pops.get(int(i)))
                for r, (s, i) in enumerate(zip(scores[0], nbrs[0])) if i >= 0]

    def _search_vectors(self, q: np.ndarray, k: int, allowed: np.ndarray | None):
        vec = self.vectors
        if allowed is not None and not vec.exact_type and allowed.size <= EXACT_SUBSET_LIMIT:
            return vec.search_subset(q, k, allowed)
        scores, ids = vec.search(q, k, allowed)
        want = min(k, len(self) if allowed is None else int(allowed.size))
        short = (ids[:, :want] < 0).any(axis=1)
        if allowed is not None and short.any():  # an approximate walk came up short: scan the subset
            s2, i2 = vec.search_subset(q[short], k, allowed)
            scores[short, :s2.shape[1]], ids[short, :i2.shape[1]] = s2, i2
        return scores, ids

    # -- similarity ----------------------------------------------------------------------------

    def similarity(self, texts: Sequence[str]) -> np.ndarray:
        """The cosine matrix of ``texts`` with this index's model."""
        return self.queries.similarity(texts)

    # -- bulk nearest neighbours ---------------------------------------------------------------

    @property
    def bulk(self) -> Neighbours:
        """The bulk-neighbours engine of this index, made once (it caches what it reads)."""
        if self._bulk is None:
            self._bulk = Neighbours(self)
        return self._bulk

    def neighbours(self, k: int = 10, exclude: str = "self", min_score: float | None = None,
                   queries: Sequence[str] | None = None, batch_size: int = NEIGHBOURS_BATCH_SIZE,
                   with_meta: bool = False, method: str = "auto", say=None,
                   stage_progress=None) -> Iterator[NeighbourBatch]:
        """Every line's (or every query's) k nearest lines, batch by batch (``Neighbours.batches``;
        the last batch's ``quality`` holds their measured recall)."""
        self.require_vectors()
        return self.bulk.batches(k=k, exclude=exclude, min_score=min_score, queries=queries, batch_size=batch_size,
                                 with_meta=with_meta, method=method, say=say, stage_progress=stage_progress)

    def info(self) -> dict:
        return {**self.manifest, "index": str(self.path), "database": str(self.path / DB_NAME),
                "vectors": str(self.path / vectors.VECTORS_NAME) if self.has_vectors else None, "ntotal": len(self),
                "search_depth": self.vectors.depth() if self.has_vectors else {}}

    def close(self) -> None:
        self.store.close()
