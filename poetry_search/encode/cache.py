"""The embedding cache: nothing is encoded twice.

One folder per encoder configuration (model fingerprint, precision, pooling, normalisation
version, max length, dimension), so a key never mixes models. It lives outside any index
(``$POETRY_SEARCH_CACHE``, ``--cache``, else the user cache folder), so it outlives rebuilds, other
index types and added collections.

Inside, the cache is a set of immutable *segments*, one per commit: the vectors (``.npy``,
memory-mapped when read) and the 128-bit BLAKE2b hashes of their texts, sorted for binary search.
A segment is written under a temporary name and renamed into place when complete, so a ``kill -9``
loses at most the segment in flight and never leaves a half-written one. Writes are sequential:
a store of 3M lines writes about its own size, where a B-tree keyed by text rewrites a page per
random insert (31 GB of writes for a 600 MB cache, measured with SQLite).

Merging is bounded in writes and in memory, whatever the commit rate. Only *fresh* segments (as
committed) are merged: when there are more than ``MERGE_ABOVE`` of them they are streamed, a
slice at a time, into one *merged* segment, which is never merged again. So every vector is
written at most twice (≤ 2x the cache's final size in total); a merge holds the keys (16 bytes a
vector) and a 16 MB slice, not the whole cache as a concatenating merge would (9.5 GB, twice, for
bert-base over the whole corpus); and there are at most ``MERGE_ABOVE`` fresh segments plus one
merged segment per ``MERGE_ABOVE`` commits. A merged segment lists its sources: when a ``kill -9``
falls between its rename and the removal of the sources, the next open removes them (they only
hold copies of its vectors); a kill before the rename leaves the sources as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import files
from ..errors import BuildError

MERGE_ABOVE = 64  # fresh segments; above this many, they are streamed into one merged segment
MERGED_SUFFIX = "-merged"
SOURCES_NAME = "sources.json"
COPY_BYTES = 1 << 24  # a merge copies vectors 16 MB at a time


def default_cache_dir() -> Path:
    env = os.environ.get("POETRY_SEARCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "poetry-search"


def cache_key(encoder_description: dict) -> dict:
    """The parts of an encoder's description that decide its vectors. The text is the rest of the
    key: a change of normalisation encodes again only the lines whose embedded text changed."""
    return {
        "model_fingerprint": encoder_description["model_fingerprint"],
        "precision": encoder_description["precision"],
        "pooling": encoder_description["pooling"],
        "max_seq_length": encoder_description["max_seq_length"],
        "dimension": encoder_description["dimension"],
    }


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """(n, 2) uint64: the 128-bit BLAKE2b of each text (collisions: ~1e-26 for 3M texts)."""
    raw = b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts)
    return np.frombuffer(raw, dtype="<u8").reshape(-1, 2) if texts else np.empty((0, 2), "<u8")


class _Segment:
    def __init__(self, path: Path):
        self.path = path
        self.merged = path.name.endswith(MERGED_SUFFIX)
        keys = np.load(path / "keys.npy")
        self.order = np.argsort(keys[:, 0], kind="stable")
        self.k1 = keys[self.order, 0]
        self.k2 = keys[self.order, 1]
        n = len(self.vectors_map())
        if n != len(keys):
            raise ValueError(f"{path.name}: {len(keys)} keys but {n} vectors")

    def vectors_map(self) -> np.ndarray:
        """A fresh read-only map of the vectors. Callers drop it after use, so the pages a build
        reads do not stay mapped (and counted in its resident memory) for the rest of the build."""
        return np.load(self.path / "vectors.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.k1)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key: whether this segment holds it, and its row."""
        pos = np.searchsorted(self.k1, keys[:, 0])
        pos_c = np.minimum(pos, len(self.k1) - 1)
        hit = (pos < len(self.k1)) & (self.k1[pos_c] == keys[:, 0]) & (self.k2[pos_c] == keys[:, 1])
        return hit, self.order[pos_c]


class EmbeddingCache:
    """text → float32 vector, for one encoder configuration."""

    def __init__(self, directory: str | Path | None, key: dict):
        self.key = key
        self.dimension = int(key["dimension"])
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        root = Path(directory) if directory else default_cache_dir()
        self.path = root / f"vectors-{digest}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            meta = self.path / "key.json"
            if not meta.exists():
                meta.write_text(json.dumps(key, sort_keys=True, indent=1))
            self._clean_partials()
            self.segments = self._load_segments()
        except OSError as e:
            raise BuildError(f"cannot use the embedding cache at {root} ({e}): pass --cache DIR or set POETRY_SEARCH_CACHE") from None

    def _clean_partials(self) -> None:
        for p in self.path.glob("*.partial-*"):
            files.remove_if_orphaned(p)

    def _load_segments(self) -> list[_Segment]:
        names = sorted(p.name for p in self.path.glob("seg-*") if "partial" not in p.name and p.is_dir())
        # A merge killed after its rename but before removing its sources leaves copies: drop them.
        for name in names:
            if name.endswith(MERGED_SUFFIX):
                try:
                    sources = json.loads((self.path / name / SOURCES_NAME).read_text())
                except (OSError, ValueError):
                    continue  # unreadable: the segment itself is checked below
                for src in sources:
                    if src in names and src != name:
                        shutil.rmtree(self.path / src, ignore_errors=True)
        segments = []
        for name in names:
            p = self.path / name
            if not p.is_dir():
                continue
            try:
                segments.append(_Segment(p))
            except (OSError, ValueError):
                # a damaged segment only costs re-encoding its lines; it must not stop a build
                shutil.rmtree(p, ignore_errors=True)
        return segments

    def contains(self, texts: Sequence[str]) -> np.ndarray:
        """Which of ``texts`` have a vector (reads no vectors)."""
        found = np.zeros(len(texts), dtype=bool)
        if texts and self.segments:
            keys = text_hashes(texts)
            for seg in self.segments:
                found |= seg.find(keys)[0]
        return found

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, vectors) for ``texts``; rows not found are zero."""
        found = np.zeros(len(texts), dtype=bool)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts or not self.segments:
            return found, vectors
        keys = text_hashes(texts)
        for seg in reversed(self.segments):  # newest first
            todo = np.nonzero(~found)[0]
            if not todo.size:
                break
            hit, rows = seg.find(keys[todo])
            if hit.any():
                idx = todo[hit]
                r = rows[hit]
                order = np.argsort(r)  # sorted reads from the memory map
                mapped = seg.vectors_map()
                vectors[idx[order]] = mapped[r[order]]
                del mapped
                found[idx] = True
        return found, vectors

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Write one segment and rename it into place, so it survives whatever happens next."""
        if not len(texts):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        try:
            self._write_segment(text_hashes(texts), [vectors])
            fresh = [seg for seg in self.segments if not seg.merged]
            if len(fresh) > MERGE_ABOVE:
                self._merge(fresh)
        except OSError as e:
            raise BuildError(f"cannot write the embedding cache {self.path} ({e}): free disk space or pass --cache DIR") from None

    def _write_segment(self, keys: np.ndarray, parts: list, merged_from: list[str] | None = None) -> None:
        """Write ``keys`` and the rows of ``parts`` (arrays, or segments whose vectors are copied a
        slice at a time) as one segment, fsynced, then renamed into place."""
        name = f"seg-{time.time_ns():020d}" + (MERGED_SUFFIX if merged_from is not None else "")
        tmp = self.path / f"{name}.partial-{os.getpid()}"
        tmp.mkdir()
        with open(tmp / "keys.npy", "wb") as f:
            np.save(f, keys)
            files.fsync_file(f)
        with open(tmp / "vectors.npy", "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                     "fortran_order": False, "shape": (len(keys), self.dimension)})
            rows = max(1, COPY_BYTES // (4 * self.dimension))
            for part in parts:
                arr = part.vectors_map() if isinstance(part, _Segment) else part
                for start in range(0, len(arr), rows):
                    f.write(np.ascontiguousarray(arr[start:start + rows], dtype=np.float32).data)
                del arr  # unmapped before the next source: a merge holds one slice, not the cache
            files.fsync_file(f)
        if merged_from is not None:
            (tmp / SOURCES_NAME).write_text(json.dumps(merged_from))
        os.rename(tmp, self.path / name)
        files.fsync_dir(self.path)
        self.segments.append(_Segment(self.path / name))

    def _merge(self, fresh: list[_Segment]) -> None:
        """Stream the fresh segments into one merged segment, then remove them."""
        keys = np.concatenate([np.load(seg.path / "keys.npy") for seg in fresh])
        self._write_segment(keys, fresh, merged_from=[seg.path.name for seg in fresh])
        gone = {id(seg) for seg in fresh}
        self.segments = [seg for seg in self.segments if id(seg) not in gone]
        for seg in fresh:
            shutil.rmtree(seg.path, ignore_errors=True)

    def __len__(self) -> int:
        return sum(len(s) for s in self.segments)

    def close(self) -> None:
        self.segments = []


def cached_vector_count(directory: str | Path) -> int:
    """How many vectors the cache folder holds, over every configuration (complete segments only)."""
    total = 0
    for seg in Path(directory).glob("vectors-*/seg-*"):
        if "partial" not in seg.name:
            try:
                total += len(np.load(seg / "keys.npy", mmap_mode="r"))
            except (OSError, ValueError):
                pass
    return total
