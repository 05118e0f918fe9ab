"""Near matches: the lines one edit from a query: one character replaced, left out or added.

A reader's other edition of a line (远近高低各不同 where the corpus has 远近高低总不同, 生当作人杰
/ 为人杰) is one character off, and no exact or containing line answers it. Two lines of length
L that differ in one position agree exactly on their first half or on their second half (the
mismatch is in one of them), so each line is filed under two keys, a hash of (L, which half,
the half's characters); a query looks up its own two keys (two binary searches) and compares the
few lines filed there with it, character by character, as small integer arrays. No scan.
The same keys find the lines one character longer or shorter (a character left out or added:
宋词三百首's 约略轻笑浅 for 全宋词's 约略嚬轻笑浅): the edit falls in one half of the longer text, so
the other half is filed as it stands, at its end-aligned place in the query.

Characters are stored as ids of a dense alphabet (uint16 while the corpus has fewer than 65,536
distinct characters), one matrix per line length, so a comparison is one numpy expression.
Lines shorter than ``MIN_LENGTH`` are not filed (a one-character change of a four-character line
is most often another line, not another edition). Matching is done on the variant key
(corpus/variants.match_key) when the caller passes keys, as lexical matching does.

``NearIndex.build(texts)`` → ``save(path)`` (one uncompressed .npz) → ``NearIndex.load(path)``
→ ``near(query)``: the text ids, sorted; for a line that nothing is one edit from,
``transposed(query)``: the lines with two neighbouring characters swapped, and
``two_replaced(query)`` (seven characters or more): the lines two replacements away within one
half; ``left_out(query)`` answers a query of ``MIN_LENGTH - 1`` characters too, with the lines
that hold it with one character more (a four-character line whose edition lost a character).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

MIN_LENGTH = 5
# Lines this long may also be found two replacements away when nothing is one edit away: a word
# spelled otherwise in another edition (瑟瑟 / 索索, 栏杆 / 闌干, 徘徊 / 裴回). Both replacements
# must fall in one half, so that the other half is filed as it stands.
TWO_MIN_LENGTH = 7
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multipliers: a polynomial hash that wraps
_SIDE = (np.uint64(0x632BE59BD9B4E019), np.uint64(0x85EBCA77C2B2AE63))


def _hash(block: np.ndarray, length: int, side: int) -> np.ndarray:
    """One 64-bit hash per row of ``block`` (character ids), salted by length and side."""
    with np.errstate(over="ignore"):
        h = np.full(block.shape[0], np.uint64(length) * _SIDE[side], np.uint64)
        for j in range(block.shape[1]):
            h = (h ^ block[:, j].astype(np.uint64)) * _MULT
            h ^= h >> np.uint64(29)
    return h


class NearIndex:
    """Lines by length, as character-id matrices, with their two half keys sorted."""

    def __init__(self, alphabet: dict[str, int], tables: dict[int, dict[str, np.ndarray]]):
        self.alphabet = alphabet
        self.tables = tables

    @classmethod
    def build(cls, texts: Sequence[str], min_length: int = MIN_LENGTH) -> "NearIndex":
        """File every text of ``min_length`` characters or more; a text's id is its index."""
        lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
        keep = np.flatnonzero(lengths >= min_length)
        joined = "".join(texts[i] for i in keep)
        codes = np.frombuffer(joined.encode("utf-32-le"), np.uint32)
        chars, ids = np.unique(codes, return_inverse=True)
        dtype = np.uint16 if chars.size < 65535 else np.uint32
        ids = ids.astype(dtype)
        alphabet = {chr(int(c)): i for i, c in enumerate(chars)}
        starts = np.concatenate([[0], np.cumsum(lengths[keep])])
        tables: dict[int, dict[str, np.ndarray]] = {}
        kl = lengths[keep]
        for L in np.unique(kl).tolist():
            rows = np.flatnonzero(kl == L)
            offs = starts[rows][:, None] + np.arange(L)[None, :]
            mat = ids[offs]
            h = L // 2
            t = {"ids": keep[rows].astype(np.uint32), "chars": mat}
            for side, block in ((0, mat[:, :h]), (1, mat[:, h:])):
                key = _hash(block, L, side)
                order = np.argsort(key, kind="stable")
                t[f"key{side}"], t[f"row{side}"] = key[order], order.astype(np.uint32)
            tables[int(L)] = t
        return cls(alphabet, tables)

    def save(self, path: str | Path) -> None:
        arrays = {"alphabet": np.array([ord(c) for c in self.alphabet], np.uint32)}
        for L, t in self.tables.items():
            for name, a in t.items():
                arrays[f"{L}.{name}"] = a
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "NearIndex":
        with np.load(path) as z:
            alphabet = {chr(int(c)): i for i, c in enumerate(z["alphabet"])}
            tables: dict[int, dict[str, np.ndarray]] = {}
            for name in z.files:
                if name != "alphabet":
                    L, field = name.split(".")
                    tables.setdefault(int(L), {})[field] = z[name]
        return cls(alphabet, tables)

    def nbytes(self) -> int:
        return sum(a.nbytes for t in self.tables.values() for a in t.values())

    def near(self, query: str, indels: bool = True) -> np.ndarray:
        """Sorted ids of the filed texts one edit from ``query``: one character replaced (same
        length), and with ``indels`` one character left out of the query or one too many in it."""
        missing = len(self.alphabet)  # an id no filed character has: it never compares equal
        q = np.array([self.alphabet.get(c, missing) for c in query], np.int64)
        found = [self._replaced(q, missing, 1)]
        if indels:
            found += [self._longer(q, missing), self._shorter(q, missing)]
        return np.unique(np.concatenate(found)).astype(np.int64)

    def _candidates(self, L: int, blocks: Sequence[tuple[int, np.ndarray]], missing: int):
        """Rows of length-``L`` lines filed under any of ``blocks`` (side, its characters)."""
        t = self.tables.get(L)
        if t is None:
            return None, np.empty(0, np.int64)
        rows = []
        for side, block in blocks:
            if (block == missing).any():
                continue
            key = _hash(block[None, :].astype(t["chars"].dtype), L, side)[0]
            keys = t[f"key{side}"]
            lo, hi = np.searchsorted(keys, key, "left"), np.searchsorted(keys, key, "right")
            rows.append(t[f"row{side}"][lo:hi])
        return t, (np.unique(np.concatenate(rows)) if rows else np.empty(0, np.int64))

    def two_replaced(self, query: str) -> np.ndarray:
        """Sorted ids of the filed texts of the query's length (``TWO_MIN_LENGTH`` or more) that
        differ from it in exactly two positions, both in its first half or both in its second."""
        if len(query) < TWO_MIN_LENGTH:
            return np.empty(0, np.int64)
        missing = len(self.alphabet)
        q = np.array([self.alphabet.get(c, missing) for c in query], np.int64)
        return np.unique(self._replaced(q, missing, 2))

    def transposed(self, query: str) -> np.ndarray:
        """Sorted ids of the filed texts that are the query with two neighbouring characters
        swapped (边秋一雁声 / 秋边一雁声): each swap is looked up as an exact line, so a swap
        across the halves is found too."""
        missing = len(self.alphabet)
        q = np.array([self.alphabet.get(c, missing) for c in query], np.int64)
        if q.size < MIN_LENGTH or (q == missing).any():
            return np.empty(0, np.int64)
        found = []
        for i in range(q.size - 1):
            if q[i] != q[i + 1]:
                s = q.copy()
                s[i], s[i + 1] = q[i + 1], q[i]
                found.append(self._replaced(s, missing, 0))
        return np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)

    def left_out(self, query: str) -> np.ndarray:
        """Sorted ids of the filed texts that give the query with one character left out, for a
        query one character shorter than ``MIN_LENGTH`` too (宋词三百首's 香西风雨 for 香噀西风雨):
        only lines one character longer than the query are looked up, never its replacements."""
        missing = len(self.alphabet)
        q = np.array([self.alphabet.get(c, missing) for c in query], np.int64)
        if q.size < MIN_LENGTH - 1:
            return np.empty(0, np.int64)
        return np.unique(self._longer(q, missing))

    def _replaced(self, q: np.ndarray, missing: int, edits: int) -> np.ndarray:
        """Lines of the query's length that differ from it in exactly ``edits`` positions (all
        in one half: the other is the key they are filed under)."""
        L, h = q.size, q.size // 2
        if int((q == missing).sum()) > edits:
            return np.empty(0, np.int64)
        t, cand = self._candidates(L, ((0, q[:h]), (1, q[h:])), missing)
        if not cand.size:
            return np.empty(0, np.int64)
        diff = (t["chars"][cand].astype(np.int64) != q[None, :]).sum(axis=1)
        return t["ids"][cand[diff == edits]].astype(np.int64)

    def _longer(self, q: np.ndarray, missing: int) -> np.ndarray:
        """Lines one character longer than the query that give it with one character left out.
        The left-out position is in the line's second half (its first half equals the query's
        start) or in its first half (its second half equals the query's end)."""
        n = q.size
        L, h = n + 1, (n + 1) // 2
        if (q == missing).any():
            return np.empty(0, np.int64)
        t, cand = self._candidates(L, ((0, q[:h]), (1, q[h - 1:])), missing)
        if not cand.size:
            return np.empty(0, np.int64)
        chars = t["chars"][cand].astype(np.int64)
        return t["ids"][cand[_joins(chars[:, :n] == q, chars[:, 1:] == q, n)]].astype(np.int64)

    def _shorter(self, q: np.ndarray, missing: int) -> np.ndarray:
        """Lines one character shorter than the query: the query with one character left out."""
        n = q.size
        L, h = n - 1, (n - 1) // 2
        if L < 1 or int((q == missing).sum()) > 1:
            return np.empty(0, np.int64)
        t, cand = self._candidates(L, ((0, q[:h]), (1, q[h + 1:])), missing)
        if not cand.size:
            return np.empty(0, np.int64)
        chars = t["chars"][cand].astype(np.int64)
        return t["ids"][cand[_joins(chars == q[:L], chars == q[1:], L)]].astype(np.int64)


def _joins(head: np.ndarray, tail: np.ndarray, n: int) -> np.ndarray:
    """Rows where a common prefix (``head``: position-wise equality from the start) and a common
    suffix (``tail``: equality aligned at the end) cover ``n`` positions between them, i.e. the two
    texts are one insertion apart."""
    a = np.where(head.all(axis=1), n, head.argmin(axis=1))
    b = np.where(tail.all(axis=1), n, tail[:, ::-1].argmin(axis=1))
    return a + b >= n
