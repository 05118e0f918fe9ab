"""The query side: open an index, check it, search it (pre-filtered), and bulk nearest neighbours.

    index = Index.open("index")
    hits = index.search("大梦谁先觉", k=10, author="李白")
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import vectors
from .errors import IndexDamagedError, IndexNotFoundError, ModelMismatchError, UsageProblem
from .normalize import Normalizer, fold
from .store import DB_NAME, Store

log = logging.getLogger("poetry_search")
EXCLUDES = ("self", "poem", "author", "none")
ANONYMOUS = {"", None, "佚名", "无名氏", "阙名", "不详"}
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


class Index:
    """An index on disk: SQLite metadata, FAISS vectors, and the manifest that ties them."""

    def __init__(self, path: Path, store: Store, vecs: vectors.Vectors, manifest: dict):
        self.path = path
        self.store = store
        self.vectors = vecs
        self.manifest = manifest
        self.normalizer = Normalizer(store.glyphs())
        self._encoder = None
        self._exclusion = None
        self._columns: dict = {}

    @classmethod
    def open(cls, path: str | Path = "index", ef: int | None = None, nprobe: int | None = None) -> "Index":
        """Open and check an index; ``ef``/``nprobe`` override the search depth chosen at build time."""
        p = Path(path)
        if not p.exists() or (p.is_dir() and not any(p.iterdir())):
            raise IndexNotFoundError(f"no index at {p}: run `make index` or pass --index")
        if not p.is_dir():
            raise IndexNotFoundError(f"{p} is not an index folder: run `make index` or pass --index")
        if not (p / DB_NAME).exists() and not (p / vectors.VECTORS_NAME).exists():
            raise IndexNotFoundError(f"no index at {p} (no {DB_NAME} or {vectors.VECTORS_NAME}): run `make index` or pass --index")
        store = Store(p / DB_NAME)
        manifest = store.manifest()
        if not manifest.get("counts"):
            raise IndexDamagedError(f"{p / DB_NAME} has no manifest (an unfinished build?): rebuild the index with `poetry-search index`")
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
        if self._encoder is None:
            from .encoder import Encoder

            m = self.manifest
            spec = m["model"]
            enc = Encoder(spec, device="auto", precision=m.get("precision", "fp32"))
            if enc.resolved.fingerprint != m.get("model_fingerprint"):
                raise ModelMismatchError(
                    f"the files of model {spec} changed since the index at {self.path} was built "
                    f"(fingerprint {enc.resolved.fingerprint}, index has {m.get('model_fingerprint')}): "
                    f"rebuild it with `poetry-search index --model {spec}`")
            self._encoder = enc
        return self._encoder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalise and encode query texts exactly like corpus lines."""
        return self._encode([self.normalize_query(t) for t in texts])

    def _encode(self, normed: Sequence[str]) -> np.ndarray:
        enc = self.encoder
        for i in enc.too_long(normed):
            log.warning(f"query {i + 1} is longer than the model's {enc.max_length} tokens and was truncated")
        return enc.encode(normed)

    def normalize_query(self, text: str) -> str:
        if text is None or not text.strip():
            raise UsageProblem("the query is empty: pass a line of poetry, e.g. poetry-search query 大梦谁先觉")
        normed = self.normalizer.query(text)
        if not normed:
            raise UsageProblem(f"the query {text!r} has nothing to search once punctuation is removed: pass some characters")
        return normed

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
        if k < 1:
            raise UsageProblem("-k must be at least 1")
        normed = [self.normalize_query(t) for t in texts]  # bad queries fail before any work
        allowed = self.allowed_ids(author, dynasty, collection)
        if allowed is not None and allowed.size == 0:
            what = ", ".join(f"{n} {v}" for n, v in (("author", author), ("dynasty", dynasty), ("collection", collection)) if v)
            log.warning(f"no lines match {what}: check the spelling (poetry-search info lists collections)")
            return [[] for _ in texts]
        if not texts:
            return []
        q = self._encode(normed)
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
        v = self.embed(texts)
        return v @ v.T

    # -- bulk nearest neighbours ---------------------------------------------------------------

    def _exclusion_data(self):
        """Per text: its poems and authors (as integer codes), for --exclude poem|author."""
        if self._exclusion is None:
            rows = self.store.conn.execute(
                "SELECT lines.text_id, poems.rowid, poems.author_norm FROM lines JOIN poems ON poems.id = lines.poem_id "
                "ORDER BY lines.text_id").fetchall()
            authors: dict[str, int] = {}
            n = len(self)
            text_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            poems = np.fromiter((r[1] for r in rows), np.int64, len(rows))
            # no author (诗经, 论语) or an anonymous one is nobody in particular: never "the same author"
            auth = np.fromiter(((authors.setdefault(r[2], len(authors)) if r[2] not in ANONYMOUS else -1 - i)
                                for i, r in enumerate(rows)), np.int64, len(rows))
            ptr = np.zeros(n + 1, np.int64)
            np.add.at(ptr, text_ids + 1, 1)
            ptr = np.cumsum(ptr)
            self._exclusion = (ptr, poems, auth)
        return self._exclusion

    def _conflicts(self, qids: np.ndarray, nbrs: np.ndarray, exclude: str) -> np.ndarray:
        """Boolean mask of neighbours to drop for each query (rows) under ``exclude``."""
        mask = nbrs < 0
        if exclude == "none":
            return mask
        mask |= nbrs == qids[:, None]
        if exclude == "self":
            return mask
        ptr, poems, auth = self._exclusion_data()
        codes = poems if exclude == "poem" else auth
        pr, pc = np.nonzero(~mask & (qids >= 0)[:, None])  # the pairs still to check
        if pr.size:
            a, b = qids[pr], nbrs[pr, pc]
            base = int(codes.min())
            span = int(codes.max()) - base + 1
            # every (pair, code) of each side, as one int64 key; a pair conflicts if a key is shared
            keys_a = self._pair_codes(a, ptr, codes, base, span)
            keys_b = self._pair_codes(b, ptr, codes, base, span)
            shared = np.unique(np.intersect1d(keys_a, keys_b) // span)
            mask[pr[shared], pc[shared]] = True
        return mask

    @staticmethod
    def _pair_codes(ids, ptr, codes, base, span):
        count = ptr[ids + 1] - ptr[ids]
        pair = np.repeat(np.arange(len(ids), dtype=np.int64), count)
        start = np.repeat(ptr[ids], count)
        offset = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        return pair * span + (codes[start + offset] - base)

    def neighbours(self, k: int = 10, exclude: str = "self", min_score: float | None = None,
                   queries: Sequence[str] | None = None, batch_size: int = 1024) -> Iterator[dict]:
        """Every line's (or every query's) k nearest lines, as column batches:
        ``query_id, query_text, rank, neighbor_id, neighbor_text, score`` (plus ``_queries``, the
        number of queries in the batch, and ``_query_text_id``, each row's query as a ``texts.id`` or -1).

        Exclusion never shrinks a result: rows that lose neighbours to it are searched again deeper.
        """
        if k < 1:
            raise UsageProblem("-k must be at least 1")
        if exclude not in EXCLUDES:
            raise UsageProblem(f"unknown --exclude {exclude!r}: use one of {', '.join(EXCLUDES)}")
        if min_score is not None and not -1.0 <= min_score <= 1.0:
            raise UsageProblem("--min-score must be a cosine between -1 and 1")
        n = len(self)
        margin = {"none": 0, "self": 1, "poem": 16, "author": 32}[exclude]
        texts_table = self.store.conn
        if queries is None:
            total = n
        else:
            queries = list(queries)
            total = len(queries)
            if not total:
                raise UsageProblem("the queries file holds no queries")
            normed = [self.normalize_query(t) for t in queries]
        for s in range(0, total, batch_size):
            if queries is None:
                qids = np.arange(s, min(total, s + batch_size), dtype=np.int64)
                qvec = self.vectors.rows(int(s), len(qids))
                qtext = None  # corpus lines: their text comes from the text column
                out_qid = qids
            else:
                batch = normed[s:s + batch_size]
                qvec = self._encode(batch)
                known = dict(texts_table.execute(
                    f"SELECT text, id FROM texts WHERE text IN ({','.join('?' * len(batch))})", batch).fetchall())
                qids = np.array([known.get(t, -1) for t in batch], dtype=np.int64)
                qtext = batch
                out_qid = np.arange(s + 1, s + 1 + len(batch), dtype=np.int64)
            scores, nbrs = self._neighbours_batch(qvec, qids, k, exclude, margin, n)
            yield self._rows(out_qid, qids, qtext, scores, nbrs, min_score)

    def _neighbours_batch(self, qvec, qids, k, exclude, margin, n):
        depth = min(n, k + margin)
        out_s = np.full((len(qids), k), -np.inf, np.float32)
        out_i = np.full((len(qids), k), -1, np.int64)
        todo = np.arange(len(qids))
        while todo.size:
            scores, nbrs = self.vectors.search(qvec[todo], depth)
            drop = self._conflicts(qids[todo], nbrs, exclude)
            keep_n = (~drop).sum(axis=1)
            order = np.argsort(drop, axis=1, kind="stable")  # kept neighbours first, rank order kept
            s_sorted = np.take_along_axis(scores, order, 1)
            i_sorted = np.take_along_axis(nbrs, order, 1)
            w = min(k, depth)
            valid = np.arange(w)[None, :] < keep_n[:, None]
            out_s[todo, :w] = np.where(valid, s_sorted[:, :w], -np.inf)
            out_i[todo, :w] = np.where(valid, i_sorted[:, :w], -1)
            short = (keep_n < k) & (depth < n)
            todo = todo[short]
            depth = min(n, depth * 4)
        return out_s, out_i

    def column(self, name: str):
        """A pyarrow array indexed by ``texts.id``: ``text``, or ``author``/``title``/``dynasty`` of the
        first occurrence. Read from SQLite once, in id order; bulk neighbours ``take`` from it."""
        if name not in self._columns:
            import pyarrow as pa

            if name == "text":
                sql = "SELECT text FROM texts ORDER BY id"
            else:
                col = {"author": "p.author", "title": "p.title", "dynasty": "p.dynasty"}[name]
                sql = (f"SELECT {col} FROM texts JOIN lines ON lines.id = texts.first_line_id "
                       f"JOIN poems p ON p.id = lines.poem_id ORDER BY texts.id")
            cur = self.store.conn.execute(sql)
            parts = []
            while rows := cur.fetchmany(200_000):
                parts.append(pa.array([r[0] for r in rows], pa.string()))
            arr = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
            if len(arr) != len(self):
                raise IndexDamagedError(f"{self.path}: {len(arr)} rows of {name} for {len(self)} vectors: rebuild the index")
            self._columns[name] = arr
        return self._columns[name]

    def _rows(self, out_qids, qids, qtext, scores, nbrs, min_score) -> dict:
        keep = nbrs >= 0
        if min_score is not None:
            keep &= scores >= np.float32(min_score)
        r, c = np.nonzero(keep)
        nb = nbrs[r, c]
        texts = self.column("text")
        return {
            "_queries": len(qids),
            "_query_text_id": qids[r],
            "query_id": out_qids[r].astype(np.int64),
            "query_text": texts.take(qids[r]) if qtext is None else [qtext[i] for i in r],
            "rank": (c + 1).astype(np.int32),
            "neighbor_id": nb.astype(np.int64),
            "neighbor_text": texts.take(nb),
            "score": scores[r, c].astype(np.float32),
        }

    def info(self) -> dict:
        return {**self.manifest, "index": str(self.path), "database": str(self.path / DB_NAME),
                "vectors": str(self.path / vectors.VECTORS_NAME), "ntotal": len(self),
                "search_depth": self.vectors.depth()}

    def close(self) -> None:
        self.store.close()
