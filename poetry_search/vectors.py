"""FAISS: index types, building, saving/loading, and search with an id selector.

Every index is an ``IndexIDMap2`` whose ids are ``texts.id``, over inner product of unit vectors
(= cosine). Types:

* ``flat``: exact (``IndexFlatIP``), 4·d bytes a vector.
* ``hnsw``: HNSW (M=32) over 8-bit scalar-quantised vectors: d + ~280 bytes a vector
  (about 1.05 KB at d=768), searched with ``efSearch`` (``--ef``).
* ``ivf``: inverted lists over 8-bit scalar-quantised vectors, searched with ``nprobe``.
* any FAISS index-factory string, inner-product metric.
* ``auto``: flat up to ``FLAT_LIMIT`` vectors, hnsw above.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import IndexDamagedError, UsageProblem

VECTORS_NAME = "vectors.faiss"
# Exact search over 200k vectors at d=768 is ~600 MB and ~30 ms a query on 2 cores: still
# comfortable. Above that, memory (4 bytes × 768 a line) and scan time grow past what a laptop
# wants, and HNSW over SQ8 is ~4x smaller and answers in about a millisecond.
FLAT_LIMIT = 200_000
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
HNSW_M = 32


def _faiss():
    from .errors import require

    return require("faiss", None)


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
    return kind


def new_index(kind: str, dimension: int, n: int):
    """An empty IndexIDMap2 of the given type (it may still need training)."""
    faiss = _faiss()
    spec = factory_string(kind, n)
    try:
        inner = faiss.index_factory(dimension, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise UsageProblem(f"FAISS cannot build index type {kind!r} ({str(e).splitlines()[0][:160]}): "
                           f"use one of {', '.join(INDEX_TYPES)} or a valid factory string such as 'HNSW32,SQ8'") from None
    if isinstance(inner, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        return inner
    if kind == "hnsw":
        faiss.downcast_index(inner).hnsw.efConstruction = 80
    index = faiss.IndexIDMap2(inner)
    return index


def needs_training(index) -> bool:
    return not index.is_trained


def add(index, ids: np.ndarray, vectors: np.ndarray) -> None:
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))


def inner(index):
    faiss = _faiss()
    return faiss.downcast_index(index.index if hasattr(index, "index") else index)


def set_search_depth(index, ef: int | None = None, nprobe: int | None = None) -> None:
    """Apply ``--ef`` (HNSW) or ``--nprobe`` (IVF); refuse one the index type does not have."""
    sub = inner(index)
    if ef is not None:
        if not hasattr(sub, "hnsw"):
            raise UsageProblem("--ef applies to HNSW indexes only; this index is " + type(sub).__name__)
        if ef < 1:
            raise UsageProblem("--ef must be at least 1")
        sub.hnsw.efSearch = int(ef)
    if nprobe is not None:
        if not hasattr(sub, "nprobe"):
            raise UsageProblem("--nprobe applies to IVF indexes only; this index is " + type(sub).__name__)
        if nprobe < 1:
            raise UsageProblem("--nprobe must be at least 1")
        sub.nprobe = int(nprobe)


def search_depth(index) -> dict:
    sub = inner(index)
    if hasattr(sub, "hnsw"):
        return {"ef": int(sub.hnsw.efSearch)}
    if hasattr(sub, "nprobe"):
        return {"nprobe": int(sub.nprobe)}
    return {}


def is_exact(index) -> bool:
    faiss = _faiss()
    return isinstance(inner(index), faiss.IndexFlat)


def search(index, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
    """(scores, ids) of the k nearest; ``allowed`` restricts the search to those ids (pre-filter)."""
    faiss = _faiss()
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if allowed is None:
        return index.search(queries, k)
    sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
    sub = inner(index)
    if hasattr(sub, "hnsw"):
        params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(int(sub.hnsw.efSearch), k))
    elif hasattr(sub, "nprobe"):
        params = faiss.SearchParametersIVF(sel=sel, nprobe=int(sub.nprobe))
    else:
        params = faiss.SearchParameters(sel=sel)
    return index.search(queries, k, params=params)


def reconstruct(index, ids: np.ndarray) -> np.ndarray:
    """The stored vectors of ``ids`` (decoded, for quantised indexes)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    try:
        return index.reconstruct_batch(ids)
    except RuntimeError:
        return np.stack([index.reconstruct(int(i)) for i in ids]) if len(ids) else np.empty((0, index.d), np.float32)


def save(index, path: str | Path) -> None:
    _faiss().write_index(index, str(path))


def load(path: str | Path):
    faiss = _faiss()
    path = Path(path)
    if not path.exists():
        raise IndexDamagedError(f"the vectors file {path} is missing: rebuild the index with `poetry-search index`")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        raise IndexDamagedError(f"{path} is not a readable FAISS index ({str(e).splitlines()[0][:120]}): rebuild the index with `poetry-search index`") from None
    return index


def memory_bytes(index) -> int:
    """Approximate bytes the index holds, from FAISS's own serialisation."""
    faiss = _faiss()
    return int(faiss.serialize_index(index).size)
