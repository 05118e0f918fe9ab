"""``query``'s modes over one batch of normalised queries: hybrid (lines containing the query
first; when none, the paragraphs holding it across their punctuation, else the lines one
character off; then the nearest by meaning), semantic, lexical; sorted by score or popularity,
as lines or grouped by poem (every poem that holds a line, most citable first)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .filters import Filters
from .lexical import LexicalSearch
from .results import Results
from .semantic import SemanticSearch


class ModeSearch:
    """The modes of ``query``, over the semantic and lexical parts of one index."""

    def __init__(self, semantic: SemanticSearch | None, lexical: LexicalSearch, results: Results, n_lines: int):
        self.semantic = semantic  # None for an index without vectors
        self.lexical = lexical
        self.results = results
        self.n_lines = n_lines

    def search(self, normed: Sequence[str], q: np.ndarray | None, k: int, mode: str, filters: Filters,
               allowed: np.ndarray | None, sort: str, poems: bool) -> list[list]:
        """k hits (or k ``PoemHit``s) for each normalised query; ``q`` their vectors (None without)."""
        out = []
        for i, text in enumerate(normed):
            qi = q[i:i + 1] if q is not None else None
            depth = k * 4 if poems else k
            while True:
                ranked, scopes = self.ranked(text, qi, depth, mode, filters, allowed)
                hits = self.results.scoped(ranked, filters, scopes)
                if sort == "popularity":
                    hits.sort(key=lambda h: -1.0 if h.popularity is None else -h.popularity)
                if not poems:
                    break
                grouped = self.results.group(hits, k, filters)
                if len(grouped) >= k or len(ranked) < depth or depth >= self.n_lines:
                    break
                depth *= 4
            out.append(grouped if poems else self.results.rerank(hits, k))
        return out

    def ranked(self, text: str, q: np.ndarray | None, depth: int, mode: str, filters: Filters,
               allowed: np.ndarray | None) -> tuple[list[tuple[int, float | None, str]], dict[int, list[int]]]:
        """(id, score, match) of the first ``depth`` results of one query, and the poem rowids a
        paragraph hit names. Every score comes from the vectors' one scoring step (exact,
        clipped), lexical hits' included."""
        out: list[tuple[int, float | None, str]] = []
        scopes: dict[int, list[int]] = {}
        if mode in ("hybrid", "lexical"):
            ids, exact = self.lexical.containing(text, filters, limit=depth)
            matches = ["exact" if e else "contains" for e in exact]
            if not ids.size and mode == "hybrid":
                found, scopes = self.lexical.fallback(text, filters, limit=depth)
                ids, matches = np.array([i for i, _ in found], dtype=np.int64), [m for _, m in found]
            scores = self.semantic.vectors.score(q[0], ids).tolist() if q is not None and ids.size else [None] * len(ids)
            out = [(int(i), None if s is None else float(s), m) for i, s, m in zip(ids, scores, matches)]
        if mode in ("hybrid", "semantic") and len(out) < depth:
            seen = {i for i, _, _ in out}
            scores, ids = self.semantic.nearest(q, depth + len(out), allowed)
            for s, i in zip(scores[0], ids[0]):
                if i >= 0 and int(i) not in seen and len(out) < depth:
                    out.append((int(i), float(s), "semantic"))
        return out, scopes
