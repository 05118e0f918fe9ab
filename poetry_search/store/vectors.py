"""FAISS: index types, building, saving/loading, and search with an id selector.

An index's ids are ``texts.id``, which are its positions (lines are added in id order), over inner
product of unit vectors (= cosine). It is stored bare, without an id map: an ``IndexIDMap2`` around
3.1M vectors costs ~0.3 s at every open to rebuild its reverse map, for ids equal to positions.
Indexes built before that (wrapped in ``IndexIDMap2``) still load. Types:

* ``flat``: exact (``IndexFlatIP``), 4·d bytes a vector in memory.
* ``hnsw``: HNSW (M=32) over 8-bit scalar-quantised vectors: d + ~280 bytes a vector in memory
  (about 1.05 KB at d=768), searched with ``efSearch`` (``--ef``).
* ``ivf``: inverted lists over 8-bit scalar-quantised vectors, searched with ``nprobe``.
* ``ivf-hnsw``: the same with an HNSW graph over the list centroids as the coarse quantizer
  (``IVF8192_HNSW32,SQ8`` for the whole corpus): a graph of thousands of nodes, not millions.
* any FAISS index-factory string, inner-product metric.
* ``auto``: flat up to ``FLAT_LIMIT`` vectors, hnsw above.

An approximate index finds candidates; their exact float32 vectors, kept on disk beside it
(``vectors.f32``, memory-mapped: only the rows touched are read), re-rank them. So scores are exact
cosines, and recall is not capped by 8-bit quantisation, which on tightly clustered vectors would
otherwise reorder near neighbours.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import IndexDamagedError, UsageProblem, require
from ..options import FLAT_LIMIT, HNSW_EF_CONSTRUCTION, INDEX_TYPES
from .recall import recall_at

VECTORS_NAME = "vectors.faiss"
EXACT_NAME = "vectors.f32"
# Exact search over 200k vectors at d=768 is ~600 MB and ~30 ms a query on 2 cores: still
# comfortable. Above that, memory (4 bytes × 768 a line) and scan time grow past what a laptop
# wants, and HNSW over SQ8 is ~4x smaller and answers in about a millisecond.
HNSW_M = 32
RERANK_MIN = 50  # candidates an approximate search re-ranks exactly, at least
# Search depths build-time tuning tries, smallest first: it keeps the first that reaches the target.
EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)
NPROBE_STEPS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def _faiss():
    return require("faiss")


def resolve_index_type(index_type: str, n: int) -> str:
    """The concrete type for ``n`` vectors: 'flat', 'hnsw', 'ivf' or a factory string."""
    if not index_type:
        raise UsageProblem(f"--index-type is empty: use one of {', '.join(INDEX_TYPES)} or a FAISS factory string")
    if index_type == "auto":
        return "flat" if n <= FLAT_LIMIT else "hnsw"
    return index_type


def factory_string(kind: str, n: int) -> str:
    if kind == "flat":
        return "Flat"
    if kind == "hnsw":
        return f"HNSW{HNSW_M},SQ8"
    if kind == "ivf":
        nlist = max(1, min(65536, int(4 * math.sqrt(max(n, 1)))))
        return f"IVF{nlist},SQ8"
    if kind == "ivf-hnsw":
        return f"IVF{ivf_hnsw_lists(n)}_HNSW{HNSW_M},SQ8"
    return kind


def ivf_hnsw_lists(n: int) -> int:
    """Inverted lists of an ``ivf-hnsw`` index: the power of two nearest 4·√n (8,192 for the whole
    corpus), at least 64. Its HNSW graph is over these centroids only, so it is quick to build."""
    return max(64, min(65536, 2 ** round(math.log2(4 * math.sqrt(max(n, 1))))))


def _kind_of(faiss, inner) -> str:
    """What decides search depth and parameters: 'flat', 'hnsw' (efSearch), 'ivf' (nprobe) or 'other'."""
    if isinstance(inner, faiss.IndexFlat):
        return "flat"
    if hasattr(inner, "hnsw"):
        return "hnsw"
    if hasattr(inner, "nprobe"):
        return "ivf"
    return "other"


def new_faiss_index(kind: str, dimension: int, n: int):
    """An empty index of the given type (it may still need training); ids are positions."""
    faiss = _faiss()
    spec = factory_string(kind, n)
    try:
        inner = faiss.index_factory(dimension, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise UsageProblem(f"FAISS cannot build index type {kind!r} ({str(e).splitlines()[0][:160]}): "
                           f"use one of {', '.join(INDEX_TYPES)} or a valid factory string such as 'HNSW32,SQ8'") from None
    if isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        raise UsageProblem(f"index type {kind!r} brings its own id map: leave out 'IDMap' (ids are positions)")
    return inner


def _read_flags(faiss) -> int:
    """Memory-map the codes of flat and scalar-quantised indexes (flat, HNSW over SQ8, IVF's
    quantiser) instead of reading them: a query on a multi-GB index starts without reading it all,
    and only the pages a search touches are read. Older FAISS without the flag reads as before.
    A mapped index is read-only; nothing at query time writes to it."""
    return getattr(faiss, "IO_FLAG_MMAP_IFC", 0)


class Vectors:
    """A FAISS index (ids = ``texts.id`` = 0..n-1) and, for approximate types, the exact vectors."""

    def __init__(self, index, exact: np.ndarray | None = None):
        faiss = _faiss()
        self._writer = None
        self.index = index  # what is searched: the bare index, or an IndexIDMap2 around it (older builds)
        wrapped = isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2))
        self.inner = faiss.downcast_index(index.index) if wrapped else index
        self.kind = _kind_of(faiss, self.inner)
        self.exact = exact
        self._rows: FileRows | None = None

    @property
    def exact_type(self) -> bool:
        """Whether a search is exact (flat): no re-ranking, no exact vectors beside it, no tuning."""
        return self.kind == "flat"

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def create(cls, kind: str, dimension: int, n: int, folder: Path, ef_construction: int | None = None) -> "Vectors":
        self = cls(new_faiss_index(kind, dimension, n))
        if ef_construction is not None and self.kind != "hnsw":
            raise UsageProblem(f"--ef-construction applies to HNSW indexes only; this index is {type(self.inner).__name__}")
        if ef_construction is not None and ef_construction < 1:
            raise UsageProblem("--ef-construction must be at least 1")
        if self.kind == "hnsw":
            self.inner.hnsw.efConstruction = int(ef_construction if ef_construction is not None else HNSW_EF_CONSTRUCTION)
        self._writer = None
        if not self.exact_type:
            # Written with plain sequential writes, not a memory map: a map's written pages stay
            # resident until it is closed, which would put every vector of the corpus in memory.
            self._writer = open(folder / (EXACT_NAME + ".partial"), "wb")
            np.lib.format.write_array_header_1_0(
                self._writer, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                               "shape": (n, dimension)})
        return self

    @property
    def needs_training(self) -> bool:
        return not self.index.is_trained

    def training_size(self, n: int) -> int:
        """Vectors to train on: 100,000, or 32 a list for IVF indexes with many lists (k-means
        wants 30-40 points a centroid)."""
        nlist = int(getattr(self.inner, "nlist", 0) or 0)
        return min(n, max(100_000, 32 * nlist))

    def train(self, sample: np.ndarray) -> None:
        self.index.train(np.ascontiguousarray(sample, dtype=np.float32))

    def add(self, start: int, vectors: np.ndarray) -> None:
        """Add rows ``start..start+len`` (ids are positions: texts.id)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if start != self.ntotal:
            raise ValueError(f"vectors must be added in id order: got {start}, expected {self.ntotal}")
        self.index.add(vectors)
        if self._writer is not None:
            self._writer.write(vectors.tobytes())

    def finish(self, folder: Path) -> None:
        """Close the exact vectors once every row is added; the build's tuning reads them back
        with ``FileRows`` (not a memory map, see there)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            (folder / (EXACT_NAME + ".partial")).rename(folder / EXACT_NAME)
            self.exact = FileRows(folder / EXACT_NAME)

    def save(self, folder: Path) -> None:
        self.finish(folder)
        _faiss().write_index(self.index, str(folder / VECTORS_NAME))

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, folder: Path) -> "Vectors":
        faiss = _faiss()
        path = folder / VECTORS_NAME
        if not path.exists():
            raise IndexDamagedError(f"the vectors file {path} is missing: rebuild the index with `poetry-search index`")
        try:
            index = faiss.read_index(str(path), _read_flags(faiss))
        except RuntimeError as e:
            raise IndexDamagedError(f"{path} is not a readable FAISS index ({str(e).splitlines()[0][:120]}): "
                                    "rebuild the index with `poetry-search index`") from None
        self = cls(index)
        if not self.exact_type:
            exact_path = folder / EXACT_NAME
            try:
                self.exact = np.load(exact_path, mmap_mode="r")  # random rows (re-ranking): mapped
                self._rows = FileRows(exact_path)  # runs of rows (bulk passes): read, not kept mapped
            except (OSError, ValueError) as e:
                raise IndexDamagedError(f"the exact vectors {exact_path} are missing or damaged ({e}): "
                                        "rebuild the index with `poetry-search index`") from None
            if self.exact.shape != (index.ntotal, index.d):
                raise IndexDamagedError(f"{exact_path} holds {self.exact.shape} vectors but the index has "
                                        f"{(index.ntotal, index.d)}: rebuild the index")
        return self

    # -- reading -------------------------------------------------------------------------------

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def d(self) -> int:
        return int(self.index.d)

    def rows(self, start: int, count: int) -> np.ndarray:
        """Exact vectors of ids ``start..start+count`` (a fresh array; read, not mapped, from a
        loaded index's ``vectors.f32``, so a pass over all of them does not stay resident)."""
        if self._writer is not None:
            raise ValueError("the exact vectors are still being written")
        if self._rows is not None:
            return self._rows[start:start + count]
        if self.exact is not None:
            return np.asarray(self.exact[start:start + count], dtype=np.float32)
        return self.inner.reconstruct_n(int(start), int(count))

    def get(self, ids: np.ndarray) -> np.ndarray:
        """Exact vectors of ``ids``."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.exact is not None:
            order = np.argsort(ids)
            out = np.empty((len(ids), self.d), np.float32)
            out[order] = self.exact[ids[order]]  # sorted reads are kinder to the page cache
            return out
        return self.inner.reconstruct_batch(ids) if len(ids) else np.empty((0, self.d), np.float32)

    # -- search depth --------------------------------------------------------------------------

    def set_depth(self, ef: int | None = None, nprobe: int | None = None) -> None:
        """Apply ``--ef`` (HNSW) or ``--nprobe`` (IVF); refuse one the index type does not have."""
        if ef is not None:
            if self.kind != "hnsw":
                raise UsageProblem("--ef applies to HNSW indexes only; this index is " + type(self.inner).__name__)
            if ef < 1:
                raise UsageProblem("--ef must be at least 1")
            self.inner.hnsw.efSearch = int(ef)
        if nprobe is not None:
            if self.kind != "ivf":
                raise UsageProblem("--nprobe applies to IVF indexes only; this index is " + type(self.inner).__name__)
            if nprobe < 1:
                raise UsageProblem("--nprobe must be at least 1")
            self.inner.nprobe = int(nprobe)

    def depth(self) -> dict:
        if self.kind == "hnsw":
            return {"ef": int(self.inner.hnsw.efSearch)}
        if self.kind == "ivf":
            return {"nprobe": int(self.inner.nprobe)}
        return {}

    # -- tuning --------------------------------------------------------------------------------

    def recall(self, queries: np.ndarray, truth_s: np.ndarray, k: int) -> float:
        """Mean recall@k of this index's search for ``queries`` against the exact top-k scores
        ``truth_s`` (``recall.recall_at``: ties count)."""
        got, _ = self.search(queries, k)
        return recall_at(got, truth_s, k)

    def tune(self, queries: np.ndarray, truth_s: np.ndarray, k: int, target: float) -> dict:
        """Set the smallest search depth (efSearch, nprobe) whose measured recall@k reaches
        ``target`` (else the best one tried); returns what was measured, for the manifest."""
        if self.kind == "hnsw":
            name, values = "ef", list(EF_STEPS)
        elif self.kind == "ivf":
            nlist = int(self.inner.nlist)
            name, values = "nprobe", sorted({v for v in NPROBE_STEPS if v <= nlist} | {nlist})
        else:
            return {"recall_at_10": self.recall(queries, truth_s, k), "recall_sample": len(queries)}
        tried = {}
        for v in values:
            self.set_depth(**{name: v})
            tried[v] = self.recall(queries, truth_s, k)
            if tried[v] >= target:
                break
        chosen = next((v for v in tried if tried[v] >= target), max(tried, key=tried.get))
        self.set_depth(**{name: chosen})
        built = {"ef_construction": int(self.inner.hnsw.efConstruction)} if self.kind == "hnsw" else {}
        return {"recall_at_10": tried[chosen], "recall_sample": len(queries), name: chosen,
                "recall_by_" + name: {str(v): round(r, 4) for v, r in tried.items()}, **built}

    # -- search --------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
        """(scores, ids) of the k nearest by inner product; ``allowed`` restricts the search to
        those ids (a pre-filter, applied inside FAISS). Missing results are id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(int(k), self.ntotal))
        if self.exact_type:
            return clip_scores(*self.index.search(queries, k, params=self._params(allowed, k)))
        depth = self.candidates(k)
        _, cand = self.index.search(queries, depth, params=self._params(allowed, depth))
        return clip_scores(*self._rerank(queries, cand, k))

    def candidates(self, k: int) -> int:
        """How many candidates an approximate search for ``k`` lines re-ranks exactly; an HNSW
        search walks at least this deep whatever its ``efSearch``."""
        return min(self.ntotal, max(RERANK_MIN, 4 * int(k)))

    def _params(self, allowed, k):
        faiss = _faiss()
        if allowed is None and self.exact_type:
            return None
        sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64)) if allowed is not None else None
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=sel, efSearch=max(int(self.inner.hnsw.efSearch), k))
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(sel=sel, nprobe=int(self.inner.nprobe))
        return faiss.SearchParameters(sel=sel) if sel is not None else None

    def rescore(self, queries: np.ndarray, cand: np.ndarray, k: int):
        """(scores, ids): the k best of each query's candidate ids (-1: none) by exact cosine."""
        return clip_scores(*self._rerank(np.ascontiguousarray(queries, dtype=np.float32), cand, k))

    def _rerank(self, queries, cand, k):
        top_s = np.full((len(cand), k), -np.inf, np.float32)
        top_i = np.full((len(cand), k), -1, np.int64)
        rows = max(1, (1 << 24) // max(1, cand.shape[1] * self.d))  # ~64 MB of gathered vectors at a time
        for s in range(0, len(cand), rows):
            c = cand[s:s + rows]
            valid = c >= 0
            # one gather in candidate order (repeats and all): sorting and de-duplicating first
            # cost a second copy of every row, ~25% of a whole-corpus export's time
            flat = np.where(valid, c, 0).ravel()
            vecs = (np.asarray(self.exact[flat]) if self.exact is not None else self.get(flat)).reshape(c.shape + (self.d,))
            scores = np.where(valid, np.einsum("qd,qcd->qc", queries[s:s + rows], vecs), -np.inf).astype(np.float32)
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            best = np.take_along_axis(scores, order, 1)
            top_s[s:s + rows, :best.shape[1]] = best
            top_i[s:s + rows, :best.shape[1]] = np.where(np.isfinite(best), np.take_along_axis(c, order, 1), -1)
        return top_s, top_i

    def score(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The exact cosine of one query vector with each stored line ``ids`` (clipped like every
        score a search returns)."""
        return np.clip(self.get(np.asarray(ids, dtype=np.int64)) @ np.asarray(query, dtype=np.float32), -1.0, 1.0)

    def check(self, rows: int) -> list[str]:
        """The vectors against the database: one a row, each of unit length (sampled)."""
        out = []
        if self.ntotal != rows:
            out.append(f"{VECTORS_NAME} holds {self.ntotal:,} vectors for {rows:,} rows of texts: rebuild the index")
        ids = np.unique(np.linspace(0, max(0, self.ntotal - 1), num=min(self.ntotal, 2000)).astype(np.int64))
        try:
            norms = np.linalg.norm(self.get(ids), axis=1) if ids.size else np.ones(0)
        except Exception as e:  # noqa: BLE001 - FAISS raises RuntimeError on a damaged file
            return out + [f"{VECTORS_NAME} cannot be read ({type(e).__name__}): rebuild the index"]
        bad = ~(np.isfinite(norms) & (np.abs(norms - 1) < 1e-2))
        if bad.any():
            out.append(f"{VECTORS_NAME}: {int(bad.sum())} of {ids.size:,} sampled vectors are not of unit length "
                       "(damaged): rebuild the index")
        return out

    def search_subset(self, queries: np.ndarray, k: int, allowed: np.ndarray):
        """Exact search over the ``allowed`` ids only (small filtered sets)."""
        sims = np.ascontiguousarray(queries, dtype=np.float32) @ self.get(allowed).T
        k = min(k, len(allowed))
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return clip_scores(np.take_along_axis(sims, top, 1).astype(np.float32), allowed[top])


class FileRows:
    """Rows of a float32 ``.npy`` matrix, read with ``pread``: the build's recall tuning, and the
    sequential passes of bulk exports (their exact-search checks, the blocked method's reads).

    A memory map would do, but every page a map touches counts in the process's resident memory,
    and the kernel maps up to 16 cached pages around each one touched: the tuning's re-ranking of
    1,000 queries × 12 depths touched ~4 GB of a whole-corpus ``vectors.f32`` that way, the largest
    part of the build's peak, and a pass over all rows would keep all 9.5 GB. Reading rows (~10-20
    µs each, or one read a run) keeps them out of it. Query-time re-ranking still maps the file."""

    def __init__(self, path: Path):
        head = np.load(path, mmap_mode="r")
        self.shape, self._offset = head.shape, head.offset
        del head
        self._row = 4 * self.shape[1]
        self._fd = os.open(path, os.O_RDONLY)

    def __del__(self):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self.shape[0])
            out = np.empty((max(0, stop - start), self.shape[1]), np.float32)
            if len(out):
                os.preadv(self._fd, [memoryview(out).cast("B")], self._offset + start * self._row)
            return out
        ids = np.asarray(key, dtype=np.int64)
        out = np.empty((len(ids), self.shape[1]), np.float32)
        view = memoryview(out).cast("B")
        for j, i in enumerate(ids.tolist()):
            os.preadv(self._fd, [view[j * self._row:(j + 1) * self._row]], self._offset + i * self._row)
        return out


# A cosine of unit vectors past this is no rounding error: the stored vectors are damaged.
DAMAGED_SCORE = 1.001


def clip_scores(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of unit vectors clipped to [-1, 1] (float rounding takes a line's score with itself
    to 1.0000001); missing results (id -1) keep their sentinel score. Every score a search returns
    goes through here: a score that is not a number, or far past 1, is refused, never shown."""
    found = ids >= 0
    s = scores[found]
    if s.size and not (np.isfinite(s).all() and np.abs(s).max() <= DAMAGED_SCORE):
        raise IndexDamagedError("the index is damaged (a search scored a line "
                                f"{float(s[~np.isfinite(s)][0] if not np.isfinite(s).all() else np.abs(s).max()):.4g}): "
                                "run `poetry-search info --verify`, then rebuild it with `poetry-search index`")
    scores[found] = np.clip(s, -1.0, 1.0)
    return scores, ids


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cosine matrix of unit vectors ``a`` (rows) and ``b`` (rows), clipped to [-1, 1]."""
    return np.clip(a @ b.T, -1.0, 1.0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, niter: int = 10) -> np.ndarray:
    """k spherical k-means centroids of unit vectors ``x`` (k × d float32)."""
    km = _faiss().Kmeans(x.shape[1], k, niter=niter, spherical=True, seed=seed, verbose=False)
    km.train(np.ascontiguousarray(x, dtype=np.float32))
    return km.centroids.astype(np.float32)
