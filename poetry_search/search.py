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

from . import __version__, vectors
from .errors import IndexDamagedError, IndexNotFoundError, ModelMismatchError, UsageProblem
from .neighbours import DEFAULT_BATCH_SIZE, NeighbourBatch, Neighbours
from .normalize import Normalizer, fold
from .store import DB_NAME, DEFAULT_INDEX, SCHEMA_VERSION, Store

if TYPE_CHECKING:
    from .encoder import Encoder

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


@dataclass
class Hit:
    """One search result: a distinct line, with the metadata of its first (matching) occurrence."""

    rank: int
    score: float
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

    def to_dict(self) -> dict:
        return asdict(self)


def check_k(k: int) -> None:
    """Refuse a result count below one."""
    if k < 1:
        raise UsageProblem("-k must be at least 1")


class QueryEncoder:
    """Queries → vectors, the same way for search, similarity and bulk neighbours: normalised
    like corpus lines (with the index's glyph map when there is one), then encoded."""

    def __init__(self, normalizer: Normalizer, load_encoder: Callable[[], "Encoder"]):
        self.normalizer = normalizer
        self._load = load_encoder
        self._encoder = None
        # The HTTP server encodes from many threads: a fast tokenizer is not safe to call from two
        # at once ("Already borrowed"), and two forward passes at once only fight over the cores
        # torch already spreads one over; so loading and encoding take turns.
        self._lock = threading.RLock()

    @classmethod
    def for_model(cls, model: str, precision: str = "auto", device: str = "auto") -> "QueryEncoder":
        """A model used directly, with the precision and device an index build would choose. There
        is no glyph map without an index (the map comes from the corpus)."""
        from .encoder import Encoder

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
        """Encode normalised texts, warning about any the model truncates."""
        with self._lock:
            enc = self.encoder
            for i in enc.too_long(normed):
                log.warning(f"query {i + 1} is longer than the model's {enc.max_length} tokens and was truncated")
            return enc.encode(normed)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        normed = [self.normalize(t) for t in texts]  # every text is checked before any is encoded
        return self.encode(normed)

    def similarity(self, texts: Sequence[str]) -> np.ndarray:
        """The cosine matrix of ``texts``."""
        v = self.embed(texts)
        return v @ v.T


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
        self.queries = QueryEncoder(self.normalizer, self._load_encoder)
        self._bulk = None

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
        index = vectors.Vectors.load(p)
        n_texts = store.count("texts")
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
        return self.vectors.ntotal

    # -- the model -----------------------------------------------------------------------------

    def check_model(self, model: str | None) -> None:
        """Refuse a model other than the one the index was built with."""
        if model is None:
            return
        built = self.manifest["model"]
        same = model == built or (Path(model).exists() and Path(built).exists() and Path(model).resolve() == Path(built).resolve())
        if not same:
            raise ModelMismatchError(f"the index at {self.path} was built with model {built}, not {model}: "
                                     f"drop --model, or rebuild with `poetry-search index --model {model}`")

    @property
    def encoder(self):
        """The index's own model, loaded on first use; refused if its files changed since the build."""
        return self.queries.encoder

    def _load_encoder(self):
        from .encoder import Encoder

        m = self.manifest
        spec = m["model"]
        enc = Encoder(spec, device="auto", precision=m.get("precision", "fp32"))
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

    def allowed_ids(self, author=None, dynasty=None, collection=None) -> np.ndarray | None:
        if not (author or dynasty or collection):
            return None
        ids = self.store.text_ids(author=fold(author) or None, dynasty=fold_dynasty(dynasty),
                                  collection=fold(collection) or None)
        return np.array(sorted(ids), dtype=np.int64)

    def search(self, text: str, k: int = 10, author: str | None = None, dynasty: str | None = None,
               collection: str | None = None) -> list[Hit]:
        """The k nearest distinct lines to ``text`` by cosine, filters applied before the search."""
        return self.search_batch([text], k=k, author=author, dynasty=dynasty, collection=collection)[0]

    def search_batch(self, texts: Sequence[str], k: int = 10, author: str | None = None, dynasty: str | None = None,
                     collection: str | None = None) -> list[list[Hit]]:
        """``search`` for many queries, encoded and searched in batches."""
        check_k(k)
        normed = [self.normalize_query(t) for t in texts]  # bad queries fail before any work
        allowed = self.allowed_ids(author, dynasty, collection)
        if allowed is not None and allowed.size == 0:
            what = ", ".join(f"{n} {v}" for n, v in (("author", author), ("dynasty", dynasty), ("collection", collection)) if v)
            log.warning(f"no lines match {what}: check the spelling (poetry-search info lists collections)")
            return [[] for _ in texts]
        if not texts:
            return []
        q = self.encode_normalized(normed)
        scores, ids = self._search_vectors(q, k, allowed)
        meta = self.store.hits_metadata(sorted({int(i) for i in ids.ravel() if i >= 0}), author=fold(author) or None,
                                        dynasty=fold_dynasty(dynasty), collection=fold(collection) or None)
        out = []
        for row_s, row_i in zip(scores, ids):
            hits = []
            for s, i in zip(row_s, row_i):
                if i < 0:
                    continue
                m = meta[int(i)]
                hits.append(Hit(rank=len(hits) + 1, score=float(s), id=int(i), text=m["text"], original=m["original"],
                                poem_id=m["poem_id"], title=m["title"], author=m["author"], dynasty=m["dynasty"],
                                collection=m["collection"], book=m["book"], context=m["context"],
                                occurrences=m["occurrences"]))
            out.append(hits)
        return out

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
                   queries: Sequence[str] | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                   with_meta: bool = False) -> Iterator[NeighbourBatch]:
        """Every line's (or every query's) k nearest lines, batch by batch (``Neighbours.batches``)."""
        return self.bulk.batches(k=k, exclude=exclude, min_score=min_score, queries=queries,
                                 batch_size=batch_size, with_meta=with_meta)

    def info(self) -> dict:
        return {**self.manifest, "index": str(self.path), "database": str(self.path / DB_NAME),
                "vectors": str(self.path / vectors.VECTORS_NAME), "ntotal": len(self),
                "search_depth": self.vectors.depth()}

    def close(self) -> None:
        self.store.close()
