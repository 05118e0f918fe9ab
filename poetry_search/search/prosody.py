"""Search by 平仄 and 韵 over the tones and rhymes the build stored (``build.prosody``), the rhyme
book, and the 格律 check of a text.

A tones pattern is matched against the whole line, one mark a character: 平 matches a 平 or a
中 (a character of both readings), 仄 a 仄 or a 中, 中 any known tone, ``?`` any one character,
``*`` any run. ``rhyme`` is a 平水韵 group (七阳, 下平七阳, 七陽): the line ends in one of its
characters; ``rhymes_with`` a character: the line ends in a character sharing a group with it.

The stored tone codes are read once into one matrix per line length, so a pattern is a few
vectorised comparisons over the lines of the lengths it can match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..corpus.textin import check_visible, fold_invisible, quote
from ..errors import IndexDamagedError, UsageProblem
from ..options import MAX_CHECK_CHARS, MAX_QUERY_CHARS, TONE_PATTERN_MARKS
from ..prosody import meter, rhymes
from ..prosody.rhymes import BOTH, PING, ZE

_ONE, _ANY = "?", "*"
_SYNONYMS = {"？": _ONE, "＊": _ANY, "○": BOTH, "◎": BOTH}
# A stored code k (0 ？, 1 平, 2 仄, 3 中) is packed as the bit 1 << k, four bits a character; each
# pattern mark accepts a set of those bits.
_ACCEPTS = {PING: 0b1010, ZE: 0b1100, BOTH: 0b1110, _ONE: 0b1111}
WORD_CHARS = 16  # characters packed into one uint64 word
_FULL = (1 << 64) - 1
_LOW = _FULL // 0b1111  # the low bit of every character's four: 0x1111…1


@dataclass(frozen=True)
class TonePattern:
    """A parsed tones pattern: the runs between ``*``, matched at the line's start (the first)
    and end (the last) unless the pattern starts or ends with ``*``."""

    raw: str
    segments: tuple[str, ...]
    anchored_start: bool
    anchored_end: bool

    @property
    def min_length(self) -> int:
        return sum(len(s) for s in self.segments)


def parse_tones(raw: str) -> TonePattern:
    """Parse a tones pattern such as 平平仄仄平, '?平??平' or '*仄平' (see the module's docstring)."""
    if raw is None or not raw.strip():
        raise UsageProblem("the tones pattern is empty: pass marks such as 平平仄仄平 (平, 仄, 中 either, "
                           "? one character, * any run)", code="bad_tones")
    if len(raw) > MAX_QUERY_CHARS:
        raise UsageProblem(f"the tones pattern is {len(raw)} characters long: the limit is {MAX_QUERY_CHARS}", code="bad_tones")
    s = "".join(_SYNONYMS.get(c, c) for c in raw.strip() if not c.isspace())
    bad = sorted({c for c in s if c not in TONE_PATTERN_MARKS and c not in (_ONE, _ANY)}, key=s.index)
    if bad:
        raise UsageProblem(f"the tones pattern {quote(raw)} holds {''.join(bad)}: use only 平, 仄, 中 (either), "
                           "? (one character) and * (any run)", code="bad_tones")
    if not any(c in TONE_PATTERN_MARKS for c in s):
        raise UsageProblem(f"the tones pattern {quote(raw)} has no 平, 仄 or 中: add at least one "
                           "(wildcards alone would list every line)", code="bad_tones")
    parts = s.split(_ANY)
    return TonePattern(raw, tuple(parts), not s.startswith(_ANY), not s.endswith(_ANY))


class _Block:
    """The lines of one length: their ids and their marks packed into uint64 words, one bit of
    four set a character, so that a pattern placed anywhere on the line is one ``words & ~mask``
    test a word."""

    def __init__(self, ids: np.ndarray, codes: np.ndarray):
        n, self.length = codes.shape
        self.ids = ids
        # (lines, length) stored codes of lines longer than a word, for runs placed anywhere between '*'
        self.codes = codes if self.length > WORD_CHARS else None
        self.words = np.zeros(((self.length + WORD_CHARS - 1) // WORD_CHARS, n), np.uint64)
        for p in range(self.length):
            bit = np.left_shift(np.uint64(1), codes[:, p].astype(np.uint64))
            self.words[p // WORD_CHARS] |= np.left_shift(bit, np.uint64(4 * (p % WORD_CHARS)))

    def fits(self, placed: Sequence[tuple[int, str]], words: np.ndarray | None = None) -> np.ndarray:
        """Which lines (of ``words``, a subset of the block's rows; default all) match every
        segment at its start: ``(start, seg)``."""
        words = self.words if words is None else words
        masks = [_FULL] * len(words)
        for start, seg in placed:
            for j, c in enumerate(seg):
                w, shift = divmod(start + j, WORD_CHARS)
                masks[w] = masks[w] & ~(0b1111 << 4 * shift) | _ACCEPTS[c] << 4 * shift
        ok = np.ones(words.shape[1], bool)
        for w, mask in enumerate(masks):
            if mask != _FULL:
                ok &= (words[w] & np.uint64(~mask & _FULL)) == 0
        return ok

    def match(self, pat: TonePattern) -> np.ndarray:
        """Which lines ``pat`` matches as a whole (the caller has checked the length fits)."""
        segs = pat.segments
        if len(segs) == 1:
            return self.fits([(0, segs[0])])
        first, last, middle = segs[0], segs[-1], [s for s in segs[1:-1] if s]
        end = self.length - len(last)
        ok = self.fits([(0, first), (end, last)])
        if not middle:
            return ok
        rows = np.flatnonzero(ok)
        lo = len(first)
        if sum(len(s) for s in middle) > end - lo:
            return np.zeros(ok.size, bool)
        if self.length <= WORD_CHARS:
            rows = self._place_in_word(rows, lo, end, middle)
        else:
            rows = self._place(rows, lo, end, middle)
        out = np.zeros(ok.size, bool)
        out[rows] = True
        return out

    def _place_in_word(self, rows: np.ndarray, lo: int, end: int, middle: Sequence[str]) -> np.ndarray:
        """``_place`` for lines of one word: a run is tested at every start at once, a few
        operations on the word per character of the run (a start's flag is the low bit of its
        four)."""
        word = self.words[0][rows]
        start = np.full(rows.size, lo, np.int64)  # where the next run may start
        for n, seg in enumerate(middle):
            m = len(seg)
            flags = np.full(rows.size, _LOW, np.uint64)
            for j, c in enumerate(seg):
                if c != _ONE:
                    x = np.right_shift(word, np.uint64(4 * j)) & np.uint64(_ACCEPTS[c] * _LOW & _FULL)
                    flags &= (x | x >> np.uint64(1) | x >> np.uint64(2) | x >> np.uint64(3)) & np.uint64(_LOW)
            last = end - m  # the last start that leaves the run before the anchored end
            flags &= np.uint64(_LOW & ((1 << 4 * (last + 1)) - 1))
            flags &= ~(np.left_shift(np.uint64(1), (4 * np.minimum(start, WORD_CHARS - 1)).astype(np.uint64)) - np.uint64(1))
            found = (flags != 0) & (start <= last)
            if n + 1 < len(middle):  # the leftmost start found: the lowest flag
                low = flags[found] & (~flags[found] + np.uint64(1))
                start = np.log2(low.astype(np.float64)).astype(np.int64) // 4 + m
            rows, word = rows[found], word[found]
        return rows

    def _place(self, rows: np.ndarray, lo: int, end: int, middle: Sequence[str]) -> np.ndarray:
        """Which of ``rows`` hold the ``middle`` runs in order between ``lo`` and ``end``."""
        # the stretch between the anchored runs, one bit a code (1 << code), of the lines still in
        bits = np.left_shift(np.uint8(1), self.codes[rows, lo:end])
        cur = np.zeros(rows.size, np.int64)  # where the next run may start, from lo
        # leftmost-first placement of each middle run is exact for '*'-separated globs
        for seg in middle:
            m = len(seg)
            width = bits.shape[1] - m + 1
            if width <= 0:
                return rows[:0]
            # placed[r, q]: the run fits line r at q (one comparison per character of the run)
            placed = np.ones((rows.size, width), bool)
            for j, c in enumerate(seg):
                if c != _ONE:
                    placed &= (bits[:, j:j + width] & np.uint8(_ACCEPTS[c])) != 0
            placed &= np.arange(width)[None, :] >= cur[:, None]
            found = placed.any(axis=1)
            cur = placed.argmax(axis=1) + m
            rows, cur, bits = rows[found], cur[found], bits[found]
        return rows


class ProsodySearch:
    """Lines by tones and rhyme over one store's ``prosody_arrays`` (read on first use)."""

    def __init__(self, store):
        self.store = store
        self._loaded = False

    def require(self) -> None:
        """Refuse an index built before tones and rhymes, saying to rebuild it."""
        if not self.store.has_prosody:
            raise IndexDamagedError(f"the index at {self.store.path.parent} was built before tones and rhymes existed: "
                                    "rebuild it with `poetry-search index` to search by --tones, --rhyme or --rhymes-with")

    def _load(self) -> None:
        if self._loaded:
            return
        self.require()
        arrays = {name: np.frombuffer(data, dtype=dtype) for name, (dtype, data) in self.store.prosody_arrays().items()}
        try:
            codes, lengths = arrays["tones"], arrays["tone_lengths"].astype(np.int64)
            counts, groups = arrays["rhyme_counts"].astype(np.int64), arrays["rhyme_groups"]
        except KeyError as e:
            raise IndexDamagedError(f"the index at {self.store.path.parent} lacks its {e.args[0]} array: rebuild it "
                                    "with `poetry-search index`") from None
        if lengths.sum() != codes.size or counts.sum() != groups.size or counts.size != lengths.size:
            raise IndexDamagedError(f"the tone arrays of the index at {self.store.path.parent} disagree in size: "
                                    "rebuild it with `poetry-search index`")
        self.size = int(lengths.size)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if lengths.size else lengths
        self.blocks: list[_Block] = []
        order = np.argsort(lengths, kind="stable")
        for ids in np.split(order, np.flatnonzero(np.diff(lengths[order])) + 1) if order.size else []:
            length = int(lengths[ids[0]])
            self.blocks.append(_Block(ids, codes[starts[ids][:, None] + np.arange(length)[None, :]]))
        self.rhyme_groups = groups
        self.rhyme_owner = np.repeat(np.arange(self.size, dtype=np.int64), counts)
        self._loaded = True

    def _tones(self, pat: TonePattern) -> np.ndarray:
        out = np.zeros(self.size, bool)
        for b in self.blocks:
            if b.length == pat.min_length or (len(pat.segments) > 1 and b.length > pat.min_length):
                out[b.ids[b.match(pat)]] = True
        return out

    def _rhyme(self, numbers: Sequence[int]) -> np.ndarray:
        out = np.zeros(self.size, bool)
        out[self.rhyme_owner[np.isin(self.rhyme_groups, np.asarray(list(numbers), dtype=self.rhyme_groups.dtype))]] = True
        return out

    def tones(self, pattern: str | TonePattern) -> np.ndarray:
        """Sorted ids of the lines whose tone string the pattern matches."""
        pat = parse_tones(pattern) if isinstance(pattern, str) else pattern
        self._load()
        return np.flatnonzero(self._tones(pat))

    def rhyme(self, numbers: Sequence[int]) -> np.ndarray:
        """Sorted ids of the lines ending in a character of one of the groups ``numbers`` (1..106)."""
        self._load()
        return np.flatnonzero(self._rhyme(numbers))

    def match(self, tones: str | None = None, rhyme: str | None = None, rhymes_with: str | None = None) -> np.ndarray:
        """Sorted ids of the lines meeting every constraint given (see the module's docstring)."""
        # every argument is checked before the arrays are read
        pat = parse_tones(tones) if tones is not None else None
        groups = [rhyme_group(rhyme).number] if rhyme is not None else None
        near = [g.number for g in rhymes_of(rhymes_with)] if rhymes_with is not None else None
        if pat is None and groups is None and near is None:
            raise UsageProblem("nothing to match: pass tones, rhyme or rhymes_with")
        self._load()
        out = None
        for part in (self._tones(pat) if pat is not None else None, self._rhyme(groups) if groups else None,
                     self._rhyme(near) if near else None):
            if part is not None:
                out = part if out is None else out & part
        return np.flatnonzero(out)


def rhyme_group(name: str) -> rhymes.Group:
    """A 平水韵 group by name (七阳, 七陽, 下平七阳) or number, or a UsageProblem saying how to name one."""
    if name is None or not str(name).strip():
        raise UsageProblem("the rhyme group is empty: pass a 平水韵 group such as 七阳 or 下平七阳", code="unknown_rhyme")
    try:
        return rhymes.group(int(name) if str(name).strip().isdigit() else str(name).strip())
    except UsageProblem as e:
        raise UsageProblem(str(e), code="unknown_rhyme") from None


def one_char(char: str, what: str) -> str:
    """``char`` stripped, which must be one Chinese character."""
    c = (char or "").strip()
    if not c:
        raise UsageProblem(f"{what} takes one character, got nothing: pass e.g. 霜", code="bad_char")
    if len(c) != 1:
        raise UsageProblem(f"{what} takes one character, got {quote(char or '')}: pass e.g. 霜", code="bad_char")
    if not rhymes._is_han(c):
        raise UsageProblem(f"{what} takes a Chinese character, got {quote(c)}: pass e.g. 霜", code="bad_char")
    return c


def rhymes_of(char: str) -> tuple[rhymes.Group, ...]:
    """The groups of one character (variant-aware), or a UsageProblem when the table lacks it."""
    c = one_char(char, "--rhymes-with (rhymes_with)")
    groups = rhymes.readings(c)
    if not groups:
        raise UsageProblem(f"{c} is not in the 平水韵 table: pass a character of the same rhyme, or --rhyme GROUP",
                           code="unknown_char")
    return groups


# -- the rhyme book ------------------------------------------------------------------------------


@dataclass
class RhymeGroup:
    """One group of a character, with its characters, most used first: ``(char, lines)``, lines
    being the corpus's lines ending in that character (0 for those it never ends a line with)."""

    number: int
    name: str
    full_name: str
    tone: str
    characters: list[tuple[str, int]]


@dataclass
class RhymeBook:
    """``Index.rhyme``: a character, the form the table lists it under, and its groups."""

    char: str
    form: str
    groups: list[RhymeGroup]

    def to_dict(self) -> dict:
        d = asdict(self)
        for g in d["groups"]:
            g["characters"] = [{"char": c, "lines": n} for c, n in g["characters"]]
        return d


def rhyme_book(char: str, counts, limit: int | None = None) -> RhymeBook:
    """The rhyme book entry of ``char``; ``counts(chars) -> {char: lines}`` gives the corpus's
    counts (``Store.rhyme_char_counts``); ``limit``: at most that many characters a group."""
    c = one_char(char, "rhyme")
    if limit is not None and limit < 0:
        raise UsageProblem(f"the limit must be 0 (every character) or more, got {limit}", code="bad_request")
    form, groups = rhymes.lookup(c)
    if not groups:
        raise UsageProblem(f"{c} is not in the 平水韵 table: try its traditional or simplified form", code="unknown_char")
    out = []
    for g in groups:
        members = rhymes.group_members(g.number)
        n = counts(list(members))
        # most used first; the table's own order among equals
        ranked = sorted(((m, n.get(m, 0)) for m in members), key=lambda mc: -mc[1])
        out.append(RhymeGroup(g.number, g.name, g.full_name, g.tone, ranked[:limit] if limit else ranked))
    return RhymeBook(c, form, out)


# -- the 格律 check --------------------------------------------------------------------------------


def check(text: str | Sequence[str], strict: bool = False) -> meter.Verdict:
    """Judge a 五绝, 七绝, 五律 or 七律 (one string, or its lines) with ``prosody.meter.check``;
    invisible characters are folded first, and an empty or oversized text is refused."""
    lines = [text] if isinstance(text, str) else list(text)
    if not lines:
        raise UsageProblem("nothing to check: pass a poem, e.g. 白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
                           code="empty_query")
    joined = "\n".join(lines)
    check_visible(joined, "the poem")
    if len(joined) > MAX_CHECK_CHARS:
        raise UsageProblem(f"the poem is {len(joined)} characters long: a 律诗 has 56 at most; the limit is "
                           f"{MAX_CHECK_CHARS}", code="text_too_long")
    folded = [fold_invisible(s) for s in lines]
    if not any(meter.split_lines(s) for s in folded):
        raise UsageProblem("nothing to check: the text has no Chinese characters; pass a poem, e.g. "
                           "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", code="empty_query")
    return meter.check(folded, strict=strict)


__all__ = [
    "ProsodySearch",
    "RhymeBook",
    "RhymeGroup",
    "TonePattern",
    "check",
    "parse_tones",
    "rhyme_book",
    "rhyme_group",
    "rhymes_of",
]
