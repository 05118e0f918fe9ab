"""Queries to vectors, the same way for search, similarity and bulk neighbours."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..corpus.normalize import Normalizer
from ..corpus.textin import check_visible, quote, read_text
from ..errors import UsageProblem
from ..options import MAX_QUERY_CHARS
from ..store.vectors import cosines

if TYPE_CHECKING:
    from ..encode.encoder import Encoder

log = logging.getLogger("poetry_search")


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
            raise UsageProblem("the query is empty: pass a line of poetry, e.g. poetry-search query 大梦谁先觉", code="empty_query")
        text = check_visible(read_text(text, what="the query"))
        if len(text) > MAX_QUERY_CHARS:
            raise UsageProblem(f"the query {quote(text)} is {len(text):,} characters long: at most {MAX_QUERY_CHARS} are "
                               "searched (a line, a couplet or a short poem)", code="text_too_long")
        normed = self.normalizer.text(text)
        if not normed:
            raise UsageProblem(f"the query {quote(text)} has nothing to search once punctuation is removed: pass some characters",
                               code="empty_query")
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
        return cosines(v, v)
