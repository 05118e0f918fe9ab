"""The embedding cache: nothing is encoded twice.

One SQLite file per encoder configuration (model fingerprint, precision, pooling, normalisation
version, max length, dimension), so a key never mixes models; inside it, ``text → vector``.
It lives outside any index (``$POETRY_SEARCH_CACHE``, ``--cache``, else the user cache folder), so it
outlives rebuilds, other index types, and added collections. Writes are committed in chunks as
encoding goes; SQLite's journal makes a ``kill -9`` lose at most the chunk in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import BuildError
from .normalize import NORMALIZE_VERSION


def default_cache_dir() -> Path:
    env = os.environ.get("POETRY_SEARCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "poetry-search"


def cache_key(encoder_description: dict) -> dict:
    """The parts of an encoder's description that decide its vectors."""
    return {
        "model_fingerprint": encoder_description["model_fingerprint"],
        "precision": encoder_description["precision"],
        "pooling": encoder_description["pooling"],
        "normalize_version": NORMALIZE_VERSION,
        "max_seq_length": encoder_description["max_seq_length"],
        "dimension": encoder_description["dimension"],
    }


class EmbeddingCache:
    """text → float32 vector, for one encoder configuration."""

    def __init__(self, directory: str | Path | None, key: dict):
        self.key = key
        self.dimension = int(key["dimension"])
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        self.directory = Path(directory) if directory else default_cache_dir()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path = self.directory / f"vectors-{digest}.sqlite"
            self.conn = sqlite3.connect(str(self.path), timeout=60)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("CREATE TABLE IF NOT EXISTS vectors (text TEXT PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID")
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('key', ?)", (json.dumps(key, sort_keys=True),))
            self.conn.commit()
        except (OSError, sqlite3.Error) as e:
            raise BuildError(f"cannot use the embedding cache at {self.directory} ({e}): pass --cache DIR or set POETRY_SEARCH_CACHE") from None

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, vectors) for ``texts``; rows not found are zero."""
        found = np.zeros(len(texts), dtype=bool)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        position = {t: i for i, t in enumerate(texts)}
        for s in range(0, len(texts), 900):
            chunk = texts[s:s + 900]
            rows = self.conn.execute(
                f"SELECT text, vector FROM vectors WHERE text IN ({','.join('?' * len(chunk))})", list(chunk))
            for text, blob in rows:
                i = position[text]
                v = np.frombuffer(blob, dtype=np.float32)
                if v.size == self.dimension:
                    vectors[i] = v
                    found[i] = True
        return found, vectors

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors and commit, so they survive whatever happens next."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        try:
            self.conn.executemany("INSERT OR REPLACE INTO vectors (text, vector) VALUES (?, ?)",
                                  ((t, vectors[i].tobytes()) for i, t in enumerate(texts)))
            self.conn.commit()
        except sqlite3.Error as e:
            raise BuildError(f"cannot write the embedding cache {self.path} ({e}): free disk space or pass --cache DIR") from None

    def __len__(self) -> int:
        return self.conn.execute("SELECT count(*) FROM vectors").fetchone()[0]

    def close(self) -> None:
        self.conn.close()
